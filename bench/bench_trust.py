"""Measured boot and attestation, printed as JSON.

* ``attest_round_trip_ms``: a verifier's nonce, the device's evidence, its verification
  (signature, nonce, event-log replay, reference values) for the booted default image
  (domains/gateway.toml), per root of trust: the software one and a TPM 2.0 on swtpm
  (TCP on loopback: the TPM commands' round trips are most of it);
* ``boot_ms``: booting the default image with measurement off and on (software root),
  alternated in one run; the median of each and their ratio;
* ``verify_ms_by_size``: ``pipsim.trust.image.verify`` of a signed package (a directory of one file
  of random bytes; developer signature, EdDSA) of 4 KiB to 16 MiB: digest and signature
  check against a policy, the median per size (the digest's SHA-256 dominates large ones).
``--quick`` for a short run.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from pipsim import partitions  # noqa: E402
from pipsim.domains.gateway import IMAGE  # noqa: E402
from pipsim.kernel.needs import skipped  # noqa: E402
from pipsim.tokens.keys import EDDSA, CoseKey  # noqa: E402
from pipsim.trust import Attester, SoftwareRoot, Verifier, image, measured, policy  # noqa: E402
from pipsim.trust.rot_tpm import Swtpm, TpmRoot  # noqa: E402


def median_ms(samples) -> float:
    return round(statistics.median(samples) * 1000, 3)


def round_trips(root, manifest, count: int) -> dict:
    measurements = measured(manifest.name, root)
    partitions.boot(manifest, measurements)
    attester = Attester(manifest.name, measurements)
    verifier = Verifier(root.kind, root.public_key())
    nonce = verifier.challenge()
    reference = verifier.verify(attester.attest(nonce), nonce).values
    verifier.reference = reference
    quote, verify = [], []
    for _ in range(count):
        nonce = verifier.challenge()
        start = time.perf_counter()
        evidence = attester.attest(nonce)
        middle = time.perf_counter()
        assert verifier.verify(evidence, nonce).ok
        quote.append(middle - start)
        verify.append(time.perf_counter() - middle)
    return {"quote_ms": median_ms(quote), "verify_ms": median_ms(verify),
            "round_trip_ms": median_ms([q + v for q, v in zip(quote, verify)]),
            "evidence_bytes": len(evidence), "events": len(measurements.events)}


def boot_times(manifest, count: int) -> dict:
    off, on = [], []
    for _ in range(count):                     # alternated: both see the same machine load
        start = time.perf_counter()
        partitions.boot(manifest)
        off.append(time.perf_counter() - start)
        start = time.perf_counter()
        partitions.boot(manifest, measured(manifest.name))
        on.append(time.perf_counter() - start)
    return {"off_ms": median_ms(off), "on_ms": median_ms(on),
            "on_over_off": round(statistics.median(on) / statistics.median(off), 3)}


SIZES = {"4KiB": 4 << 10, "64KiB": 64 << 10, "1MiB": 1 << 20, "16MiB": 16 << 20}


def verify_times(count: int) -> dict:
    key = CoseKey.generate(EDDSA, b"bench-developer")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        key.save(folder / "developer.pub.cose", private=False)
        (folder / "policy.toml").write_text('[[signer]]\nkid = "bench-developer"\n'
                                            'role = "developer"\nkey = "developer.pub.cose"\n')
        trust = policy.load(folder / "policy.toml")
        times = {}
        for label, size in SIZES.items():
            package = folder / f"package-{label}"
            package.mkdir()
            (package / "payload.bin").write_bytes(os.urandom(size))
            image.sign(package, key, "developer", name="bench", version=1, arch="arm")
            samples = []
            for _ in range(count):
                start = time.perf_counter()
                image.verify(package, trust, arch="arm")
                samples.append(time.perf_counter() - start)
            times[label] = median_ms(samples)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    count = 5 if args.quick else 30
    manifest = partitions.load(IMAGE)
    result = {"image": "domains/gateway.toml", "machine": platform.machine(),
              "attest_round_trip": {"software": round_trips(SoftwareRoot.generate("gateway"),
                                                            manifest, count)}}
    no_tpm = skipped("bench_trust", "swtpm", "tpm2_pytss")
    if no_tpm:
        result["attest_round_trip"]["swtpm"] = no_tpm
    else:
        with Swtpm() as simulator:
            root = TpmRoot(simulator.tcti)
            try:
                result["attest_round_trip"]["swtpm"] = round_trips(root, manifest, count)
            finally:
                root.close()
    result["boot"] = boot_times(manifest, count)
    result["verify_ms_by_size"] = verify_times(count)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
