"""Helpers of the trust tests: policies, copies of the built firmware images, tampering."""
import shutil
from pathlib import Path

from elftools.elf.elffile import ELFFile

BUILD = Path(__file__).resolve().parents[2] / "firmware" / "build"
POLICY = BUILD / "trust" / "policy.toml"     # the build's (firmware/tools/devtrust.py)

def write_policy(folder: Path, signers) -> Path:
    """signers: [(key, role, grants or None)] -> folder/policy.toml."""
    lines = []
    for key, role, grants in signers:
        name = f"{key.kid.decode()}.pub.cose"
        key.save(folder / name, private=False)
        lines.append(f'[[signer]]\nkid = "{key.kid.decode()}"\nrole = "{role}"\nkey = "{name}"\n'
                     + ("" if grants is None else "grants = [" + ", ".join(f'"{g}"' for g in grants)
                        + "]\n"))
    path = folder / "policy.toml"
    path.write_text("\n".join(lines))
    return path


def copy_image(tmp_path, arch: str, name: str = "store_app", signature: bool = False) -> Path:
    """A copy of a built firmware image (and, asked, of its build-time signature)."""
    folder = tmp_path / arch
    folder.mkdir(exist_ok=True)
    target = folder / f"{name}.elf"
    shutil.copy(BUILD / arch / f"{name}.elf", target)
    if signature:
        shutil.copy(BUILD / arch / f"{name}.elf.sig", folder / f"{name}.elf.sig")
    return target


def flip_rodata(path: Path) -> None:
    """Flip one byte of the image's .rodata, as the issue's attacker did."""
    with open(path, "rb") as handle:
        offset = ELFFile(handle).get_section_by_name(".rodata")["sh_offset"]
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))
