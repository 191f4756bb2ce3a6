"""The mailbox as its partition sees it: layout, send / receive / refusals, bad input."""
import struct

import cbor2
import pytest

from ipc import MAX_PAYLOAD, IpcError, Mailbox, OutboxFull
from ipc.mailbox import (HEADER_SIZE, MAGIC, RINGS, SEQ_TABLE, SLOT_SIZE, Header, RingKind,
                         State)
from pipkernel.abi import PAGE_SIZE


def test_layout_fits_the_pages():
    assert struct.calcsize("<BBHHHIHBBB15x") == HEADER_SIZE == 32
    assert MAX_PAYLOAD == SLOT_SIZE - HEADER_SIZE == 480
    status, out, inbox = RINGS[RingKind.STATUS], RINGS[RingKind.OUTBOX], RINGS[RingKind.INBOX]
    assert status.offset + status.count * status.slot_size <= SEQ_TABLE
    assert SEQ_TABLE + 4 * 512 == PAGE_SIZE
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
    with pytest.raises(IpcError, match="no version-1 mailbox"):
        Mailbox(topo.api(node), node.outbox_va, node.inbox_va)


def test_empty_mailbox_has_nothing(topo):
    box = topo.mailbox("b1")
    assert box.receive() == [] and box.refusals() == []
