"""The management PKI's files and certificates, and the access policy's loading."""
import stat
import subprocess
import sys

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from pipsim.management import pki
from pipsim.management.policy import Policy, PolicyError
from pipsim.management.service import Listen, ServiceError, server_context
from mgmt_helpers import issuing_key


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_private_keys_are_0600_in_0700_directories(pki_dir):
    assert mode(pki_dir) == 0o700 and mode(pki_dir / pki.CA_KEY) == 0o600
    for bundle in ("keystore", "alice"):
        assert mode(pki_dir / bundle) == 0o700 and mode(pki_dir / bundle / pki.KEY) == 0o600
        assert (pki_dir / bundle / pki.CA_CERT).read_bytes() == (pki_dir / pki.CA_CERT).read_bytes()


def test_server_and_client_certificates(pki_dir):
    def load(name):
        return x509.load_pem_x509_certificate((pki_dir / name / pki.CERT).read_bytes())
    server, client = load("keystore"), load("alice")
    assert server.subject.rfc4514_string() == "CN=keystore"
    hosts = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(ip) for ip in hosts.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
    assert hosts.get_values_for_type(x509.DNSName) == ["localhost"]
    usage = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usage) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert list(client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == \
        [ExtendedKeyUsageOID.CLIENT_AUTH]
    with pytest.raises(x509.ExtensionNotFound):
        client.extensions.get_extension_for_class(x509.SubjectAlternativeName)


def test_the_cli_refuses_what_it_cannot_do(tmp_path):
    def pipsim(*args):
        return subprocess.run([sys.executable, "-m", "pipsim.kernel.cli", "pki", *map(str, args)],
                              capture_output=True, text=True, timeout=60)
    directory = tmp_path / "ca"
    assert pipsim("issue", directory, "alice").stderr.count("holds no CA") == 1
    assert pipsim("init", directory).returncode == 0
    assert "already holds a CA" in pipsim("init", directory).stderr
    done = pipsim("issue", directory, "web", "--server", "127.0.0.1", "svc.example")
    assert done.returncode == 0 and (directory / "web" / pki.CERT).exists()
    assert "has a certificate already" in pipsim("issue", directory, "web").stderr
    for name in ("../x", "a b", "", "-x", "x" * 65):
        done = pipsim("issue", directory, name)
        assert done.returncode == 2 and "name" in done.stderr, name
    assert "neither an IP" in pipsim("issue", directory, "odd", "--server", "a/b").stderr


def test_a_bundle_with_a_readable_key_or_missing_files_is_refused(tmp_path):
    with pytest.raises(ServiceError, match="has no ca.pem, cert.pem, key.pem"):
        server_context(tmp_path)
    directory = pki.issue(pki.init(tmp_path / "ca"), "svc", [])
    (directory / pki.KEY).chmod(0o644)
    with pytest.raises(ServiceError, match="chmod 600"):
        server_context(directory)
    with pytest.raises(ServiceError, match="loopback"):
        Listen("0.0.0.0", 0, None)
    assert Listen("::1", 0, None).url(5) == "http://[::1]:5"


GOOD = """issuer = "owner-server"
key = "k.cose"
audience = "owner"
[[grant]]
client = "alice"
domain = "owner"
devices = ["*"]
operations = ["write"]
paths = ["3311/0"]
"""


@pytest.mark.parametrize("change, message", [
    (("issuer = \"owner-server\"\n", ""), "issuer must be"),
    (("k.cose", "missing.cose"), "missing.cose"),
    (('["write"]', '["fly"]'), "unknown operation"),
    (('["3311/0"]', '["3311/x"]'), "not a decimal id"),
    (('devices = ["*"]', 'devices = []'), "devices must be"),
    (('domain = "owner"\n', 'domain = "owner"\ncolour = 1\n'), "unknown field"),
    (("[[grant]]", "lifetime = -1\n[[grant]]"), "lifetime"),
    (("audience", "audience = "), "policy"),
    (("[[grant]]", "device_keys = 1\n[[grant]]"), "device_keys must be a table"),
    (("[[grant]]", '[device_keys]\ngw = "none.cose"\n[[grant]]'), "none.cose"),
    (("[[grant]]", '[device_keys]\ngw = 2\n[[grant]]'), "gw must be a non-empty string"),
])
def test_a_policy_file_names_what_is_wrong(tmp_path, change, message):
    issuing_key(tmp_path / "k.cose")
    path = tmp_path / "p.toml"
    path.write_text(GOOD)
    assert Policy.load(path).grants[0].paths == ((3311, 0),)
    path.write_text(GOOD.replace(*change, 1))
    with pytest.raises(PolicyError, match=message):
        Policy.load(path)


def test_a_policy_names_operations_as_d33_does(tmp_path):
    issuing_key(tmp_path / "k.cose")
    path = tmp_path / "p.toml"
    path.write_text(GOOD.replace('["write"]', '["exec", "read"]'))
    assert Policy.load(path).grants[0].operations == {"execute", "read"}


def test_a_policy_gives_a_device_its_own_key(tmp_path):
    """A fleet's domain server: each device's issuing key, ``key`` for the others."""
    issuing_key(tmp_path / "k.cose")
    issuing_key(tmp_path / "gw2.cose")
    path = tmp_path / "p.toml"
    path.write_text(GOOD.replace("[[grant]]", '[device_keys]\ngw2 = "gw2.cose"\n[[grant]]'))
    policy = Policy.load(path)
    assert policy.key_for("gw2") == policy.device_keys["gw2"] != policy.key
    assert policy.key_for("gateway") == policy.key
