"""The development chain of trust of the firmware build (docs/trust.md "Build"):

    devtrust.py keys DIR                       a developer and an authority EdDSA key pair
                                               and DIR/policy.toml trusting them (kept when
                                               there; private keys mode 0600, never committed)
    devtrust.py sign DIR IMAGE NAME VERSION ARCH [PERMISSION ...]
                                               the developer signs IMAGE; the authority
                                               countersigns it when a permission is privileged
"""
import sys
from pathlib import Path

from pipsim.tokens.keys import EDDSA, CoseKey
from pipsim.trust import image, permissions
from pipsim.trust.policy import AUTHORITY, DEVELOPER

KIDS = {DEVELOPER: "firmware-developer", AUTHORITY: "platform-authority"}
GRANTS = {DEVELOPER: list(permissions.PUBLIC), AUTHORITY: ["device:*", "partitions", "network"]}


def keys(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for role, kid in KIDS.items():
        private = folder / f"{role}.cose"
        if not private.exists():
            key = CoseKey.generate(EDDSA, kid.encode())
            key.save(private)
            key.save(folder / f"{role}.pub.cose", private=False)
        entries.append(f'[[signer]]\nkid = "{kid}"\nrole = "{role}"\nkey = "{role}.pub.cose"\n'
                       f"grants = {GRANTS[role]!r}\n".replace("'", '"'))
    (folder / "policy.toml").write_text("# the firmware build's development trust policy "
                                        "(firmware/tools/devtrust.py)\n\n" + "\n".join(entries))


def sign(folder: Path, path: str, name: str, version: str, arch: str, *asked: str) -> None:
    def key(role):
        return CoseKey.from_bytes((folder / f"{role}.cose").read_bytes())
    image.sign(path, key(DEVELOPER), DEVELOPER, name=name, version=int(version), arch=arch,
               permissions=asked)
    if any(map(permissions.privileged, asked)):
        image.sign(path, key(AUTHORITY), AUTHORITY)


if __name__ == "__main__":
    command, folder, *rest = sys.argv[1:]
    {"keys": keys, "sign": sign}[command](Path(folder), *rest)
