"""What pipsim needs from outside its own dependencies, in one table: the system tools (Debian
packages) some tests, benchmarks and commands drive, the optional Python extras (``dtls``,
``tpm``, ``zig``) and what building them takes.  For each: what it is, what needs it, how to get it.

Without one, what needs it says so in one line and the rest goes on: the tests skip with that
line (tests/outside.py), the commands refuse with it (:func:`require`), setup prints it.

Run as a script (stdlib only, before the package is installed; tools/setup-system.sh and the
Makefile do; -P: its folder's modules must not shadow the standard library's)::

    python3 -P pipkernel/needs.py debian        # the Debian packages of what is missing
    python3 -P pipkernel/needs.py explain       # one line per missing thing
    python3 -P pipkernel/needs.py extras test   # "test" and the extras that can be built here
"""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from dataclasses import dataclass

if __package__:
    from .errors import PipsimError
else:                   # run as a script: nothing raises Missing there
    PipsimError = Exception


@dataclass(frozen=True)
class Need:
    """``name``: a command on PATH, a pkg-config module (``kind="pkg-config"``) or a Python
    module (``kind="module"``); ``source``: the Debian package, or the pipsim extra, that
    brings it; ``purpose``: what goes without it."""
    name: str
    source: str
    purpose: str
    kind: str = "command"

    def present(self) -> bool:
        if self.kind == "module":
            return importlib.util.find_spec(self.name) is not None
        if self.kind == "pkg-config":
            return shutil.which("pkg-config") is not None and subprocess.run(
                ["pkg-config", "--exists", self.name], check=False).returncode == 0
        return shutil.which(self.name) is not None

    @property
    def debian(self) -> bool:
        return self.kind != "module"

    def line(self) -> str:
        """The one line saying what is missing, how to get it and what goes without it."""
        how = (f"Debian {self.source}, needs root" if self.debian
               else f"pip install 'pipsim[{self.source}]'")
        return f"{self.name} missing ({how}): {self.purpose}"


_LIBCOAP = "the tests that drive libcoap's"
_DTLS_BUILD = "DTLSSocket (pipsim[dtls]) cannot be built: it builds tinydtls with autoconf"
_TPM_BUILD = "tpm2-pytss (pipsim[tpm]) cannot be built: it builds against the TSS"

NEEDS = {need.name: need for need in (
    Need("coap-client-openssl", "libcoap3-bin", f"{_LIBCOAP} DTLS client are skipped"),
    Need("coap-client-notls", "libcoap3-bin", f"{_LIBCOAP} plain CoAP client are skipped"),
    Need("coap-rd-notls", "libcoap3-bin", f"{_LIBCOAP} resource directory are skipped"),
    Need("curl", "curl", "the tests that call the management services over HTTPS are skipped"),
    Need("qemu-arm", "qemu-user", "make bench and its tests do not run the ARM programs on QEMU"),
    Need("qemu-i386", "qemu-user", "make bench and its tests do not run the x86 programs on "
         "QEMU"),
    Need("swtpm", "swtpm", "no TPM simulator: the TPM root of trust's tests and benchmark are "
         "skipped, pipsim attest --root tpm needs --tcti"),
    Need("gdb-multiarch", "gdb-multiarch", "the tests of pipsim run --gdb are skipped"),
    Need("cmake", "cmake", "the SDK's CMake toolchain-file test is skipped"),
    Need("arm-none-eabi-gcc", "gcc-arm-none-eabi", "the firmware is built with zig's clang "
         "(pipsim[zig], which make setup installs then)"),
    Need("autoreconf", "autoconf", _DTLS_BUILD),
    Need("automake", "automake", _DTLS_BUILD),
    Need("libtoolize", "libtool", _DTLS_BUILD),
    Need("pkg-config", "pkg-config", _TPM_BUILD),
    Need("tss2-esys", "libtss2-dev", _TPM_BUILD, "pkg-config"),
    Need("tss2-tcti-swtpm", "libtss2-dev", _TPM_BUILD, "pkg-config"),
    Need("DTLSSocket", "dtls", "no DTLS: pipsim serve and admin-server run with --plain only, "
         "pipsim fleet not at all; the tests and benchmark over DTLS are skipped", "module"),
    Need("tpm2_pytss", "tpm", "no TPM root of trust (pipsim attest --root tpm); its tests are "
         "skipped", "module"),
)}

# an extra: the Debian packages building it takes (and a C compiler)
EXTRAS = {"dtls": ("autoreconf", "automake", "libtoolize"),
          "tpm": ("pkg-config", "tss2-esys", "tss2-tcti-swtpm")}
# an extra that stands in for a Debian package when that is missing
INSTEAD = {"zig": "arm-none-eabi-gcc"}


class Missing(RuntimeError, PipsimError):
    """Something outside pipsim that a command needs is not there; the message is its line."""


def missing(*names: str) -> list[str]:
    """The lines of those of ``names`` (keys of ``NEEDS``) that are not there."""
    return [NEEDS[name].line() for name in names if not NEEDS[name].present()]


def require(*names: str) -> None:
    """Raise :class:`Missing` with the line of the first of ``names`` that is not there."""
    lines = missing(*names)
    if lines:
        raise Missing(lines[0])


def skipped(program: str, *names: str) -> str | None:
    """For a benchmark that goes on without some of ``names``: None if all are there, else
    "skipped: " and their lines, which ``program`` also says on standard error."""
    lines = missing(*names)
    if not lines:
        return None
    for line in lines:
        print(f"{program}: skipped: {line}", file=sys.stderr)
    return "skipped: " + "; ".join(lines)


def _main(argv: list[str]) -> int:
    absent = [need for need in NEEDS.values() if need.debian and not need.present()]
    if argv[:1] == ["debian"]:
        print(" ".join(dict.fromkeys(need.source for need in absent)))
    elif argv[:1] == ["explain"]:
        for need in absent:
            print(need.line())
    elif argv[:1] == ["extras"]:
        buildable = [extra for extra, names in EXTRAS.items()
                     if all(NEEDS[name].present() for name in names)]
        instead = [extra for extra, name in INSTEAD.items() if not NEEDS[name].present()]
        print(",".join(argv[1:] + buildable + instead))
    else:
        print("usage: needs.py debian | explain | extras [EXTRA...]", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
