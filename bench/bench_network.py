"""Management commands end to end over CoAP + DTLS-PSK on loopback, printed as JSON.

Measured side by side in one run, with the same aiocoap client and DTLS:
* ``device``: commands to ``pipsim serve`` (a domain-resource write, each with its own token
  bound to it: D3.3 JSON in, the runtime, the answer out), 1 / 8 / 64 in flight;
* ``trivial``: aiocoap's own trivial resource behind the same DTLS server transport (the
  transport's ceiling), same concurrency;
* ``in_process``: the same commands through ``LwM2MClient.handle`` without a socket.
Rates in commands per second, latency p50 / p99 in ms.  Targets (issue 12): >= 1,000
commands/s at 8 in flight, and >= 0.5x the trivial resource's rate.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import aiocoap
import aiocoap.resource

from pipsim.domains.gateway import Gateway
from pipsim.domains.lwm2m import LwM2MClient, b64url
from pipsim.kernel.needs import skipped
from pipsim.tokens import Issuer, KeyVault, binding
from pipsim.tokens.keys import ISSUE

PSK = ("bench", "bench-key")
RESOURCE, PATH = "32769/0/1", (32769, 0, 1)


def free_port() -> int:
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def bodies(key: bytes, count: int) -> list[bytes]:
    """D3.3 JSON bodies of provider A's domain-resource writes, each with a bound token."""
    vault = KeyVault()
    kid = vault.add_cose_key(key, uses={ISSUE}).kid
    issuer = Issuer(vault, kid, kid.decode())
    out = []
    for n in range(count):
        value = f"v{n}"
        token = issuer.issue(audience="provider-a", scope=f"{RESOURCE}:w", command=binding.digest(
            "provider-a", "gateway", "write", PATH, value))
        inner = {"domain": "provider-a", "device": "gateway", "value": value,
                 "token": b64url(token),
                 "operation": {"code": "write", "objectId": 32769, "objectInstanceId": 0,
                               "resourceId": 1}}
        out.append(json.dumps({"id": n, "value": json.dumps(inner)}).encode())
    return out


async def drive(uri: str, payloads: list[bytes], in_flight: int) -> dict:
    """Send every payload as a PUT to uri, ``in_flight`` at a time; rate and latencies."""
    context = await aiocoap.Context.create_client_context()
    context.client_credentials.load_from_dict({uri.rsplit("/", 3)[0] + "/*": {"dtls": {
        "psk": {"ascii": PSK[1]}, "client-identity": {"ascii": PSK[0]}}}})
    latencies, failures, queue = [], 0, list(payloads)

    async def worker():
        nonlocal failures
        while queue:
            payload = queue.pop()
            start = time.perf_counter()
            response = await asyncio.wait_for(context.request(aiocoap.Message(
                code=aiocoap.PUT, uri=uri, payload=payload, content_format=50)).response, 60)
            latencies.append(time.perf_counter() - start)
            failures += not response.code.is_successful()
    try:
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        elapsed = time.perf_counter() - start
    finally:
        await context.shutdown()
    latencies.sort()
    return {"commands": len(payloads), "per_second": round(len(payloads) / elapsed),
            "p50_ms": round(1000 * statistics.median(latencies), 3),
            "p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 3),
            "failed": failures}


class Trivial(aiocoap.resource.Resource):
    async def render_put(self, request):
        return aiocoap.Message(code=aiocoap.CHANGED, payload=b'{"status":204}')


async def serve_trivial(port: int, ready: str) -> None:
    """The trivial resource behind aiocoap's DTLS server (a process of its own, as the
    device is), until terminated."""
    from pipsim.kernel.coaps import credentials
    site = aiocoap.resource.Site()
    site.add_resource([str(p) for p in PATH], Trivial())
    await aiocoap.Context.create_server_context(
        site, bind=("127.0.0.1", port - 1), transports=["tinydtls_server"],
        server_credentials=credentials([PSK]))
    pathlib.Path(ready).write_text("ready")
    await asyncio.Event().wait()


def started(argv: list[str], ready: pathlib.Path) -> subprocess.Popen:
    """A server process, once it has written ``ready``."""
    process = subprocess.Popen([sys.executable, *argv], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"{argv} did not start: {process.stderr.read()}")
        time.sleep(0.05)
    return process


def measured(argv_for, folder: pathlib.Path, name: str, payloads_for) -> dict:
    """Rates against the server ``argv_for(port, ready file)`` starts: {in flight: figures}."""
    port, ready = free_port(), folder / f"{name}.ready"
    process = started(argv_for(port, str(ready)), ready)
    try:
        uri = f"coaps://127.0.0.1:{port}/{RESOURCE}"
        return {str(n): asyncio.run(drive(uri, payloads_for(count), n))
                for n, count in COUNTS}
    finally:
        process.terminate()
        process.wait(timeout=30)


COUNTS = [(1, 1000), (8, 3000), (64, 3000)]


def main() -> int:
    global COUNTS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--serve-trivial", nargs=2, metavar=("PORT", "READY"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_trivial:
        asyncio.run(serve_trivial(int(args.serve_trivial[0]), args.serve_trivial[1]))
        return 0
    no_dtls = skipped("bench_network", "DTLSSocket")
    if no_dtls:
        print(json.dumps({"over_dtls": no_dtls}))
        return 0
    if args.quick:
        COUNTS = [(1, 200), (8, 400), (64, 400)]
    with tempfile.TemporaryDirectory() as name:
        folder = pathlib.Path(name)
        keys = folder / "keys"

        def device(port, ready):
            return ["-m", "pipsim.kernel.cli", "serve", "--bind", f"127.0.0.1:{port}", "--psk",
                    ":".join(PSK), "--export-keys", str(keys), "--ready-file", ready]

        over_dtls = measured(device, folder, "device",
                             lambda count: bodies((keys / "provider-a.cose").read_bytes(), count))
        trivial = measured(lambda port, ready: [__file__, "--serve-trivial", str(port), ready],
                           folder, "trivial", lambda count: [b"{}"] * count)
    gw = Gateway()
    local = LwM2MClient(gw.runtime, "gateway")
    key = gw.runtime.enrol("provider-a", "provider-a-server")
    payloads = bodies(key, COUNTS[1][1])
    start = time.perf_counter()
    for payload in payloads:
        local.handle("PUT", PATH, payload, 50)
    in_process = round(len(payloads) / (time.perf_counter() - start))
    ratio = {n: round(over_dtls[n]["per_second"] / trivial[n]["per_second"], 2) for n in over_dtls}
    print(json.dumps({
        "benchmark": "network", "machine": platform.machine(),
        "device_over_dtls": over_dtls, "trivial_resource_over_dtls": trivial,
        "in_process_per_second": in_process, "device_over_trivial": ratio,
        "targets": {"per_second_at_8": 1000, "device_over_trivial": 0.5}}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
