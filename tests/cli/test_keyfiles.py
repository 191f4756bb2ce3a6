"""Secrets on disk (pipsim.kernel.keyfiles): private keys, tokens and exported domain keys
are written 0600, whatever the file's mode was; their directories 0700."""
import os
import stat
from types import SimpleNamespace

import pytest

from pipsim.domains.serve import ATTESTATION_KEY, export_keys
from pipsim.kernel.cli import main
from pipsim.kernel.keyfiles import private_dir, write_private


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_write_private_creates_0600_and_narrows_an_existing_file(tmp_path):
    path = tmp_path / "secret"
    write_private(path, b"one")
    assert mode(path) == 0o600
    with pytest.raises(FileExistsError):
        write_private(path, b"two")
    path.chmod(0o644)
    write_private(path, b"three", replace=True)
    assert (mode(path), path.read_bytes()) == (0o600, b"three")


def test_private_dir_creates_and_narrows(tmp_path):
    assert mode(private_dir(tmp_path / "a" / "b")) == 0o700
    (tmp_path / "open").mkdir(mode=0o755)
    assert mode(private_dir(tmp_path / "open")) == 0o700


def test_token_keygen_and_issue_write_their_secrets_0600(tmp_path, capsys):
    key, public, token = tmp_path / "k.cose", tmp_path / "k.pub", tmp_path / "t.cwt"
    key.write_bytes(b"")
    key.chmod(0o644)                                   # an old file, readable by others
    assert main(["token", "keygen", "--alg", "EdDSA", "--kid", "k", "--out", str(key),
                 "--public-out", str(public)]) == 0
    assert (mode(key), mode(public)) == (0o600, 0o644)
    assert main(["token", "issue", "--key", str(key), "--issuer", "i", "--audience", "a",
                 "--scope", "3/0:r", "--out", str(token)]) == 0
    assert mode(token) == 0o600 and token.stat().st_size > 0
    capsys.readouterr()


def test_serve_export_keys_writes_0600_in_a_0700_folder(tmp_path):
    key = SimpleNamespace(holder=7, kid=b"k")
    runtime = SimpleNamespace(lifecycle=SimpleNamespace(domain_of={7: "owner"}),
                              enrol=lambda holder, kid: b"secret")
    public = SimpleNamespace(to_bytes=lambda: b"public")
    image = SimpleNamespace(keys=[key], measurements=SimpleNamespace(
        root=SimpleNamespace(public_key=lambda: public)))
    folder = tmp_path / "keys"
    written = export_keys(runtime, image, folder)
    assert written == [folder / "owner.cose", folder / ATTESTATION_KEY]
    assert (mode(folder), mode(folder / "owner.cose")) == (0o700, 0o600)
