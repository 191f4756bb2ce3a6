"""`pipsim attest IMAGE.toml`: boot a device image measured, ask it for evidence with a
fresh nonce, verify it, and record or compare reference values (entry point
"pipsim.commands"; docs/attestation.md)."""
from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path

from trust.attest import Attester, ReferenceValues, Verifier, measured
from trust.rot import SoftwareRoot

from .boot import boot
from .manifest import load


def register(subparsers) -> None:
    attest = subparsers.add_parser(
        "attest", help="boot a device image measured, quote a fresh nonce and verify it")
    attest.add_argument("image", help="device-image manifest (TOML)")
    attest.add_argument("--arch", choices=["arm", "x86"], help="CPU (default: the manifest's)")
    what = attest.add_mutually_exclusive_group()
    what.add_argument("--record", metavar="FILE",
                      help="write the verified measurements as reference values (JSON)")
    what.add_argument("--expect", metavar="FILE",
                      help="compare with reference values: exit 1 naming each partition "
                           "that differs")
    attest.add_argument("--root", choices=["software", "tpm"], default="software",
                        help="root of trust: the embedded software one (default) or a TPM 2.0")
    attest.add_argument("--tcti", metavar="TCTI",
                        help='with --root tpm: the TPM to use (e.g. "device:/dev/tpmrm0"); '
                             "default: a swtpm simulator started for this run")
    attest.add_argument("--log", action="store_true", help="print the event log")
    attest.set_defaults(func=_attest)


def _attest(args) -> int:
    reference = None
    if args.expect:
        reference = ReferenceValues.from_json(Path(args.expect).read_text())
    manifest = load(args.image, args.arch)
    with ExitStack() as stack:
        if args.root == "tpm":
            from trust.rot_tpm import Swtpm, TpmRoot
            tcti = args.tcti or stack.enter_context(Swtpm()).tcti
            root = TpmRoot(tcti)
            stack.callback(root.close)
        else:
            root = SoftwareRoot.generate(manifest.name)
        measurements = measured(manifest.name, root)
        boot(manifest, measurements)
        verifier = Verifier(root.kind, root.public_key(), reference)   # enrolled at manufacture
        nonce = verifier.challenge()
        appraisal = verifier.verify(Attester(manifest.name, measurements).attest(nonce), nonce)
    if args.log:
        for n, event in enumerate(measurements.events):
            print(f"{n:3} {event.kind:6} {event.partition:20} parent={event.parent or '-':20} "
                  f"{event.digest.hex()[:16]}  {event.detail}")
    print(f"{manifest.name}: quote verified ({root.kind} root of trust, nonce "
          f"{nonce.hex()[:16]}..., {len(measurements.events)} events replayed, "
          f"{len(appraisal.values.partitions)} partitions)")
    if args.record:
        Path(args.record).write_text(appraisal.values.to_json() + "\n")
        print(f"reference values written to {args.record}")
    if reference is not None:
        if appraisal.ok:
            print(f"matches the reference values of {args.expect}")
            return 0
        print(f"differs from the reference values of {args.expect}:", file=sys.stderr)
        for line in appraisal.differences:
            print(f"  {line}", file=sys.stderr)
        return 1
    return 0
