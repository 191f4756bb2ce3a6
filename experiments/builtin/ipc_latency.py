"""Message latency and throughput of the ipc relay against the tree distance."""
from __future__ import annotations

import statistics
import time

from ..measures import Measure, count
from ..params import Param
from ..registry import Figure, experiment
from .common import IMPL, KERNELS

PLACEMENTS = ("across", "down", "up")
CBOR_HEADER = 3             # bytes CBOR adds to a byte string of up to 65535 bytes
MAX_STEPS = 64              # relay passes a lone message may take before the run fails


def _chain(prefix: str, length: int) -> dict:
    """{prefix1: {prefix2: {... prefix<length>: {}}}}."""
    tree: dict = {}
    for i in range(length, 0, -1):
        tree = {f"{prefix}{i}": tree}
    return tree


def endpoints(placement: str, distance: int) -> tuple[dict, str, str]:
    """The tree (root's name first) and the sender and receiver `distance` edges apart:
    across = two branches under the root (the common ancestor, neither end), down = the
    root to the bottom of a chain, up = the bottom of a chain to the root."""
    if placement == "across":
        if distance < 2:
            raise ValueError("placement=across needs distance >= 2 (siblings are 2 apart)")
        left, right = -(-distance // 2), distance // 2
        return ({"root": {**_chain("s", left), **_chain("r", right)}}, f"s{left}",
                f"r{right}")
    tree = {"root": _chain("n", distance)}
    return (tree, "root", f"n{distance}") if placement == "down" else (tree, f"n{distance}",
                                                                        "root")


def _deliver(relay, out, inbox) -> tuple[int, int, list]:
    """Step the relay until the receiver has a message: (steps, copies, messages)."""
    copies = 0
    for steps in range(1, MAX_STEPS + 1):
        stats = relay.step()
        copies += stats["delivered"] + stats["forwarded"]
        got = inbox.receive()
        if got:
            return steps, copies, got
        if stats["refused"]:
            break
    raise RuntimeError(f"the message was not delivered (refusals: {out.refusals()})")


@experiment(
    "ipc_latency",
    params=[Param("distance", 2, "tree distance between sender and receiver (edges)",
                  low=1, high=12),
            Param("placement", "across", "across: both under a common ancestor; down: "
                  "ancestor to descendant; up: descendant to ancestor", choices=PLACEMENTS),
            Param("messages", 100, "messages sent, one at a time and then in bursts", low=1,
                  unit="messages"),
            Param("payload_bytes", 16, "bytes of each message's payload (a CBOR byte string)",
                  low=0, high=480 - CBOR_HEADER, unit="bytes"),
            IMPL],
    measures={
        "copies": count("relay copies per message (hops from ring to ring)", "copies"),
        "steps": count("relay passes until a lone message is delivered", "passes"),
        "latency_us": Measure("median host time of a lone message: send, relay passes, "
                              "receive", "µs"),
        "idle_step_us": Measure("median host time of a relay pass with nothing to move", "µs"),
        "throughput_msgs_per_s": Measure("messages delivered per host second, sent in bursts that "
                                         "fill the sender's outbox", "messages/s"),
        "partitions": count("partitions in the tree, the root included", "partitions"),
        "invariant_violations": count("Pip properties violated after the run", "properties"),
    },
    figures=[
        Figure("latency_vs_distance", x="distance", y=("latency_us", "copies", "steps"),
               title="Message latency and relay copies against the tree distance"),
        Figure("throughput_vs_distance", x="distance",
               y=("throughput_msgs_per_s", "idle_step_us"),
               title="Throughput and the cost of a relay pass against the distance"),
        Figure("latency_vs_payload", x="payload_bytes", y=("latency_us",),
               title="Message latency against the payload size"),
    ],
)
def ipc_latency(p, rng):
    """Latency and throughput of messages between two partitions, against their distance.

    How: ipc.setup_topology builds, through the system calls, a tree of distance + 1
    partitions, each with its mailbox; the sender and the receiver are `distance` edges
    apart (placement across: the root is their common ancestor; down / up: one is the root,
    the other the bottom of a chain).  A Policy authorises that one channel.  Latency: each
    of `messages` messages is sent alone (Mailbox.send), the Relay steps until the
    receiver's Mailbox.receive returns it; the median host time is kept, with the relay's
    copies and passes.  Throughput: the same number of messages, the sender refilling its
    outbox before every pass, the receiver emptying its inbox after.

    Limits: the relay is the ipc package's Python implementation of the parents' relay
    work, run in one thread (no partition code, no switches, no scheduling delay): host
    time of its copies through the partitions' page tables, comparable within one sweep
    only.  A relay pass walks the whole tree, so latency grows with the tree's size as well
    as with the hops; idle_step_us separates the walk.  Bursts are capped by the outbox
    (8 slots).
    """
    from pipsim.ipc import OutboxFull, Policy, Relay, setup_topology
    tree, sender, receiver = endpoints(p["placement"], p["distance"])
    k = KERNELS[p["impl"]]()
    topo = setup_topology(k, tree)
    relay = Relay(topo, Policy([(sender, receiver)]))
    out, inbox = topo.mailbox(sender), topo.mailbox(receiver)
    payload, n = rng.randbytes(p["payload_bytes"]), p["messages"]

    times, hops, passes = [], [], []
    for _ in range(n):
        start = time.perf_counter_ns()
        out.send(receiver, payload)
        steps, copies, got = _deliver(relay, out, inbox)
        times.append(time.perf_counter_ns() - start)
        if got[0].payload != payload:
            raise AssertionError("the message arrived changed")
        hops.append(copies)
        passes.append(steps)

    idle = []
    for _ in range(min(n, 20)):
        start = time.perf_counter_ns()
        relay.step()
        idle.append(time.perf_counter_ns() - start)

    sent = delivered = 0
    start = time.perf_counter()
    for _ in range(n * MAX_STEPS):
        if delivered == n:
            break
        try:
            while sent < n:
                out.send(receiver, payload)
                sent += 1
        except OutboxFull:
            pass
        relay.step()
        delivered += len(inbox.receive())
    else:
        raise RuntimeError(f"{delivered} of {n} messages delivered in bursts "
                           f"(refusals: {out.refusals()})")
    elapsed = time.perf_counter() - start

    return {"copies": statistics.mean(hops), "steps": statistics.mean(passes),
            "latency_us": statistics.median(times) / 1e3,
            "idle_step_us": statistics.median(idle) / 1e3,
            "throughput_msgs_per_s": n / elapsed, "partitions": len(topo.endpoints),
            "invariant_violations": len(k.check_invariants())}
