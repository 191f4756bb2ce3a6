"""Management commands per second, end to end, on the default gateway image.

Each command is CBOR-encoded with a fresh token, submitted to provider A's Internal
Communicator, validated (token, replay cache in pages), routed and answered; reads and lamp
writes go over IPC to the owner's managers and drivers and back.  Commands are submitted in
batches of BATCH then the runtime runs until idle; token issuing (off-device) is done first
and not timed.  1000 commands per run: the page-backed replay
cache (64 pages, 8,176 slots probed 16 at a time) bounds how many 300-s tokens one domain
accepts before it fails closed.  Prints JSON."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from domains.gateway import APP_CONFIG, LAMP, TEMPERATURE, Gateway  # noqa: E402

BATCH = 8


def measure(kind: str, count: int) -> dict:
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
    rt, answered = gw.runtime, 0
    start = time.perf_counter()
    for i in range(0, count, BATCH):
        for frame in frames[i:i + BATCH]:
            rt.submit("provider-a", frame)
        rt.run()
        answered += sum(r.accepted for r in rt.collect())
    elapsed = time.perf_counter() - start
    assert answered == count, (answered, count)
    return {"commands": count, "seconds": round(elapsed, 3), "per_second": round(count / elapsed)}


if __name__ == "__main__":
    print(json.dumps({"batch": BATCH,
                      "domain_resource (Fig. 8, no IPC)": measure("domain", 1000),
                      "virtual sensor/actuator (IPC to owner drivers)": measure("device", 1000)},
                     indent=2))
