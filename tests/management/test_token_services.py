"""Token Generator (D3.3 §4.3) and Token Validator (§4.4) driven by curl, with the Keystore
Manager behind them: mutual TLS, --insecure-local, and every refusal."""
import base64
import json

import pytest

from pipsim.management.command_request import build
from pipsim.management.token_service import (FORBIDDEN, GENERATION_FAILED, GENERATOR_OK, INVALID,
                                      INVALID_TOKEN, VALIDATION_FAILED, VALIDATOR_OK)
from pipsim.tokens import HMAC_256_256, CoseKey, KeyVault, Validator, binding
from mgmt_helpers import issuing_key, keystore_env

LAMP = {"id": 1, "domain": "owner", "device": "gateway", "value": 1,
        "operation": {"code": "write", "objectId": 3311, "objectInstanceId": 0, "resourceId": 5850}}
UPDATE = {"id": 2, "domain": "owner", "device": "gateway", "value": "https://maintainer/pkg",
          "operation": {"code": "write", "objectId": 26261, "objectInstanceId": 0, "resourceId": 7}}
POLICY = """
issuer = "owner-server"
key = "owner-server.cose"
audience = "owner"
lifetime = 120

[[grant]]                         # the owner's application (Fig. 8)
client = "{client}"
domain = "owner"
devices = ["gateway"]
operations = ["read", "write"]
paths = ["3311/0/5850"]

[[grant]]                         # token B for the maintainer's server (Fig. 9)
client = "maintainer-server"
domain = "maintainer"
devices = ["gateway"]
operations = ["write"]
paths = ["26261/0/7"]
lifetime = 30
"""


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def body(key: CoseKey, command: dict, alias: str | None = None) -> str:
    return json.dumps({"domain": alias or key.kid.decode(), "cipheredCommand": build(key, command)})


def policy_file(tmp_path, client="alice"):
    path = tmp_path / "owner-policy.toml"
    path.write_text(POLICY.format(client=client))
    return path, issuing_key(tmp_path / "owner-server.cose")


def digest(command: dict) -> bytes:
    return binding.digest_of(command)


class Chain:
    """A keystore holding the domain keys "owner" and "maintainer", a generator and a validator."""

    def __init__(self, services, curl, tmp_path, pki_dir=None, client="alice"):
        self.curl = curl
        tls = (lambda name: ("--tls", pki_dir / name)) if pki_dir else (lambda name: ("--insecure-local",))
        who = {"as_": "admin"} if pki_dir else {"as_": None}
        self.keystore = services("keystore", *tls("keystore"), "--store", tmp_path / "store",
                                 "--admin", "admin", "--reader", "owner-tg", "--reader", "validator",
                                 env=keystore_env())
        self.keys = {}
        for alias in ("owner", "maintainer"):
            assert curl(f"{self.keystore.url}/keys/{alias}", method="POST", **who).status == 201
            self.keys[alias] = CoseKey.from_bytes(unb64(
                curl(f"{self.keystore.url}/keys/{alias}", **who).json()["key"]))
        policy, self.issuing_key = policy_file(tmp_path, client)
        self.generator = services("token-generator", *tls("owner-tg"), "--keystore", self.keystore.url,
                                  "--policy", policy)
        self.validator = services("token-validator", *tls("validator"), "--keystore", self.keystore.url,
                                  "--policy", policy)

    def token(self, command=LAMP, alias="owner", as_="alice"):
        answer = self.curl(f"{self.generator.url}/token", method="POST", as_=as_,
                           data=body(self.keys[alias], command))
        assert answer.status == 200, answer.text
        return unb64(answer.json()["token"])

    def validator_for(self, audience="owner"):
        vault = KeyVault()
        vault.add(self.issuing_key)
        return Validator(vault, audience, {"owner-server": ["owner-server"]})


@pytest.fixture
def chain(services, curl, tmp_path, pki_dir):
    return Chain(services, curl, tmp_path, pki_dir)


def refused(answer, status, error):
    assert answer.status == status, answer.text
    got = answer.json()
    assert got["error"] == error and got["detail"], got
    return got["detail"]


def test_generator_answers_as_d33_lists_it(chain, curl):
    verify = curl(f"{chain.generator.url}/verify")
    assert (verify.status, verify.text) == (200, GENERATOR_OK)
    assert verify.content_type.startswith("text/plain")
    answer = curl(f"{chain.generator.url}/token", method="POST", data=body(chain.keys["owner"], LAMP))
    assert answer.status == 200 and set(answer.json()) == {"token"}
    claims = chain.validator_for().validate(unb64(answer.json()["token"]), operation="write",
                                            resource="3311/0/5850", command=digest(LAMP))
    assert (claims.iss, claims.aud, claims.sub, claims.scope) == \
        ("owner-server", "owner", "alice", "3311/0/5850:w")
    assert claims.exp - claims.iat == 120


def test_generator_refusals_are_clear_and_it_goes_on(chain, curl):
    url, owner, maintainer = f"{chain.generator.url}/token", chain.keys["owner"], chain.keys["maintainer"]

    def post(data, as_="alice"):
        return curl(url, method="POST", data=data, as_=as_)
    assert "not JSON" in refused(post("{not json"), 400, INVALID)
    assert "domain" in refused(post(json.dumps(["owner"])), 400, INVALID)
    assert "domain" in refused(post(json.dumps({"domain": "owner"})), 400, INVALID)
    assert "no key" in refused(post(body(owner, LAMP, alias="nobody")), 400, INVALID)
    # sent under another domain's key, or a key that is not the keystore's
    assert "under key" in refused(post(body(maintainer, LAMP, alias="owner")), 400, INVALID)
    forged = CoseKey.generate(HMAC_256_256, b"owner")
    assert "does not decrypt" in refused(post(body(forged, LAMP)), 400, INVALID)
    # tampered ciphertext: one bit of it
    ciphered = build(owner, LAMP)
    raw = bytearray(unb64(ciphered))
    raw[-20] ^= 0x01
    tampered = base64.urlsafe_b64encode(bytes(raw)).decode()
    assert "does not decrypt" in refused(post(json.dumps({"domain": "owner", "cipheredCommand": tampered})),
                                         400, INVALID)
    not_b64 = json.dumps({"domain": "owner", "cipheredCommand": "%%%"})
    assert "base64url" in refused(post(not_b64), 400, INVALID)
    # the same request twice: one token only
    once = json.dumps({"domain": "owner", "cipheredCommand": ciphered})
    assert post(once).status == 200
    assert "sent before" in refused(post(once), 400, INVALID)
    assert "carries none" in refused(post(body(owner, {**LAMP, "token": b"x" * 8})), 400, INVALID)
    bad_command = {**LAMP, "operation": {"code": "write", "objectId": 3311}}
    with pytest.raises(ValueError):
        build(owner, bad_command)
    # the policy: another resource, another device, another client, another domain
    assert "may not write 26261/0/7" in refused(post(body(owner, UPDATE)), 403, FORBIDDEN)
    assert "'lamp'" in refused(post(body(owner, {**LAMP, "device": "lamp"})), 403, FORBIDDEN)
    assert "'bob'" in refused(post(body(owner, LAMP), as_="bob"), 403, FORBIDDEN)
    elsewhere = body(owner, {**LAMP, "domain": "provider-a"})
    assert "for domain 'owner'" in refused(post(elsewhere), 403, FORBIDDEN)
    assert curl(url, method="POST", data="x" * 9000).status == 413
    assert curl(f"{chain.generator.url}/verify").text == GENERATOR_OK and chain.generator.running
    assert chain.token()          # still issuing


def test_token_b_only_for_the_forwarding_domain_the_owner_allows(chain, curl):
    url, owner, maintainer = f"{chain.generator.url}/token", chain.keys["owner"], chain.keys["maintainer"]
    token_b = chain.token(UPDATE, alias="maintainer", as_="maintainer-server")
    claims = chain.validator_for().validate(token_b, operation="write", resource="26261/0/7",
                                            command=digest(UPDATE))
    assert (claims.sub, claims.exp - claims.iat) == ("maintainer-server", 30)
    # not another resource; not another caller with the same key; not the same caller with another key
    refused(curl(url, method="POST", as_="maintainer-server", data=body(maintainer, LAMP)), 403, FORBIDDEN)
    refused(curl(url, method="POST", as_="bob", data=body(maintainer, UPDATE)), 403, FORBIDDEN)
    refused(curl(url, method="POST", as_="alice", data=body(maintainer, UPDATE)), 403, FORBIDDEN)
    refused(curl(url, method="POST", as_="maintainer-server", data=body(owner, UPDATE)), 403, FORBIDDEN)


def test_validator_checks_the_token_bound_to_its_command(chain, curl):
    url = f"{chain.validator.url}/token"
    verify = curl(f"{chain.validator.url}/verify")
    assert (verify.status, verify.text) == (200, VALIDATOR_OK)
    owner = chain.keys["owner"]
    token = chain.token()
    answer = curl(url, method="POST", data=body(owner, {**LAMP, "token": token}))
    assert answer.status == 200, answer.text
    claims = answer.json()["claims"]
    assert (claims["iss"], claims["aud"], claims["sub"], claims["scope"]) == \
        ("owner-server", "owner", "alice", "3311/0/5850:w")
    assert unb64(claims["cmd"]) == digest(LAMP)

    def reason(command):
        got = curl(url, method="POST", data=body(owner, command))
        assert got.status == 401 and got.json()["error"] == INVALID_TOKEN, got.text
        return got.json()["reason"]
    assert reason({**LAMP, "token": token}) == "replayed"
    fresh = chain.token()
    assert reason({**LAMP, "value": 0, "token": fresh}) == "command_mismatch"
    altered = bytearray(chain.token())
    altered[-1] ^= 1
    assert reason({**LAMP, "token": bytes(altered)}) == "bad_signature"
    assert reason({**LAMP, "domain": "maintainer", "token": chain.token()}) == "wrong_audience"
    assert "missing fields" in refused(curl(url, method="POST", data=body(owner, LAMP)), 400, INVALID)
    assert "not JSON" in refused(curl(url, method="POST", data="]"), 400, INVALID)
    assert curl(f"{chain.validator.url}/verify").text == VALIDATOR_OK and chain.validator.running


def test_callers_without_a_certificate_of_the_ca_get_nothing(chain, curl, foreign_pki):
    for service in (chain.generator, chain.validator):
        for attempt in (dict(as_=None), dict(as_="alice", cert_ca=foreign_pki)):
            done = curl.run(f"{service.url}/token", method="POST",
                            data=body(chain.keys["owner"], LAMP), **attempt)
            assert done.returncode != 0 and done.body == b"", done
        assert curl(f"{service.url}/verify").status == 200


def test_the_keystore_unreachable_is_a_500(services, curl, tmp_path, pki_dir, chain):
    policy = tmp_path / "owner-policy.toml"
    gone = "https://127.0.0.1:9"       # discard: nothing listens
    generator = services("token-generator", "--tls", pki_dir / "owner-tg", "--keystore", gone,
                         "--policy", policy)
    validator = services("token-validator", "--tls", pki_dir / "validator", "--keystore", gone,
                         "--policy", policy)
    data = body(chain.keys["owner"], LAMP)
    for service, error in ((generator, GENERATION_FAILED), (validator, VALIDATION_FAILED)):
        assert "keystore" in refused(curl(f"{service.url}/token", method="POST", data=data), 500, error)
    assert curl(f"{generator.url}/verify").status == 200


def test_the_whole_set_with_insecure_local(services, curl, tmp_path):
    chain = Chain(services, curl, tmp_path, client="local")
    assert chain.generator.url.startswith("http://") and "WARNING" in chain.generator.output
    assert curl(f"{chain.generator.url}/verify", as_=None).text == GENERATOR_OK
    assert curl(f"{chain.validator.url}/verify", as_=None).text == VALIDATOR_OK
    token = chain.token(as_=None)
    answer = curl(f"{chain.validator.url}/token", method="POST", as_=None,
                  data=body(chain.keys["owner"], {**LAMP, "token": token}))
    assert answer.status == 200 and answer.json()["claims"]["sub"] == "local"
    forbidden = body(chain.keys["owner"], UPDATE)
    refused(curl(f"{chain.generator.url}/token", method="POST", as_=None, data=forbidden), 403, FORBIDDEN)
