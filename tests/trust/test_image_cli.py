"""pipsim image sign|verify|inspect, run in-process: exit 0 done / valid, 1 refused, 2 bad
input (one ``pipsim: error:`` line)."""
import io
import os
import stat
from contextlib import redirect_stderr, redirect_stdout

import pytest

from pipsim.kernel.cli import main
from trust_helpers import copy_image, flip_rodata


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main([str(a) for a in argv])
    if status == 2:
        assert out.getvalue() == "" and err.getvalue().startswith("pipsim: error: ")
        assert err.getvalue().count("\n") == 1
        return status, err.getvalue()
    assert err.getvalue() == ""
    return status, out.getvalue()


@pytest.fixture
def setup(tmp_path):
    """Keys made with pipsim token keygen, a policy trusting them, an arm image."""
    for kid, alg in (("dev", "EdDSA"), ("auth", "ES256")):
        status, said = run("token", "keygen", "--alg", alg, "--kid", kid, "--out",
                           tmp_path / f"{kid}.cose", "--public-out", tmp_path / f"{kid}.pub")
        assert status == 0 and "(mode 0600)" in said
    (tmp_path / "policy.toml").write_text(
        '[[signer]]\nkid = "dev"\nrole = "developer"\nkey = "dev.pub"\n\n'
        '[[signer]]\nkid = "auth"\nrole = "authority"\nkey = "auth.pub"\ngrants = ["device:*"]\n')
    return tmp_path, copy_image(tmp_path, "arm", "temp_driver")


def test_private_key_files_are_owner_only(setup):
    folder, _ = setup
    assert stat.S_IMODE(os.stat(folder / "dev.cose").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(folder / "dev.pub").st_mode) == 0o644


def test_sign_inspect_verify(setup):
    folder, elf = setup
    policy = folder / "policy.toml"
    status, said = run("image", "sign", elf, "--key", folder / "dev.cose", "--version", 2,
                       "--permission", "ipc", "--permission", "device:temperature")
    assert status == 0 and "signed" in said and said.strip().endswith("temp_driver.elf.sig")
    status, said = run("image", "verify", elf, "--policy", policy, "--arch", "arm")
    assert status == 1 and said.startswith("refused (not_granted): 'device:temperature' is "
                                           "privileged: it needs an authority's signature")
    assert run("image", "sign", elf, "--key", folder / "auth.cose", "--role", "authority")[0] == 0
    status, said = run("image", "verify", elf, "--policy", policy, "--arch", "arm",
                       "--minimum-version", 2)
    assert status == 0 and said.startswith("valid: ")
    assert "name: temp_driver\nversion: 2\narch: arm\n" in said and "authority: 'auth'" in said
    status, said = run("image", "inspect", elf)
    assert status == 0 and "developer: 'dev'" in said and "digest check: matches" in said
    status, said = run("image", "verify", elf, "--policy", policy, "--arch", "arm",
                       "--minimum-version", 3)
    assert status == 1 and said.startswith("refused (rollback)")
    status, said = run("image", "verify", elf, "--policy", policy, "--arch", "x86")
    assert status == 1 and said.startswith("refused (wrong_arch)")
    flip_rodata(elf)
    status, said = run("image", "inspect", elf)
    assert status == 1 and "digest check: MISMATCH" in said
    status, said = run("image", "verify", elf, "--policy", policy, "--arch", "arm")
    assert status == 1 and said.startswith("refused (digest_mismatch)")


def test_an_unsigned_image(setup):
    folder, elf = setup
    assert run("image", "inspect", elf) == (1, f"refused (unsigned): no signature file {elf}.sig\n")


@pytest.mark.parametrize("extra, what", [
    (["--role", "developer"], "needs --version"),
    (["--role", "authority", "--version", "3"], "countersigns the developer's metadata"),
    (["--version", "1", "--arch", "x86"], "built for arm, not x86"),
    (["--version", "1", "--permission", "root"], "unknown permission 'root'"),
])
def test_bad_sign_input(setup, extra, what):
    folder, elf = setup
    status, said = run("image", "sign", elf, "--key", folder / "dev.cose", *extra)
    assert status == 2 and what in said
    assert not (folder / "arm" / "temp_driver.elf.sig").exists()


def test_a_bad_policy_is_bad_input(setup):
    folder, elf = setup
    run("image", "sign", elf, "--key", folder / "dev.cose", "--version", 1)
    (folder / "policy.toml").write_text('[[signer]]\nkid = "dev"\nrole = "root"\nkey = "dev.pub"\n')
    status, said = run("image", "verify", elf, "--policy", folder / "policy.toml", "--arch", "arm")
    assert status == 2 and "'root' is not one of developer, authority" in said
