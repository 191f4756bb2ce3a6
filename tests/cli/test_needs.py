"""pipsim.kernel.needs: what is missing is said in one line (what, how to get it, what goes
without it), by setup without root, and by the commands that need it."""
import glob
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from pipsim.kernel import cli
from pipsim.kernel.needs import EXTRAS, NEEDS, Missing, Need

SCRIPT = Path(__file__).resolve().parents[2] / "pipkernel" / "needs.py"


def needs_script(*args) -> str:
    """The script as setup runs it, on a PATH with none of the tools."""
    done = subprocess.run([sys.executable, "-P", str(SCRIPT), *args], capture_output=True,
                          text=True, env={"PATH": "/nonexistent"}, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_without_the_tools_setup_says_one_line_each_and_installs_no_extra():
    lines = needs_script("explain").splitlines()
    assert len(lines) == sum(need.debian for need in NEEDS.values())
    assert ("coap-client-openssl missing (Debian libcoap3-bin, needs root): the tests that "
            "drive libcoap's DTLS client are skipped") in lines
    assert needs_script("debian").split()[:2] == ["libcoap3-bin", "curl"]
    assert needs_script("extras", "test") == "test,zig\n"      # zig stands in for Debian's GCC
    assert set(EXTRAS) == {need.source for need in NEEDS.values() if not need.debian}


@pytest.fixture
def without(monkeypatch):
    """``without(name)``: NEEDS[name] is missing for the rest of the test."""
    def hide(name):
        present = Need.present
        monkeypatch.setattr(Need, "present", lambda need: need.name != name and present(need))
    return hide


def test_serve_over_dtls_refuses_naming_the_extra_before_booting(without, capsys):
    without("DTLSSocket")
    assert cli.main(["serve", "--bind", "127.0.0.1:5999", "--psk", "lc1:123456"]) == 2
    assert capsys.readouterr().err == (
        "pipsim: error: DTLSSocket missing (pip install 'pipsim[dtls]'): no DTLS: pipsim serve "
        "and admin-server run with --plain only, pipsim fleet not at all; the tests and "
        "benchmark over DTLS are skipped\n")


def test_the_tpm_root_refuses_naming_the_extra(without):
    from pipsim.trust.rot_tpm import TpmRoot
    without("tpm2_pytss")
    with pytest.raises(Missing, match=r"tpm2_pytss missing \(pip install 'pipsim\[tpm\]'\)"):
        TpmRoot("swtpm:host=127.0.0.1,port=1")


def test_the_firmware_toolchain_setup_as_non_root_says_one_line_and_goes_on():
    """firmware/setup-toolchain.sh without root and without GCC or cmake: one line naming what
    it does not install and what happens instead, status 0, nothing on stderr, and no apt-get
    (not on its PATH: trying it would fail the script)."""
    script = Path(__file__).resolve().parents[2] / "firmware" / "setup-toolchain.sh"
    as_nobody = [] if os.geteuid() else [shutil.which("setpriv"), "--reuid=65534",
                                         "--regid=65534", "--clear-groups"]
    with tempfile.TemporaryDirectory() as folder:        # pytest's tmp_path is root's, 0700
        os.chmod(folder, 0o755)
        for tool in ("sh", "ls", "id", "grep", "dirname", "mktemp", "rm"):
            Path(folder, tool).symlink_to(shutil.which(tool))
        done = subprocess.run([*as_nobody, str(Path(folder, "sh")), str(script)],
                              capture_output=True, text=True, env={"PATH": folder}, timeout=60)
    newlib = glob.glob("/usr/src/newlib/newlib-*.tar.*")         # not hidden here
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines() == [
        "setup-toolchain: not root, so not installing gcc-arm-none-eabi binutils-arm-none-eabi "
        "lib32gcc-12-dev" + ("" if newlib else " newlib-source") + " cmake; the firmware is "
        "built with zig's clang (pipsim[zig])"
        + ("" if newlib else "; newlib's source is fetched by apt-get download")
        + "; the SDK's CMake test is skipped"]
