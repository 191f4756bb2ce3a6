"""pipsim token keygen|issue|inspect|verify, run in-process."""
import argparse
import io
from contextlib import redirect_stderr, redirect_stdout

import pytest

from pipsim.kernel.cli import main
from pipsim.tokens.cli import register

from token_vectors import NOW, RFC8392_A2_3_KEY, RFC8392_A3_SIGNED


def run(*argv):
    """(exit status, stdout) of ``pipsim ARGV``; bad input: (2, its one-line error on stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main(list(argv))
    if status == 2:
        assert out.getvalue() == "" and err.getvalue().startswith("pipsim: error: ")
        assert err.getvalue().count("\n") == 1 and "Traceback" not in err.getvalue()
        return status, err.getvalue()
    assert err.getvalue() == ""
    return status, out.getvalue()


@pytest.fixture
def keys(tmp_path):
    hmac_key, es_key, es_pub = (str(tmp_path / name) for name in ("k.cose", "es.cose", "es.pub"))
    assert run("token", "keygen", "--kid", "owner", "--out", hmac_key)[0] == 0
    assert run("token", "keygen", "--kid", "es", "--alg", "ES256", "--out", es_key, "--public-out", es_pub)[0] == 0
    return hmac_key, es_key, es_pub


def issue(key, *extra):
    status, out = run("token", "issue", "--key", key, "--issuer", "owner", "--audience", "dom1",
                      "--scope", "26261/0/7:w", "--now", str(NOW), *extra)
    assert status == 0
    return out.strip()


def verify(token, key, *extra):
    return run("token", "verify", token, "--key", key, "--audience", "dom1", "--issuer", "owner",
               "--now", str(NOW + 1), *extra)


def test_register_adds_token_command():
    parser = argparse.ArgumentParser(prog="pipsim")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["token", "inspect", "00"])
    assert args.func and args.token_command == "inspect"


def test_keygen_prints_hex_by_default():
    status, out = run("token", "keygen", "--kid", "x", "--alg", "EdDSA")
    assert status == 0 and bytes.fromhex(out.strip())


def test_keygen_rejects_public_out_for_symmetric(tmp_path):
    status, out = run("token", "keygen", "--kid", "x", "--public-out", str(tmp_path / "p"))
    assert status == 2 and "symmetric" in out


def test_issue_verify_hmac(keys):
    token = issue(keys[0])
    status, out = verify(token, keys[0], "--operation", "write", "--resource", "26261/0/7")
    assert status == 0 and out.startswith("valid") and 'scope: "26261/0/7:w"' in out


def test_issue_with_es256_verify_with_public_key(keys):
    token = issue(keys[1], "--cwt-tag")
    assert token.startswith("d83dd2")
    assert verify(token, keys[2])[0] == 0
    status, out = verify(token, keys[2], "--operation", "delete", "--resource", "26261/0/7")
    assert status == 1 and "out_of_scope" in out


def test_issue_untagged_to_file(keys, tmp_path):
    path = str(tmp_path / "t.bin")
    status, out = run("token", "issue", "--key", keys[0], "--issuer", "owner", "--audience", "dom1",
                      "--scope", "1:r", "--untagged", "--out", path)
    assert status == 0 and "wrote" in out
    assert open(path, "rb").read()[0] == 0x84
    status, out = run("token", "inspect", path)
    assert status == 0 and "untagged" in out


def test_verify_rejections(keys):
    token = issue(keys[0], "--lifetime", "10")
    status, out = run("token", "verify", token, "--key", keys[0], "--audience", "dom1", "--issuer", "owner",
                      "--now", str(NOW + 100))
    assert status == 1 and out.startswith("invalid: expired")
    status, out = verify(token, keys[1])
    assert status == 1 and "unknown_key" in out
    status, out = verify(token, keys[0], "--operation", "frob", "--resource", "1")
    assert status == 2 and "unknown operation" in out


def test_inspect_shows_diagnostic_claims_and_verification(keys):
    token = issue(keys[0])
    status, out = run("token", "inspect", token, "--key", keys[0])
    assert status == 0
    assert "CBOR: 17([h'a10104', {4: h'6f776e6572'}" in out
    assert 'iss: "owner"' in out and "exp: 1800000300 (2027-01-15" in out
    assert "verifies with key h'6f776e6572': yes" in out
    status, out = run("token", "inspect", token, "--key", keys[1])
    assert status == 1 and "verifies with key h'6573': no (unsupported_algorithm" in out


def test_inspect_rfc8392_a3_with_hex_key():
    status, out = run("token", "inspect", RFC8392_A3_SIGNED.hex(), "--key", RFC8392_A2_3_KEY.hex())
    assert status == 0 and 'sub: "erikw"' in out and "cti: h'0b71'" in out and ": yes" in out


@pytest.mark.parametrize("token, words", [
    ("zz", "neither a file nor hex"),
    ("ff", "not acceptable CBOR"),
    ("83010203", "rejected: malformed"),
    ("d18443a10104a0430102034100", "claims: rejected: malformed"),
])
def test_inspect_bad_tokens(token, words):
    status, out = run("token", "inspect", token)
    assert status in (1, 2) and words in out


def test_bad_key_input(keys):
    status, out = run("token", "issue", "--key", "a0", "--issuer", "o", "--audience", "d", "--scope", "1:r")
    assert status == 2 and "kty" in out
    status, out = run("token", "issue", "--key", keys[0], "--issuer", "o", "--audience", "d", "--scope", "1")
    assert status == 2 and "path:ops" in out


def test_a_token_bound_to_a_command_verifies_for_it_only(keys, tmp_path):
    """--command binds the token (its cmd claim) to a D3.3 command; verify with another
    command says command_mismatch; a command without its fields is refused clearly."""
    import json
    command = {"id": 4, "domain": "dom1", "device": "gateway", "value": {"name": "c"},
               "operation": {"code": "write", "objectId": 26261, "objectInstanceId": 0,
                             "resourceId": 7}}
    path = tmp_path / "command.json"
    path.write_text(json.dumps(command))
    token = issue(keys[0], "--command", str(path))
    verify = ("token", "verify", token, "--key", keys[0], "--audience", "dom1", "--issuer",
              "owner", "--now", str(NOW), "--operation", "write", "--resource", "26261/0/7")
    assert run(*verify, "--command", json.dumps({**command, "id": 5}))[0] == 0   # id not covered
    changed = {**command, "value": {"name": "d"}}
    status, out = run(*verify, "--command", json.dumps(changed))
    assert status == 1 and "command_mismatch" in out
    status, err = run(*verify, "--command", '{"domain": "dom1"}')
    assert status == 2 and "--command: a command is a map" in err
