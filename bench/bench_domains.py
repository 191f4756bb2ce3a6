"""Management commands per second, end to end, on the default gateway image.

Each command is CBOR-encoded with a fresh token, submitted to provider A's Internal
Communicator, validated (token, replay cache in pages), routed and answered; reads and lamp
writes go over IPC to the owner's managers and the firmware drivers (on the emulated ARM CPU)
and back.  Commands are submitted in batches (1, 8, 16 commands in flight; past 8 the
outboxes are full and messages wait in the components' backlogs) then the runtime runs until
idle; token issuing (off-device) is done first and not timed.  1000 commands per run: the page-backed replay
cache (64 pages: 8,191 live tokens, tokens/README.md) bounds how many 300-s tokens one
domain accepts before it fails closed.  Prints JSON."""
import json
from collections import Counter
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from pipsim.domains.gateway import APP_CONFIG, LAMP, TEMPERATURE, Gateway  # noqa: E402

BATCHES = (1, 8, 16)       # commands in flight together (an outbox holds 8)


def measure(kind: str, count: int, batch: int = 8) -> dict:
    gw = Gateway()
    frames = []
    for i in range(count):
        if kind == "domain":
            c = gw.command("provider-a", "write", APP_CONFIG, str(i),
                           token=gw.token("provider-a", "provider-a", f"{APP_CONFIG}:w"))
        else:
            code, res, value = ("read", TEMPERATURE, None) if i % 2 else ("write", LAMP, i % 2)
            c = gw.command("provider-a", code, res, value,
                           token=gw.token("provider-a", "provider-a", f"{TEMPERATURE}:r {LAMP}:w"))
        frames.append(c.encode())
    rt, answered, refused = gw.runtime, 0, Counter()
    start = time.perf_counter()
    for i in range(0, count, batch):
        for frame in frames[i:i + batch]:
            rt.submit("provider-a", frame)
        rt.run()
        for response in rt.collect():
            answered += 1
            if not response.accepted:
                refused[response.reason] += 1
    elapsed = time.perf_counter() - start
    assert answered == count, (answered, count)          # none lost, none duplicated
    assert not any(c.unanswered for c in rt.components.values())
    return {"commands": count, "seconds": round(elapsed, 3), "per_second": round(count / elapsed),
            "ms_per_batch": round(elapsed / -(-count // batch) * 1e3, 2),
            "refused": dict(refused)}


if __name__ == "__main__":
    print(json.dumps({
        "target_per_second": 2000,
        "domain_resource (Fig. 8, no IPC)": {f"batch {b}": measure("domain", 1000, b)
                                             for b in BATCHES},
        "virtual sensor/actuator (IPC to owner drivers)": {f"batch {b}": measure("device", 1000, b)
                                                           for b in BATCHES}}, indent=2))
