"""``pipsim image sign|verify|inspect``: signed images on the command line (docs/trust.md).

Keys are COSE_Key files (``pipsim token keygen --alg EdDSA``).  A refused image is a result:
exit status 1; bad input (a key, a policy, a flag) is ``pipsim: error: ...``, exit status 2."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipsim.kernel import elf, exits
from pipsim.kernel.argtypes import count
from pipsim.kernel.errors import PipsimError
from pipsim.tokens.keys import CoseKey

from . import image
from .image import ImageRefused
from .policy import ROLES, load


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``image`` command (sign, verify, inspect) to an argparse subparsers object."""
    parser = subparsers.add_parser("image", help="sign, verify and inspect signed images",
                                   description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="image_command", metavar="COMMAND", required=True)

    sign = commands.add_parser("sign", help="sign an image (ELF or package directory)")
    sign.add_argument("image", help="an ELF file or a package directory")
    sign.add_argument("--key", required=True, help="the signer's COSE_Key file (EdDSA or ES256)")
    sign.add_argument("--role", choices=ROLES, default=ROLES[0],
                      help="developer (writes the metadata) or authority (countersigns it)")
    sign.add_argument("--name", help="the image's name (developer; default: the file's stem)")
    sign.add_argument("--version", type=count, help="its version, a whole number (developer)")
    sign.add_argument("--arch", choices=image.ARCHES,
                      help="its architecture (developer; default: an ELF's own)")
    sign.add_argument("--permission", action="append", default=[],
                      help="a permission it requests (repeatable; docs/trust.md)")

    verify = commands.add_parser("verify", help="check an image against a trust policy")
    verify.add_argument("image")
    verify.add_argument("--policy", required=True, help="the trust policy (TOML)")
    verify.add_argument("--arch", required=True, choices=image.ARCHES, help="the machine's")
    verify.add_argument("--minimum-version", type=count, default=0,
                        help="refuse an older version (the installed one: rollback protection)")
    verify.add_argument("--name", help="the name it must be signed as")

    inspect = commands.add_parser("inspect", help="print an image's metadata and signers")
    inspect.add_argument("image")
    parser.set_defaults(func=run)
    return parser


def run(args, out=None) -> int:
    """Handle a parsed ``image`` command: 0 done / valid, 1 the image is refused."""
    out = out or sys.stdout
    try:
        return _COMMANDS[args.image_command](args, out)
    except ImageRefused as refused:
        print(f"refused ({refused.reason}): {refused.detail}", file=out)
        return exits.NO


def _sign(args, out) -> int:
    key = CoseKey.from_bytes(Path(args.key).read_bytes())
    fields = {}
    if args.role == "developer":
        if args.version is None:
            raise PipsimError("a developer's signature needs --version")
        arch = args.arch or (None if Path(args.image).is_dir() else elf.arch_of(args.image))
        if arch is None:
            raise PipsimError("a package's signature needs --arch")
        fields = dict(name=args.name or Path(args.image).stem, version=args.version, arch=arch,
                      permissions=tuple(args.permission))
    elif args.name or args.version is not None or args.arch or args.permission:
        raise PipsimError("an authority countersigns the developer's metadata: no --name, "
                          "--version, --arch or --permission")
    path = image.sign(args.image, key, args.role, **fields)
    print(f"signed {args.image} as {args.role} {key.kid.decode(errors='replace')!r}: {path}",
          file=out)
    return 0


def _describe(metadata: image.Metadata, out) -> None:
    print(f"name: {metadata.name}\nversion: {metadata.version}\narch: {metadata.arch}\n"
          f"kind: {metadata.kind}\npermissions: {', '.join(metadata.permissions) or 'none'}\n"
          f"digest: {metadata.digest.hex()}", file=out)


def _verify(args, out) -> int:
    verified = image.verify(args.image, load(args.policy), arch=args.arch,
                            minimum_version=args.minimum_version, name=args.name)
    print(f"valid: {args.image}", file=out)
    _describe(verified.metadata, out)
    for role, kid in verified.signers.items():
        print(f"{role}: {kid.decode(errors='replace')!r}", file=out)
    return 0


def _inspect(args, out) -> int:
    metadata, signers, matches = image.inspect(args.image)
    _describe(metadata, out)
    for role, kid in signers.items():
        print(f"{role}: {'not signed' if kid is None else repr(kid.decode(errors='replace'))}",
              file=out)
    print(f"digest check: {'matches' if matches else 'MISMATCH (the image changed since it was signed)'}",
          file=out)
    return 0 if matches else 1


_COMMANDS = {"sign": _sign, "verify": _verify, "inspect": _inspect}
