"""IPC between partitions by tree distance (2 = siblings, 4 = cousins, 6 = second cousins).

Prints JSON: end-to-end latency (send, one relay pass over the tree, receive: host time per
message) and throughput (batches of one outbox, relayed until idle, received), on the C
core, median and best of several repetitions.
Usage: python3 bench/bench_ipc.py [--reps N] [--messages N]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from pipsim.ipc import Policy, Relay, setup_topology  # noqa: E402
from pipsim.ipc.mailbox import RINGS, RingKind  # noqa: E402
from pipsim.kernel import Kernel  # noqa: E402

TREE = {"root": {"a": {"a1": {"a11": {}}, "a2": {"a21": {}}}, "b": {"b1": {"b11": {}}}}}
PAIRS = {2: ("a1", "a2"), 4: ("a1", "b1"), 6: ("a11", "b11")}


def latency(relay, sender, receiver, count: int) -> float:
    start = time.perf_counter()
    for i in range(count):
        sender.send(receiver.me, i)
        relay.step()
        assert len(receiver.receive()) == 1
    return (time.perf_counter() - start) / count


def throughput(relay, sender, receiver, count: int) -> float:
    batch = RINGS[RingKind.OUTBOX].count
    done = 0
    start = time.perf_counter()
    while done < count:
        for i in range(batch):
            sender.send(receiver.me, i)
        relay.run_until_idle()
        done += len(receiver.receive())
    return done / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--messages", type=int, default=200)
    args = parser.parse_args()
    topo = setup_topology(Kernel(), TREE)
    results = {"tree_partitions": len(topo.endpoints), "repetitions": args.reps,
               "messages_per_repetition": args.messages, "by_distance": {}}
    for distance, (src, dst) in PAIRS.items():
        relay = Relay(topo, Policy([(src, dst)]))
        sender, receiver = topo.mailbox(src), topo.mailbox(dst)
        lat = [latency(relay, sender, receiver, args.messages) for _ in range(args.reps)]
        thr = [throughput(relay, sender, receiver, args.messages) for _ in range(args.reps)]
        results["by_distance"][str(distance)] = {
            "pair": [src, dst],
            "latency_us_median": round(statistics.median(lat) * 1e6, 1),
            "latency_us_best": round(min(lat) * 1e6, 1),
            "throughput_msgs_per_s_median": round(statistics.median(thr)),
            "throughput_msgs_per_s_best": round(max(thr)),
        }
    assert topo.kernel.check_invariants() == []
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
