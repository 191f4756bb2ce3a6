"""pipsim.kernel.needs: what is missing is said in one line (what, how to get it, what goes
without it), by setup without root, and by the commands that need it."""
import subprocess
import sys
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
