"""The whole token path in Python: a ciphered command, a token from the generator (over mutual
TLS, the key from the keystore), the token validated bound to the same command."""
import asyncio
import base64
import datetime
import time

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pipsim.management import pki, service
from pipsim.management.command_request import MAX_AGE, Receiver, RequestError, build, from_b64url
from pipsim.management.keystore import Access, KeystoreClient, application
from pipsim.management.policy import Policy
from pipsim.management.token_service import generator
from pipsim.tokens import ES256, HMAC_256_256, CoseKey, KeyVault, TokenError, Validator, binding
from mgmt_helpers import issuing_key

LAMP = {"id": 7, "domain": "owner", "device": "gateway", "value": 1,
        "operation": {"code": "write", "objectId": 3311, "objectInstanceId": 0, "resourceId": 5850}}


def write_policy(tmp_path):
    key = issuing_key(tmp_path / "owner-server.cose")
    (tmp_path / "policy.toml").write_text(
        'issuer = "owner-server"\nkey = "owner-server.cose"\naudience = "owner"\n'
        '[[grant]]\nclient = "alice"\ndomain = "owner"\ndevices = ["*"]\n'
        'operations = ["write"]\npaths = ["3311"]\n')
    return Policy.load(tmp_path / "policy.toml"), key


def test_a_token_for_a_ciphered_command_validates_bound_to_it(tmp_path, pki_dir):
    policy, issuing = write_policy(tmp_path)
    vault = KeyVault()
    owner_key = vault.generate("owner", HMAC_256_256)

    async def chain():
        keystore_app = application(vault, Access(readers=frozenset({"owner-tg"})))
        async with service.listening(keystore_app, service.Listen("127.0.0.1", 0, pki_dir / "keystore"),
                                     "keystore") as keystore_url:
            tokens_app = generator(policy, KeystoreClient(keystore_url, pki_dir / "owner-tg"))
            async with service.listening(tokens_app, service.Listen("127.0.0.1", 0, pki_dir / "owner-tg"),
                                         "token-generator") as url:
                async with service.client_session(pki_dir / "alice") as session:
                    request = {"domain": "owner", "cipheredCommand": build(owner_key, LAMP)}
                    async with session.post(f"{url}/token", json=request) as answer:
                        assert answer.status == 200, await answer.text()
                        return from_b64url((await answer.json())["token"], "token")

    token = asyncio.run(chain())
    device_vault = KeyVault()
    device_vault.add(issuing)
    validator = Validator(device_vault, "owner", {"owner-server": ["owner-server"]})
    with pytest.raises(TokenError) as changed:
        validator.validate(token, operation="write", resource="3311/0/5850",
                           command=binding.digest_of({**LAMP, "value": 0}))
    assert changed.value.reason == "command_mismatch"
    claims = validator.validate(token, operation="write", resource="3311/0/5850",
                                command=binding.digest_of(LAMP))
    assert (claims.sub, claims.scope) == ("alice", "3311/0/5850:w")


def test_the_service_refuses_a_server_without_a_certificate_of_the_ca(tmp_path, pki_dir, foreign_pki):
    """The client side checks the service too: a server of another CA gets no request."""
    async def attempt():
        app = application(KeyVault(), Access())
        async with service.listening(app, service.Listen("127.0.0.1", 0, pki_dir / "keystore"), "k") as url:
            async with service.client_session(foreign_pki / "alice") as session:
                with pytest.raises(Exception) as failed:
                    await session.get(f"{url}/verify")
                return failed.value
    assert isinstance(asyncio.run(attempt()), aiohttp.ClientConnectorCertificateError)


# -- the ciphered request itself ---------------------------------------------------------------

def test_a_request_opens_once_under_its_key_only():
    key = CoseKey.generate(HMAC_256_256, b"owner")
    text = build(key, LAMP)
    receiver = Receiver()
    request = receiver.open(key, text)
    assert request.command.path == (3311, 0, 5850) and request.command.digest() == binding.digest_of(LAMP)
    with pytest.raises(RequestError, match="sent before"):
        receiver.open(key, text)
    with pytest.raises(RequestError, match="does not decrypt"):
        Receiver().open(CoseKey.generate(HMAC_256_256, b"owner"), text)
    with pytest.raises(RequestError, match="under key"):
        Receiver().open(CoseKey.generate(HMAC_256_256, b"other"), text)


def test_every_altered_byte_is_refused():
    key = CoseKey.generate(HMAC_256_256, b"owner")
    raw = from_b64url(build(key, LAMP), "x")
    for i in range(len(raw)):
        altered = bytearray(raw)
        altered[i] ^= 0x40
        with pytest.raises(RequestError):
            Receiver().open(key, base64.urlsafe_b64encode(bytes(altered)).decode())


def test_a_stale_or_future_request_is_refused():
    key = CoseKey.generate(HMAC_256_256, b"owner")
    now = time.time()
    for when in (now - MAX_AGE - 5, now + 300):
        with pytest.raises(RequestError, match="at most"):
            Receiver().open(key, build(key, LAMP, now=when))


def test_requests_need_a_symmetric_key():
    with pytest.raises(RequestError, match="not symmetric"):
        build(CoseKey.generate(ES256, b"owner"), LAMP)


def test_a_certificate_of_the_ca_without_a_single_cn_is_refused(tmp_path, pki_dir):
    """Identities are CNs: a certificate naming none (or two) is no identity (403)."""
    ca_key = serialization.load_pem_private_key((pki_dir / pki.CA_KEY).read_bytes(), None)
    ca = x509.load_pem_x509_certificate((pki_dir / pki.CA_CERT).read_bytes())
    now = datetime.datetime.now(datetime.timezone.utc)

    def bundle(name, attributes):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder().subject_name(x509.Name(attributes)).issuer_name(ca.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1)).sign(ca_key, hashes.SHA256()))
        directory = pki.private_dir(tmp_path / name)
        pki.write_private(directory / pki.KEY, key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        (directory / pki.CERT).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (directory / pki.CA_CERT).write_bytes((pki_dir / pki.CA_CERT).read_bytes())
        return directory
    nameless = bundle("nameless", [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "alice")])
    twice = bundle("twice", [x509.NameAttribute(NameOID.COMMON_NAME, "bob"),
                             x509.NameAttribute(NameOID.COMMON_NAME, "alice")])

    async def attempt(who):
        app = application(KeyVault(), Access())
        async with service.listening(app, service.Listen("127.0.0.1", 0, pki_dir / "keystore"), "k") as url:
            async with service.client_session(who) as session:
                async with session.get(f"{url}/keys") as answer:
                    return answer.status, await answer.text()
    assert asyncio.run(attempt(pki_dir / "alice"))[0] == 200
    for who in (nameless, twice):
        assert asyncio.run(attempt(who)) == (403, "the client certificate must name exactly one CN")
