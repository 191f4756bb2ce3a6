"""The mailbox as its partition sees it: layout, send / receive / refusals, bad input."""
import struct

import cbor2
import pytest

from ipc_trees import count_errors

from pipsim.ipc import MAX_PAYLOAD, IpcError, Mailbox, OutboxFull, Policy, Relay
from pipsim.ipc.mailbox import (HEADER_SIZE, MAGIC, PENDING, RINGS, SEQ_TABLE, SLOT_SIZE, VERSION,
                         Header, Pending, RingKind, State)
from pipsim.kernel.abi import PAGE_SIZE


def test_layout_fits_the_pages():
    assert struct.calcsize("<BBHHHIHBBB15x") == HEADER_SIZE == 32
    assert MAX_PAYLOAD == SLOT_SIZE - HEADER_SIZE == 480
    status, out, inbox = RINGS[RingKind.STATUS], RINGS[RingKind.OUTBOX], RINGS[RingKind.INBOX]
    assert status.offset + status.count * status.slot_size <= SEQ_TABLE
    assert SEQ_TABLE + 4 * 512 == PAGE_SIZE
    assert 8 <= PENDING and PENDING + len(Pending) <= status.offset   # after magic, version, id
    assert out.offset == PAGE_SIZE and out.count * out.slot_size == PAGE_SIZE
    assert inbox.offset == 2 * PAGE_SIZE and inbox.count * inbox.slot_size == 2 * PAGE_SIZE


def test_send_writes_a_ready_slot_in_the_partitions_own_pages(topo):
    node = topo.node("a1")
    box = topo.mailbox("a1")
    assert box.me == node.id
    assert box.send("b11", {"t": 21}) == 1
    assert box.send("b11", {"t": 22}) == 2
    assert box.send(topo.node("a2").id, "x") == 1     # per-destination sequence numbers
    api = topo.api(node)
    assert int.from_bytes(api.read(node.outbox_va, 4), "little") == MAGIC
    first = api.read(node.outbox_va + PAGE_SIZE, SLOT_SIZE)
    h = Header.unpack(first)
    assert (h.state, h.kind, h.src, h.dst, h.seq) == (State.READY, 0, node.id,
                                                      topo.node("b11").id, 1)
    assert cbor2.loads(first[HEADER_SIZE:HEADER_SIZE + h.length]) == {"t": 21}


@pytest.mark.parametrize("dest, match", [("nobody", "unknown endpoint"), (0, "destination"),
                                         (512, "destination"), (1.5, "destination"),
                                         (None, "destination")])
def test_send_refuses_bad_destinations(topo, dest, match):
    with pytest.raises(IpcError, match=match):
        topo.mailbox("a").send(dest, 1)


def test_send_refuses_bad_payloads(topo):
    box = topo.mailbox("a")
    with pytest.raises(IpcError, match="not CBOR-encodable"):
        box.send("b", object())
    with pytest.raises(IpcError, match="a slot holds 480"):
        box.send("b", b"x" * MAX_PAYLOAD)
    assert box.send("b", b"x" * (MAX_PAYLOAD - 3)) == 1      # 2-byte head + 1-byte length


def test_full_outbox_raises_and_keeps_every_message(topo):
    box = topo.mailbox("a")
    seqs = [box.send("b", i) for i in range(RINGS[RingKind.OUTBOX].count)]
    with pytest.raises(OutboxFull):
        box.send("b", "one too many")
    assert seqs == list(range(1, 9))


def test_a_mailbox_needs_its_control_header(topo):
    node = topo.node("a")
    topo.api(node).write(node.outbox_va, bytes(4))
    with pytest.raises(IpcError, match=f"no version-{VERSION} mailbox"):
        Mailbox(topo.api(node), node.outbox_va, node.inbox_va)


def test_empty_mailbox_has_nothing(topo):
    box = topo.mailbox("b1")
    assert box.receive() == [] and box.refusals() == []


def test_pending_counts_follow_send_relay_receive_and_refusals(topo):
    """Each count is the number of READY slots it counts, at every stage."""
    a1, b11 = topo.mailbox("a1"), topo.mailbox("b11")
    a1.send("b11", 1)
    a1.send("b11", 2)
    a1.send(99, 3)                                  # nobody: refused back to a1
    assert list(a1.view.pending()) == [3, 0, 0, 0] and count_errors(topo) == {}
    assert not b11.waiting() and not a1.waiting()
    Relay(topo, Policy([("a1", "b11")])).run_until_idle()
    assert list(b11.view.pending()) == [0, 2, 0, 0] and list(a1.view.pending()) == [0, 0, 0, 1]
    assert count_errors(topo) == {}
    assert b11.waiting() and a1.waiting()
    assert [m.payload for m in b11.receive()] == [1, 2]
    assert [(r.dst, r.seq) for r in a1.refusals()] == [(99, 1)]
    assert not b11.waiting() and not a1.waiting()
    assert count_errors(topo) == {}


def test_receive_reads_the_inbox_only_when_its_count_says_so(topo):
    """A message the count does not show is not seen (the relay's full passes repair it)."""
    box = topo.mailbox("b1")
    topo.mailbox("b").send("b1", "hi")
    Relay(topo, Policy([("b", "b1")])).step()
    box.view.set_pending(Pending.MINE, 0)
    assert box.receive() == []
    box.view.set_pending(Pending.MINE, 1)
    assert [m.payload for m in box.receive()] == ["hi"]
    assert box.view.pending()[Pending.MINE] == 0


def test_counts_saturate_instead_of_wrapping(topo):
    box = topo.mailbox("a")
    box.view.set_pending(Pending.OUTBOX, 255)
    box.send("b", 1)
    assert box.view.pending()[Pending.OUTBOX] == 255
    assert topo.api(topo.node("a")).read(topo.node("a").outbox_va + PENDING, 1) == b"\xff"


def test_a_message_is_freed_only_once_its_handler_returns(topo):
    """handle() frees each slot after its handler: a handler that raises leaves that message
    and the later ones READY (counted), for the next call or for the relay to refuse."""
    box = topo.mailbox("b1")
    for i in range(4):
        topo.mailbox("b").send("b1", i)
    Relay(topo, Policy([("b", "b1")])).run_until_idle()
    seen = []

    def handler(message):
        seen.append(message.payload)
        if message.payload == 1:
            raise RuntimeError("handler bug")

    with pytest.raises(RuntimeError):
        box.handle(handler)
    assert seen == [0, 1] and count_errors(topo, exact=False) == {}
    assert box.view.pending()[Pending.MINE] >= 3
    assert box.handle(lambda message: seen.append(message.payload)) == 3
    assert seen == [0, 1, 1, 2, 3]
    assert count_errors(topo) == {} and box.receive() == []
