"""The Keystore Manager (D3.3 §4.1) driven by curl: over mutual TLS and --insecure-local."""
import base64
import os
import stat
import subprocess
import sys

import pytest

from pipsim.management.keystore import KEY_EXISTS
from pipsim.tokens import CoseKey
from pipsim.tokens.keys import K

from mgmt_helpers import keystore_env

VERIFIED = "Keystore Manager RESTApi successfully started"


@pytest.fixture
def keystore(services, pki_dir, tmp_path):
    return services("keystore", "--tls", pki_dir / "keystore", "--store", tmp_path / "store",
                    "--admin", "admin", "--reader", "owner-tg", env=keystore_env())


def key_of(answer) -> CoseKey:
    body = answer.json()
    return CoseKey.from_bytes(base64.urlsafe_b64decode(body["key"] + "=" * (-len(body["key"]) % 4)))


def test_every_endpoint_as_d33_lists_it(keystore, curl):
    url = keystore.url
    assert url.startswith("https://127.0.0.1:")
    verify = curl(f"{url}/verify")
    assert (verify.status, verify.text) == (200, VERIFIED)
    assert verify.content_type.startswith("text/plain")
    assert curl(f"{url}/keys").json() == {"aliases": []}
    created = curl(f"{url}/keys/orange", as_="admin", method="POST")
    assert created.status == 201
    again = curl(f"{url}/keys/orange", as_="admin", method="POST")
    assert (again.status, again.text) == (403, KEY_EXISTS)
    assert again.content_type.startswith("text/plain")
    assert curl(f"{url}/keys/nextel", as_="admin", method="POST").status == 201
    listed = curl(f"{url}/keys")
    assert (listed.status, listed.json()) == (200, {"aliases": ["nextel", "orange"]})
    got = curl(f"{url}/keys/orange", as_="admin")
    assert got.status == 200 and got.json()["alias"] == "orange"
    key = key_of(got)
    assert key.kid == b"orange" and key.is_symmetric and key.alg.name == "HMAC 256/256"
    assert key_of(curl(f"{url}/keys/orange", as_="admin")).to_bytes() == key.to_bytes()  # the same key
    none = curl(f"{url}/keys/device_1", as_="admin")
    assert (none.status, none.body) == (204, b"")


def test_who_may_create_and_read_which_key(keystore, curl):
    url = keystore.url
    assert curl(f"{url}/keys/orange", as_="admin", method="POST").status == 201
    # a caller's own alias: create and read it; another's: neither
    assert curl(f"{url}/keys/bob", as_="bob", method="POST").status == 201
    assert curl(f"{url}/keys/bob", as_="bob").status == 200
    for method in ("GET", "POST"):
        refused = curl(f"{url}/keys/orange", as_="bob", method=method)
        assert refused.status == 403 and "'bob' may not" in refused.text
    refused = curl(f"{url}/keys/nobody-yet", as_="bob")          # refused before it is looked up
    assert refused.status == 403
    # a reader (the token generator) reads every key, creates none
    assert curl(f"{url}/keys/orange", as_="owner-tg").status == 200
    assert curl(f"{url}/keys/other", as_="owner-tg", method="POST").status == 403
    assert curl(f"{url}/keys").json() == {"aliases": ["bob", "orange"]}


def test_a_caller_without_a_certificate_of_the_ca_gets_nothing(keystore, curl, foreign_pki):
    url = keystore.url
    curl(f"{url}/keys/orange", as_="admin", method="POST")
    for attempt in (dict(as_=None), dict(as_="admin", cert_ca=foreign_pki)):
        done = curl.run(f"{url}/keys/orange", **attempt)
        assert done.returncode != 0 and done.body == b"" and not done.stdout.startswith(("2", "4", "5"))
    plain = curl.run(url.replace("https://", "http://") + "/keys/orange", as_=None)
    assert plain.stdout.split(" ")[0] in ("000", "400") and b"orange" not in plain.body
    assert curl(f"{url}/verify").status == 200 and keystore.running


def test_bad_requests_are_refused_and_the_service_goes_on(keystore, curl):
    url = keystore.url
    bad = curl(f"{url}/keys/a%2Fb", as_="admin", method="POST")
    assert bad.status == 400 and "alias" in bad.text
    assert curl(f"{url}/keys/{'x' * 65}", as_="admin").status == 400
    assert curl(f"{url}/keys/orange", as_="admin", method="DELETE").status == 405
    assert curl(f"{url}/nothing-here").status == 404
    assert curl(f"{url}/keys").json() == {"aliases": []}
    assert curl(f"{url}/verify").text == VERIFIED


def test_keys_at_rest_are_encrypted_0600_files(keystore, curl, tmp_path):
    url = keystore.url
    curl(f"{url}/keys/orange", as_="admin", method="POST")
    secret = key_of(curl(f"{url}/keys/orange", as_="admin")).to_map()[K]
    store = tmp_path / "store"
    assert stat.S_IMODE(store.stat().st_mode) == 0o700
    files = list(store.iterdir())
    assert {f.name for f in files} == {"kek.salt", "kek.check", b"orange".hex() + ".key"}
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        data = path.read_bytes()
        assert secret not in data and b"orange" not in data


def test_an_altered_record_is_a_500_and_the_service_goes_on(services, pki_dir, curl, tmp_path):
    store = tmp_path / "store"
    args = ("--tls", pki_dir / "keystore", "--store", store, "--admin", "admin")
    first = services("keystore", *args, env=keystore_env())
    curl(f"{first.url}/keys/orange", as_="admin", method="POST")
    curl(f"{first.url}/keys/nextel", as_="admin", method="POST")
    first.stop()
    record = store / (b"orange".hex() + ".key")
    data = bytearray(record.read_bytes())
    data[-1] ^= 1
    record.write_bytes(bytes(data))
    url = services("keystore", *args, env=keystore_env()).url
    failed = curl(f"{url}/keys/orange", as_="admin")
    assert failed.status == 500 and "altered" in failed.text
    # another alias's record copied under this name does not open either
    record.write_bytes((store / (b"nextel".hex() + ".key")).read_bytes())
    assert curl(f"{url}/keys/orange", as_="admin").status == 500
    assert curl(f"{url}/keys/nextel", as_="admin").status == 200
    assert curl(f"{url}/verify").status == 200


def test_a_wrong_or_missing_passphrase_is_refused_at_start(tmp_path, pki_dir, services, curl):
    store = tmp_path / "store"
    first = services("keystore", "--tls", pki_dir / "keystore", "--store", store, "--admin", "admin",
                     env=keystore_env())
    curl(f"{first.url}/keys/orange", as_="admin", method="POST")
    first.stop()
    for env in (keystore_env("not the passphrase"), {k: v for k, v in os.environ.items()
                                                     if k != "PIPSIM_KEYSTORE_PASSPHRASE"}):
        done = subprocess.run([sys.executable, "-m", "pipsim.kernel.cli", "keystore", "--bind", "127.0.0.1:0",
                               "--tls", pki_dir / "keystore", "--store", store], env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and "passphrase" in done.stderr, done.stderr
    again = services("keystore", "--tls", pki_dir / "keystore", "--store", store, "--admin", "admin",
                     env=keystore_env())
    assert curl(f"{again.url}/keys").json() == {"aliases": ["orange"]}     # kept across restarts


def test_insecure_local_serves_plain_http_on_loopback_only(services, tmp_path, curl):
    keystore = services("keystore", "--insecure-local", "--store", tmp_path / "store", env=keystore_env())
    url = keystore.url
    assert url.startswith("http://127.0.0.1:")
    assert "WARNING" in keystore.output and "not authenticated" in keystore.output
    assert curl(f"{url}/verify", as_=None).text == VERIFIED
    assert curl(f"{url}/keys/orange", as_=None, method="POST").status == 201
    assert curl(f"{url}/keys/orange", as_=None, method="POST").text == KEY_EXISTS
    assert key_of(curl(f"{url}/keys/orange", as_=None)).kid == b"orange"
    assert curl(f"{url}/keys/none", as_=None).status == 204
    assert curl(f"{url}/keys", as_=None).json() == {"aliases": ["orange"]}
    for bind in ("0.0.0.0:0", "192.0.2.1:0"):
        done = subprocess.run([sys.executable, "-m", "pipsim.kernel.cli", "keystore", "--insecure-local",
                               "--bind", bind, "--store", tmp_path / "other"], env=keystore_env(),
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and "loopback" in done.stderr, done.stderr
    assert not (tmp_path / "other").exists()


def test_sigterm_is_a_clean_shutdown(services, tmp_path):
    keystore = services("keystore", "--insecure-local", "--store", tmp_path / "store", env=keystore_env())
    assert keystore.stop() == 0
    assert "Traceback" not in keystore.output
