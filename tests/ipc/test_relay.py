"""The relay: delivery through the common ancestor, refusals with reasons, back-pressure,
crash recovery, and isolation of the mailbox pages."""
import itertools

import pytest
from cbor2 import CBORTag

from ipc_trees import TREE, count_errors
from lending import lend_mailbox

from pipsim.ipc import IpcError, Policy, Reason, Relay, Topology, setup_topology
from pipsim.ipc.mailbox import RINGS, Header, MailboxView, Pending, Ring, RingKind, State
from pipsim.kernel.types import MemoryFault

ALL = ["root", "a", "a1", "a11", "a2", "b", "b1", "b11"]


def everyone(max_size=None):
    return Policy([(s, d, max_size) for s in ALL for d in ALL if s != d])


@pytest.mark.parametrize("src, dst, copies", [("a1", "a2", 1), ("a1", "b1", 3),
                                              ("a11", "b11", 5), ("a", "a11", 2),
                                              ("b11", "root", 3), ("root", "b11", 3)])
def test_messages_travel_up_to_the_common_ancestor_and_down(topo, src, dst, copies):
    """Siblings: one copy by their parent; tree distance d through a common ancestor
    that is neither end: d - 1 copies (up the outboxes, across, down the inboxes)."""
    relay = Relay(topo, Policy([(src, dst)]))
    seq = topo.mailbox(src).send(dst, {"hello": src})
    stats = relay.step()                        # one pass carries it all the way
    assert stats == {"delivered": 1, "forwarded": copies - 1} if copies > 1 else {"delivered": 1}
    [msg] = topo.mailbox(dst).receive()
    assert (msg.src_name, msg.seq, msg.payload) == (src, seq, {"hello": src})
    assert topo.mailbox(src).refusals() == []
    assert topo.kernel.check_invariants() == []


@pytest.mark.parametrize("policy, sender, dst, payload, reason", [
    (Policy([("b11", "a11")]), "a11", "b11", 1, Reason.UNAUTHORISED),   # only the other way
    (Policy([("a11", "b11", 8)]), "a11", "b11", "x" * 8, Reason.OVERSIZED),  # 9 bytes > 8
    (Policy(), "a11", 99, 1, Reason.UNDELIVERABLE),                     # no such endpoint
    (Policy(), "a1", "a1", 1, Reason.UNDELIVERABLE),                    # itself
])
def test_refusals_come_back_to_the_sender_with_the_reason(topo, policy, sender, dst, payload,
                                                         reason):
    relay = Relay(topo, policy)
    seq = topo.mailbox(sender).send(dst, payload)
    relay.run_until_idle()
    [refusal] = topo.mailbox(sender).refusals()
    assert (refusal.reason, refusal.seq) == (reason, seq)
    assert all(topo.mailbox(n).receive() == [] for n in ALL)


def fill_inbox(topo, relay, sender, dst):
    for _ in range(2):
        for i in range(RINGS[RingKind.OUTBOX].count):
            topo.mailbox(sender).send(dst, i)
        relay.run_until_idle()


def test_a_refusal_deep_in_the_tree_travels_back_to_the_sender(topo):
    """b11's inbox stays full: the message from a11 waits at b1's relay, then is refused
    there and the refusal climbs back over the common ancestor to a11."""
    relay = Relay(topo, everyone(), max_attempts=3)
    a11 = topo.mailbox("a11")
    fill_inbox(topo, relay, "b", "b11")
    seq = a11.send("b11", "late")
    stats = relay.run_until_idle()
    assert stats["refused"] == 1 and stats["blocked"] == 3
    [refusal] = a11.refusals()
    assert (refusal.reason, refusal.dst_name, refusal.seq) == (Reason.INBOX_FULL, "b11", seq)
    assert len(topo.mailbox("b11").receive()) == 16
    assert count_errors(topo) == {}


def test_without_max_attempts_a_full_inbox_is_back_pressure(topo):
    relay = Relay(topo, everyone(), max_attempts=None)
    fill_inbox(topo, relay, "b", "b1")
    topo.mailbox("a").send("b1", "waits")
    assert relay.step() == {"forwarded": 1, "blocked": 1}   # up to the root, down to b
    for _ in range(5):
        assert relay.step() == {"blocked": 2}          # one attempt per sweep
        assert count_errors(topo) == {}
    assert len(topo.mailbox("b1").receive()) == 16
    relay.step()
    assert [m.payload for m in topo.mailbox("b1").receive()] == ["waits"]
    assert topo.mailbox("a").refusals() == []


def write_slot(view, kind, slot, header, payload=b""):
    view.ring(kind).put(slot, header, payload)


def send_raw(topo, src, dst, payload):
    a, b = topo.node(src), topo.node(dst)
    write_slot(topo.own_view(a), RingKind.OUTBOX, 0,
               Header(State.READY, 0, len(payload), a.id, b.id, 1), payload)
    Relay(topo, everyone()).run_until_idle()


@pytest.mark.parametrize("payload", [bytes.fromhex("a201010102"),     # {1: 1, 1: 2}
                                     bytes.fromhex("0100")])          # 1, then a byte more
def test_only_strict_cbor_is_delivered(topo, payload):
    send_raw(topo, "a1", "a2", payload)
    assert [(r.reason, r.seq) for r in topo.mailbox("a1").refusals()] == [(Reason.MALFORMED, 1)]
    assert topo.mailbox("a2").receive() == []


@pytest.mark.parametrize("payload, value", [
    ("d81c81d81d00", CBORTag(28, [CBORTag(29, 0)])),   # value sharing: cbor2 built a cycle
    ("c11a00000000", CBORTag(1, 0)),                   # a date cbor2 would have built
])
def test_a_tag_arrives_as_a_plain_tag(topo, payload, value):
    """No tag builds a value: a cyclic list once stopped the owner's manager that
    re-encoded it."""
    send_raw(topo, "a1", "a2", bytes.fromhex(payload))
    assert [m.payload for m in topo.mailbox("a2").receive()] == [value]


def test_forged_sources_and_refusals_are_refused_to_the_forger(topo):
    a1, b1 = topo.node("a1"), topo.node("b1")
    view = topo.own_view(a1)
    # a message claiming to come from b1, and a fake refusal for b1's message
    write_slot(view, RingKind.OUTBOX, 0, Header(State.READY, 0, 1, b1.id, topo.node("a2").id, 7),
               b"\x01")
    write_slot(view, RingKind.OUTBOX, 1, Header(State.READY, Reason.UNAUTHORISED, 1, b1.id,
                                                topo.node("root").id, 3))
    write_slot(view, RingKind.OUTBOX, 2, Header(State.READY, 0, 2, a1.id, b1.id, 1), b"\xff\xff")
    Relay(topo, everyone()).run_until_idle()
    reasons = sorted((r.reason, r.seq) for r in topo.mailbox("a1").refusals())
    assert reasons == [(Reason.MALFORMED, 1), (Reason.MALFORMED, 3), (Reason.MALFORMED, 7)]
    assert count_errors(topo) == {}          # the first pass counted the forged slots
    assert all(topo.mailbox(n).refusals() == [] and topo.mailbox(n).receive() == []
               for n in ALL if n != "a1")


def test_siblings_cannot_touch_each_others_mailbox(topo):
    k = topo.kernel
    a, b, a1 = topo.node("a"), topo.node("b"), topo.node("a1")
    api_b = topo.api(b)
    theirs = {k.mappings(k.root)[va].pa for va in a.parent_pages}
    assert theirs.isdisjoint(m.pa for m in k.mappings(b.partition).values())
    for va in a.parent_pages:        # the root's VAs of a's pages: b faults or sees its own
        pa = api_b.translate(va, "r")
        assert pa is None or pa & ~0xFFF not in theirs
    for va in range(b.outbox_va, b.outbox_va + 0x10000, 0x1000):
        if api_b.translate(va, "r") is None:
            with pytest.raises(MemoryFault):
                api_b.read(va, 1)
            with pytest.raises(MemoryFault):
                api_b.write(va, b"\0")
    # a child cannot reach its parent's mailbox either (the parent's VAs are not its own)
    with pytest.raises(MemoryFault):
        topo.api(a1).read(a.outbox_va + 0x100000, 1)
    # a parent sees its child's mailbox through its own VAs of the same pages
    assert MailboxView(topo.api(a), a1.parent_pages).endpoint() == a1.id


class Crash(Exception):
    pass


def before_each_write(monkeypatch, before) -> None:
    """Call before(n) ahead of every mailbox write n = 1, 2, ... (it may raise) until
    monkeypatch.undo()."""
    real_write, count = MailboxView.write, itertools.count(1)

    def write(self, offset, data):
        before(next(count))
        real_write(self, offset, data)

    monkeypatch.setattr(MailboxView, "write", write)


def relay_writes(topo, sent, monkeypatch) -> int:
    for src, dst in sent:
        topo.mailbox(src).send(dst, src)
    writes = []
    before_each_write(monkeypatch, writes.append)
    Relay(topo, everyone()).run_until_idle()
    monkeypatch.undo()
    return len(writes)


CRASH_SENT = [("a11", "b11"), ("a2", "a1"), ("b1", "root")]
CRASH_WRITES = 48       # every write the relay makes for CRASH_SENT (checked below)


def test_the_crash_test_covers_every_write_of_the_relay(kernel, monkeypatch):
    assert relay_writes(setup_topology(kernel, TREE), CRASH_SENT, monkeypatch) == CRASH_WRITES


@pytest.mark.parametrize("crash_at", range(1, CRASH_WRITES + 1))
def test_a_crash_at_any_write_neither_loses_nor_duplicates(topo, monkeypatch, crash_at):
    """The relay dies at its n-th write; a fresh relay recovers and finishes the work.
    At every write, no pending count is below the READY slots it counts."""
    for src, dst in CRASH_SENT:
        topo.mailbox(src).send(dst, src)

    def crash(n):
        assert count_errors(topo, exact=False) == {}
        if n == crash_at:
            raise Crash

    before_each_write(monkeypatch, crash)
    with pytest.raises(Crash):
        Relay(topo, everyone()).run_until_idle()
    monkeypatch.undo()
    Relay(topo, everyone()).run_until_idle()
    assert count_errors(topo) == {}              # the fresh relay's first pass set them right
    got = sorted((m.src_name, dst, m.seq) for dst in ALL for m in topo.mailbox(dst).receive())
    assert got == sorted((src, dst, 1) for src, dst in CRASH_SENT)


def ring_reads(monkeypatch) -> list:
    """Record (owner endpoint, ring kind) of every ring read (Ring.live)."""
    reads = []
    real_live = Ring.live

    def live(self):
        reads.append((self.view.endpoint(), self.spec.kind))
        return real_live(self)

    monkeypatch.setattr(Ring, "live", live)
    return reads


def test_a_pass_reads_only_the_rings_whose_pending_count_is_not_zero(topo, monkeypatch):
    relay = Relay(topo, everyone(), rescan=None)
    relay.step()                                  # the first pass reads every ring
    reads = ring_reads(monkeypatch)
    relay.step()
    assert reads == []                            # idle: the counts only
    topo.mailbox("a1").send("a2", "x")
    assert relay.step() == {"delivered": 1}
    a1 = topo.node("a1").id
    assert reads == [(a1, RingKind.OUTBOX), (a1, RingKind.OUTBOX)]   # a1's relay, then a's
    assert count_errors(topo) == {}


def test_a_count_left_too_high_costs_one_read(topo, monkeypatch):
    relay = Relay(topo, everyone(), rescan=None)
    relay.step()
    view = topo.own_view(topo.node("b1"))
    view.set_pending(Pending.OUTBOX, 3)           # e.g. a crash after a send raised it
    view.set_pending(Pending.TRANSIT, 9)
    reads = ring_reads(monkeypatch)
    relay.step()
    b1 = topo.node("b1").id
    assert reads == [(b1, RingKind.OUTBOX), (b1, RingKind.INBOX)]   # b1 corrects them
    assert list(view.pending()) == [0, 0, 0, 0]
    reads.clear()
    relay.step()
    assert reads == []


@pytest.mark.parametrize("rescan", [1, 4, None])
def test_a_slot_the_counts_miss_waits_for_a_full_pass(topo, rescan):
    """A READY slot written without its count (outside the protocol) is moved by the next
    full pass: the first one, then one in every `rescan`."""
    relay = Relay(topo, everyone(), rescan=rescan)
    relay.step()
    a1 = topo.node("a1")
    write_slot(topo.own_view(a1), RingKind.OUTBOX, 0,
               Header(State.READY, 0, 1, a1.id, topo.node("a2").id, 1), b"\x01")
    passes = 1
    while not topo.mailbox("a2").waiting() and passes < 10:
        relay.step()
        passes += 1
    assert passes == {1: 2, 4: 5, None: 10}[rescan]     # steps made, the first included
    if rescan is not None:
        assert [m.seq for m in topo.mailbox("a2").receive()] == [1]
        assert count_errors(topo) == {}


def test_bad_relay_configuration_is_refused(topo):
    with pytest.raises(ValueError, match="unknown endpoints: \\['zz'\\]"):
        Relay(topo, Policy([("a", "zz")]))
    with pytest.raises(TypeError, match="must be a Policy"):
        Relay(topo, [("a", "b")])
    with pytest.raises(ValueError, match="max_attempts"):
        Relay(topo, Policy(), max_attempts=0)
    for rescan in (0, 2.5, True):
        with pytest.raises(ValueError, match="rescan"):
            Relay(topo, Policy(), rescan=rescan)
    with pytest.raises(ValueError, match="with a root"):
        Relay(Topology(topo.kernel), Policy())


@pytest.mark.parametrize("channels, match", [
    ([("a", "a")], "to itself"), ([("a", 3)], "partition names"), ([("a", "b", 0)], "max_size"),
    ([("a", "b", 481)], "max_size"), ([{"from": "a"}], "'from' and 'to'"), (["ab"], "channel"),
])
def test_bad_policies_are_refused(channels, match):
    with pytest.raises(ValueError, match=match):
        Policy(channels)


def test_policy_from_manifest_data():
    policy = Policy([{"from": "a", "to": "b", "max_size": 16}]).allow("c", "d", both=True)
    assert ("a", "b") in policy and ("b", "a") not in policy and ("d", "c") in policy
    assert policy.check("a", "b", 17) == Reason.OVERSIZED
    assert policy.check("b", "a", 1) == Reason.UNAUTHORISED and policy.check("c", "d", 480) is None


def test_bad_topologies_are_refused(kernel):
    with pytest.raises(ValueError, match="one key"):
        setup_topology(kernel, {"r": {}, "s": {}})
    topo = setup_topology(kernel, {"r": {"x": {}}})
    x = topo.node("x")
    with pytest.raises(ValueError, match="already exists"):
        topo.add("x", x.partition, 0, 0, "r", x.parent_pages)
    with pytest.raises(ValueError, match="not the child of"):
        topo.add("y", x.partition, 0, 0, "x", x.parent_pages)
    with pytest.raises(IpcError, match="unknown endpoint 'q'"):
        topo.add("y", x.partition, 0, 0, "q", x.parent_pages)
    with pytest.raises(ValueError, match="parent_pages"):
        topo.add("y", x.partition, 0, 0, "r", None)


def test_removing_a_leaf_forgets_it_and_never_reuses_its_id(topo):
    """A deleted partition's endpoint goes away; a message still addressed to its id is
    refused as undeliverable, never delivered to whoever comes next."""
    gone = topo.node("b11")
    with pytest.raises(ValueError, match="only a leaf"):
        topo.remove("b1")
    with pytest.raises(ValueError, match="only a leaf"):
        topo.remove(topo.root.name)
    topo.remove("b11")
    assert "b11" not in topo.endpoints and topo.by_id(gone.id) is None
    assert gone.id not in topo.node("b1").subtree and gone.id not in topo.root.subtree
    assert gone not in topo.node("b1").children
    topo.mailbox("a11").send(gone.id, b"late")
    Relay(topo, Policy([])).run_until_idle()
    [refusal] = topo.mailbox("a11").refusals()
    assert refusal.reason == Reason.UNDELIVERABLE
    with pytest.raises(IpcError):
        topo.node("b11")


def test_replacing_a_leaf_keeps_its_id(topo):
    """A restarted partition takes its name and endpoint id back, with its new mailbox."""
    from pipsim.kernel.wrappers import PageAllocator, create_child, map_range
    old = topo.node("a2")
    parent = topo.node("a")
    api = topo.api(parent)
    k = topo.kernel
    assert api.delete_partition(next(va for va, m in k.mappings(parent.partition).items()
                                     if m.pa == old.partition.pd * 4096))
    own = {parent.outbox_va, parent.outbox_va + 4096, parent.inbox_va, parent.inbox_va + 4096}
    alloc = PageAllocator(va for va in k.mappings(parent.partition) if va not in own
                          and api.translate(va, "w") is not None and not api.mapped_in_child(va))
    desc = create_child(api, alloc)
    (child,) = [c for c in k.children(parent.partition) if c not in
                [n.partition for n in parent.children if n is not old]]
    mine = map_range(api, alloc, desc, old.outbox_va, 4)
    new = topo.replace("a2", child, old.outbox_va, old.inbox_va, mine)
    assert new.id == old.id and topo.node("a2") is new and new.partition == child
    assert old.id in parent.subtree and new in parent.children and old not in parent.children
    topo.format("a2")
    topo.mailbox("a1").send("a2", {"again": True})
    Relay(topo, Policy([("a1", "a2")])).run_until_idle()
    assert [m.payload for m in topo.mailbox("a2").receive()] == [{"again": True}]
    with pytest.raises(ValueError, match="only a leaf"):
        topo.replace("a", child, 0, 0, mine)


def test_a_closed_endpoint_takes_nothing(topo):
    """Messages to a closed endpoint are refused (undeliverable), those already waiting in
    its inbox too; reopened, it takes messages again."""
    relay = Relay(topo, everyone())
    waiting = topo.mailbox("a11").send("b11", "before")
    relay.run_until_idle()
    topo.close("b11", "stopped")
    late = topo.mailbox("a11").send("b11", "after")
    relay.run_until_idle()
    refused = sorted((r.reason, r.dst_name, r.seq) for r in topo.mailbox("a11").refusals())
    assert refused == [(Reason.UNDELIVERABLE, "b11", waiting), (Reason.UNDELIVERABLE, "b11", late)]
    topo.reopen("b11")
    again = topo.mailbox("a11").send("b11", "again")
    relay.run_until_idle()
    assert [(m.seq, m.payload) for m in topo.mailbox("b11").receive()] == [(again, "again")]
    assert count_errors(topo) == {}


def healthy_errors(topo, broken):
    """count_errors for every mailbox but the broken ones, and their CLAIMED slots."""
    errors = count_errors(topo, skip=broken)
    for name in set(topo.endpoints) - broken:
        for kind in RingKind:
            for slot, h, _ in topo.own_view(topo.node(name)).ring(kind).live():
                if h.state == State.CLAIMED:
                    errors[name, kind, slot] = "claimed"
    return errors


def test_a_mailbox_lent_to_the_kernel_is_contained(topo):
    """b lends its mailbox pages to the kernel: the relay's next access faults.  b is
    reported once and never touched again; what would go through b's mailbox is refused to
    its sender; everything else keeps moving."""
    relay = Relay(topo, everyone())
    lend_mailbox(topo, "b")
    for src, dst in [("a11", "b11"), ("b11", "a1"), ("b1", "b11"), ("a2", "root")]:
        topo.mailbox(src).send(dst, "x")
    relay.run_until_idle()
    assert [name for name, _ in relay.faults] == ["b"]
    assert relay.take_faults() == [("b", topo.node("b").broken)]      # taken once
    assert relay.faults == [] and relay.take_faults() == []
    assert "refused" in topo.node("b").broken and topo.node("b").closed == topo.node("b").broken
    refusals = {(r.dst_name, r.reason) for r in topo.mailbox("a11").refusals()}
    assert refusals == {("b11", Reason.UNDELIVERABLE)}                  # through b's inbox
    assert [r.dst_name for r in topo.mailbox("b11").refusals()] == ["a1"]   # up b's outbox
    assert [m.src_name for m in topo.mailbox("b11").receive()] == ["b1"]   # b's VAs of b1's
    assert [m.src_name for m in topo.mailbox("root").receive()] == ["a2"]
    topo.mailbox("a1").send("b", "to b")
    relay.run_until_idle()
    assert [(r.dst_name, r.reason) for r in topo.mailbox("a1").refusals()] == [
        ("b", Reason.UNDELIVERABLE)]
    topo.reopen("b")                                    # a broken mailbox stays closed
    assert topo.node("b").closed
    fresh = Relay(topo, everyone())                    # a new relay never touches it
    fresh.run_until_idle()
    assert fresh.faults == [] and healthy_errors(topo, {"b"}) == {}
    assert topo.kernel.check_invariants() == []


BREAK_SENT = [("a11", "b11"), ("a2", "a1"), ("b1", "root"), ("root", "b1")]
BREAK_WRITES = 59       # every write the relay makes for BREAK_SENT (checked below)


def test_the_break_test_covers_every_write_of_the_relay(kernel, monkeypatch):
    assert relay_writes(setup_topology(kernel, TREE), BREAK_SENT, monkeypatch) == BREAK_WRITES


@pytest.mark.parametrize("at", range(1, BREAK_WRITES + 1))
def test_a_mailbox_lent_at_any_write_of_the_relay(topo, monkeypatch, at):
    """b's mailbox becomes unusable just before the relay's n-th write: the pass goes on, a
    hop half made when it faulted is finished, no message is delivered twice nor refused
    and delivered, what does not touch b's mailbox arrives, and every healthy mailbox's
    counts are exact with no slot left CLAIMED."""
    for src, dst in BREAK_SENT:
        topo.mailbox(src).send(dst, src)
    before_each_write(monkeypatch, lambda n: n == at and lend_mailbox(topo, "b"))
    relay = Relay(topo, everyone())
    relay.run_until_idle()
    monkeypatch.undo()
    assert [name for name, _ in relay.faults] == ["b"]
    ends = {}
    for name in ALL:
        if name != "b":
            for m in topo.mailbox(name).receive():
                ends.setdefault((m.src_name, name), []).append("delivered")
            for r in topo.mailbox(name).refusals():
                ends.setdefault((name, r.dst_name), []).append("refused")
    assert all(len(outcome) == 1 for outcome in ends.values()), ends
    assert ends[("a2", "a1")] == ["delivered"]
    assert healthy_errors(topo, {"b"}) == {}
    assert topo.kernel.check_invariants() == []
