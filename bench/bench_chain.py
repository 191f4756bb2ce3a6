"""Commands through the whole management chain on loopback, printed as JSON.

application → its Token Generator (HTTPS, mutual TLS: a token bound to the command) → the
admin server (HTTPS) → the device (CoAP + DTLS, its registration's session) → the answer
back, with ``pipsim.management.testbed`` (every service its own process, a fleet of 20 devices).
Each command is a provider's write of a value of its own to its setting (32769/0/1).

Per setup (devices, commands in flight): commands per second, latency p50 / p99 in ms, and
where the time goes, as shares of the summed latencies:
* ``token``: the Token Generator request (the keystore's key is fetched once, then kept);
  a warm-up of twice the commands in flight opens the connections and sessions first;
* ``admin``: the admin server request minus the device's leg (HTTPS, checking, relaying);
* ``device``: the CoAP leg, from the admin server's ``Server-Timing: device;dur=`` header
  (sending to the device, its runtime, its answer).
``--quick`` for a short run.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import tempfile
import time

from pipsim.management.admin import command_map, commands_url, request_body, token
from pipsim.management.testbed import DOMAIN, SETTING, ChainTestbed

FLEET = 20
SETUPS = [(1, 1), (1, 8), (FLEET, 8), (FLEET, FLEET)]       # (devices, in flight)


def server_timing(header: str) -> dict[str, float]:
    """``name;dur=ms, ...`` (W3C Server Timing) as {name: seconds}."""
    timings = {}
    for metric in header.split(","):
        name, _, params = metric.strip().partition(";")
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "dur":
                timings[name] = float(value) / 1000
    return timings


async def one(bed, session, keystore, command: dict) -> dict:
    """One command through the chain: its hops' seconds."""
    start = time.perf_counter()
    token_a = await token(session, keystore, bed.route.generator, DOMAIN, command)
    tokened = time.perf_counter()
    async with session.post(commands_url(bed.admin, command["device"]),
                            json=request_body(command, token_a)) as answer:
        body = await answer.json()
        timing = server_timing(answer.headers.get("Server-Timing", ""))
    done = time.perf_counter()
    if answer.status != 200 or body["coap"] != "2.04":
        raise RuntimeError(f"command {command['id']}: {answer.status} {body}")
    device = timing["device"]
    return {"total": done - start, "token": tokened - start,
            "admin": done - tokened - device, "device": device}


async def setup(bed, devices: int, in_flight: int, count: int, first_id: int) -> dict:
    endpoints = [d.endpoint for d in bed.fleet.devices[:devices]]
    warm = 2 * in_flight                  # not measured: connections and sessions opened
    commands = [command_map(DOMAIN, endpoints[i % devices], "write", SETTING, f"v{first_id + i}",
                            first_id + i) for i in range(warm + count)]
    bound = asyncio.Semaphore(in_flight)
    async with bed.client() as (session, keystore):
        async def bounded(command):
            async with bound:
                return await one(bed, session, keystore, command)
        await asyncio.gather(*map(bounded, commands[:warm]))
        start = time.perf_counter()
        hops = await asyncio.gather(*map(bounded, commands[warm:]))
        elapsed = time.perf_counter() - start
    latencies = sorted(h["total"] for h in hops)
    summed = sum(latencies)
    return {"devices": devices, "in_flight": in_flight, "commands": count,
            "commands_per_s": round(count / elapsed, 1),
            "p50_ms": round(1000 * latencies[len(latencies) // 2], 3),
            "p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 3),
            "share": {hop: round(sum(h[hop] for h in hops) / summed, 3)
                      for hop in ("token", "admin", "device")}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run")
    args = parser.parse_args()
    per_setup = 100 if args.quick else 1000
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-chain-") as root:
        with ChainTestbed(root, FLEET, lifetime=60) as bed:
            for n, (devices, in_flight) in enumerate(SETUPS):
                print(f"chain: {devices} devices, {in_flight} in flight ...", file=sys.stderr)
                results.append(asyncio.run(setup(bed, devices, in_flight, per_setup,
                                                 1000 + n * 2 * per_setup)))
    print(json.dumps({"benchmark": "chain", "machine": platform.machine(),
                      "python": platform.python_version(), "quick": args.quick,
                      "setups": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
