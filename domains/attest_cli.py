"""`pipsim attest IMAGE.toml`: boot a device image measured, ask it for evidence with a
fresh nonce, verify it, and record or compare reference values; `pipsim attest --device
coaps://HOST:PORT`: the same of a running device (`pipsim serve`), over its management
interface as its owner (entry point "pipsim.commands"; docs/attestation.md)."""
from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path

from pipsim.kernel import exits
from pipsim.trust.attest import Attester, ReferenceValues, Verifier, measured
from pipsim.trust.rot import SoftwareRoot

from pipsim.partitions import boot, load
from pipsim.tokens.keys import CoseKey

from .attestation import ATTEST
from .remote import RemoteServers, owner_ask
from .serve import ATTESTATION_KEY


def register(subparsers) -> None:
    from pipsim.kernel.coaps import psk_arg
    attest = subparsers.add_parser(
        "attest", help="boot a device image measured (or ask a running device), quote a fresh "
                       "nonce and verify it")
    where = attest.add_mutually_exclusive_group(required=True)
    where.add_argument("image", nargs="?", help="device-image manifest (TOML) to boot here")
    where.add_argument("--device", metavar="URI",
                       help="coaps://HOST:PORT of a running pipsim serve: ask it, as its owner")
    attest.add_argument("--psk", type=psk_arg, help="with --device: IDENTITY:KEY")
    attest.add_argument("--keys", metavar="DIR",
                        help="with --device: the folder pipsim serve --export-keys wrote (the "
                             f"owner's key owner.cose, the device's {ATTESTATION_KEY})")
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
    if args.device:
        name, kind, evidence_of = _remote(args)
    else:
        name, kind, evidence_of = _local(args)
    with ExitStack() as stack:
        public_key, attest = evidence_of(stack)
        verifier = Verifier(kind, public_key, reference)        # enrolled at manufacture
        nonce = verifier.challenge()
        appraisal = verifier.verify(attest(nonce), nonce)
    if args.log:
        for n, event in enumerate(appraisal.events):
            print(f"{n:3} {event.kind:6} {event.partition:20} parent={event.parent or '-':20} "
                  f"{event.digest.hex()[:16]}  {event.detail}")
    print(f"{name}: quote verified ({kind} root of trust, nonce "
          f"{nonce.hex()[:16]}..., {len(appraisal.events)} events replayed, "
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
        return exits.NO
    return 0


def _local(args):
    """Boot the manifest measured here: (its name, the root's kind, what gives the root's
    public key and an attest(nonce) within an ExitStack)."""
    if args.psk or args.keys:
        raise ValueError("--psk and --keys are for --device")
    manifest = load(args.image, args.arch)

    def evidence_of(stack):
        if args.root == "tpm":
            from pipsim.trust.rot_tpm import Swtpm, TpmRoot
            root = TpmRoot(args.tcti or stack.enter_context(Swtpm()).tcti)
            stack.callback(root.close)
        else:
            root = SoftwareRoot.generate(manifest.name)
        measurements = measured(manifest.name, root)
        boot(manifest, measurements)
        return root.public_key(), Attester(manifest.name, measurements).attest
    return manifest.name, args.root, evidence_of


def _remote(args):
    """Ask a running device as its owner: (its URI, "software", as ``_local``)."""
    if args.psk is None or args.keys is None:
        raise ValueError("--device needs --psk and --keys")
    if args.arch or args.root != "software" or args.tcti:
        raise ValueError("--arch, --root and --tcti are for booting an image here")
    key_file = Path(args.keys) / ATTESTATION_KEY
    try:
        public_key = CoseKey.from_bytes(key_file.read_bytes())
    except OSError as error:
        raise ValueError(f"--keys: cannot read {key_file} ({error.strerror})") from None

    def evidence_of(stack):
        servers = RemoteServers(args.device, args.psk, Path(args.keys))
        stack.callback(servers.close)
        if "owner" not in servers.issuers:
            raise ValueError(f"--keys {args.keys}: no owner.cose (the owner server's key)")
        ask = owner_ask(servers, "owner")

        def attest(nonce: bytes) -> bytes:
            answer = ask("execute", ATTEST, nonce)
            if answer["status"] >= 300:
                raise ValueError(f"{args.device} refused: {answer['reason']}: "
                                 f"{answer['value']}")
            return answer["value"]
        return public_key, attest
    return args.device, "software", evidence_of
