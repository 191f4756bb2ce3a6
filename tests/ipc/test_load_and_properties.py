"""Load: thousands of messages across the tree, none lost or duplicated.  Property: random
sends and relay steps keep Pip's invariants and deliver exactly what the policy allows; the
mailboxes' pending counts are exact after every send, step and receive."""
import random

from hypothesis import given, strategies as st

from ipc_trees import TREE, count_errors
from pipsim.ipc import OutboxFull, Policy, Reason, Relay, setup_topology
from pipsim.kernel import Kernel

NAMES = ["root", "a", "a1", "a11", "a2", "b", "b1", "b11"]


def test_load_thousands_of_messages_none_lost_or_duplicated(topo):
    rng = random.Random(7)
    relay = Relay(topo, Policy([(s, d) for s in NAMES for d in NAMES if s != d]),
                  max_attempts=None)
    boxes = {n: topo.mailbox(n) for n in NAMES}
    sent, got = {}, {}
    while sum(len(v) for v in sent.values()) < 3000:
        for name, box in boxes.items():
            for _ in range(rng.randrange(6)):
                dst = rng.choice([n for n in NAMES if n != name])
                try:
                    seq = box.send(dst, [name, dst, rng.randrange(1 << 30)])
                except OutboxFull:
                    break
                sent.setdefault((name, dst), []).append(seq)
        relay.step()
        for name in rng.sample(NAMES, 5):           # some receivers lag behind
            for m in boxes[name].receive():
                assert m.payload[:2] == [m.src_name, name]
                got.setdefault((m.src_name, name), []).append(m.seq)
    assert count_errors(topo) == {}
    relay.run_until_idle()
    for name, box in boxes.items():
        for m in box.receive():
            got.setdefault((m.src_name, name), []).append(m.seq)
        assert box.refusals() == []
    assert count_errors(topo) == {}
    assert {pair: sorted(seqs) for pair, seqs in got.items()} == sent
    assert all(seqs == list(range(1, len(seqs) + 1)) for seqs in sent.values())
    assert topo.kernel.check_invariants() == []


sends = st.tuples(st.sampled_from(NAMES), st.sampled_from(NAMES + [99]),
                  st.integers(0, 60))
channels = st.sets(st.tuples(st.sampled_from(NAMES), st.sampled_from(NAMES),
                             st.sampled_from([None, 8, 30])).filter(lambda c: c[0] != c[1]),
                   max_size=20)


@given(channels, st.lists(st.one_of(sends, st.just("step")), max_size=40))
def test_random_traffic_delivers_exactly_what_the_policy_allows(chans, ops):
    k = Kernel()
    topo = setup_topology(k, TREE)
    limits = {}
    for s, d, size in chans:
        limits[s, d] = size
    policy = Policy([(s, d, size) for (s, d), size in limits.items()])
    relay = Relay(topo, policy, max_attempts=None)
    expected, refused = set(), set()
    for op in ops:
        if op == "step":
            relay.step()
            assert k.check_invariants() == []
            assert count_errors(topo) == {}
            continue
        src, dst, size = op
        try:
            seq = topo.mailbox(src).send(dst, "x" * size)
        except OutboxFull:
            continue
        length = size + (1 if size < 24 else 2)            # CBOR text string head
        dst_id = topo.endpoints.get(dst, dst)
        if dst == 99 or dst == src:
            refused.add((src, dst_id, seq, Reason.UNDELIVERABLE))
        elif (src, dst) not in limits:
            refused.add((src, dst_id, seq, Reason.UNAUTHORISED))
        elif length > (limits[src, dst] or 480):
            refused.add((src, dst_id, seq, Reason.OVERSIZED))
        else:
            expected.add((src, dst, seq))
    relay.run_until_idle()
    assert k.check_invariants() == []
    delivered = {(m.src_name, n, m.seq) for n in NAMES for m in topo.mailbox(n).receive()}
    got_refused = {(n, r.dst, r.seq, r.reason) for n in NAMES
                   for r in topo.mailbox(n).refusals()}
    assert delivered == expected and got_refused == refused
    assert count_errors(topo) == {}
