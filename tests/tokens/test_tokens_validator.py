"""Validator: every rejection reason, check order, leeway, issuer binding, replay and reboot."""
import pytest

from pipsim.tokens import EDDSA, ES256, HMAC_256_256, Issuer, KeyVault, ReplayCache, ScopeError, TokenError, Validator, cose
from pipsim.tokens.cwt import Claims

from token_vectors import NOW, issue

WRITE = dict(operation="write", resource="26261/0/7")


def reason(validator, token, **kw):
    kw = {**WRITE, "now": NOW, **kw}
    with pytest.raises(TokenError) as err:
        validator.validate(token, **kw)
    return err.value.reason


def custom_token(vault, kid, claims: Claims) -> bytes:
    return cose.encode(vault.get(kid), claims.encode())


GOOD = Claims(iss="owner", aud="dom1", exp=NOW + 300, iat=NOW, cti=b"id-1", scope="26261/0/7:w")


@pytest.mark.parametrize("alg", [ES256, EDDSA, HMAC_256_256])
def test_every_algorithm_round_trips(vault, validator, alg):
    vault.generate("k", alg)
    validator.issuers["owner"] = None
    token = issue(Issuer(vault, kid="k", issuer="owner"))
    claims = validator.validate(token, **WRITE, now=NOW)
    assert (claims.iss, claims.aud, claims.scope) == ("owner", "dom1", "26261/0/7:w 3303/0:r")


def test_valid_token_returns_claims(issuer, validator):
    claims = validator.validate(issue(issuer, subject="alice"), **WRITE, now=NOW)
    assert (claims.sub, claims.exp, claims.iat, len(claims.cti)) == ("alice", NOW + 300, NOW, 8)


def test_untagged_and_cwt_tagged_forms(vault, validator):
    for kw in ({"tagged": False}, {"cwt_tag": True}):
        token = issue(Issuer(vault, kid="owner-es", issuer="owner", **kw))
        assert validator.validate(token, **WRITE, now=NOW).iss == "owner"


def test_unknown_key(vault, issuer, validator):
    token = issue(issuer)
    vault.delete("owner")
    assert reason(validator, token) == "unknown_key"


def test_verify_use_required(vault, issuer, validator):
    token = issue(issuer)
    key = vault.get("owner")
    vault.add(type(key).from_map(key.to_map(), uses={"issue"}), replace=True)
    assert reason(validator, token) == "unknown_key"


def test_bad_signature_and_bad_mac(vault, validator):
    for kid in ("owner", "owner-es"):
        token = bytearray(issue(Issuer(vault, kid=kid, issuer="owner")))
        token[-3] ^= 0x40
        assert reason(validator, bytes(token)) == "bad_signature"


def test_alg_mismatching_key_is_unsupported_algorithm(vault, validator):
    vault.generate("other-hmac", HMAC_256_256)
    token = issue(Issuer(vault, kid="other-hmac", issuer="owner"))
    vault.delete("other-hmac")
    vault.add(type(vault.get("owner")).from_map({**vault.get("owner").to_map(), 2: b"other-hmac"}))
    assert reason(validator, token) == "unsupported_algorithm"


def test_wrong_issuer_and_issuer_key_binding(vault, validator):
    assert reason(validator, issue(Issuer(vault, kid="owner", issuer="stranger"))) == "wrong_issuer"
    # "owner" may only use the owner keys; "maintainer" (None) may use any key
    assert reason(validator, issue(Issuer(vault, kid="maintainer", issuer="owner"))) == "wrong_issuer"
    assert validator.validate(issue(Issuer(vault, kid="owner", issuer="maintainer")), **WRITE, now=NOW)


def test_expiry_with_leeway(issuer, validator):
    token = issue(issuer, lifetime=60)
    assert validator.validate(token, **WRITE, now=NOW + 60 + 29).cti
    assert reason(validator, issue(issuer, lifetime=60), now=NOW + 60 + 30) == "expired"


def test_not_before_and_future_iat(issuer, validator):
    assert reason(validator, issue(issuer, not_before=NOW + 100)) == "not_yet_valid"
    assert validator.validate(issue(issuer, not_before=NOW + 20), **WRITE, now=NOW)
    assert reason(validator, issue(issuer, now=NOW + 31)) == "not_yet_valid"


def test_wrong_audience(issuer, validator):
    assert reason(validator, issue(issuer, audience="dom2")) == "wrong_audience"


def test_out_of_scope(issuer, validator):
    token = issue(issuer, scope="26261/0/7:r 26261/0/8:w")
    assert reason(validator, token) == "out_of_scope"
    assert validator.validate(token, operation="read", resource="26261/0/7", now=NOW)


@pytest.mark.parametrize("missing", ["iss", "aud", "exp", "cti", "scope", "iat"])
def test_missing_claims(vault, validator, missing):
    token = custom_token(vault, "owner", GOOD._replace(**{missing: None}))
    assert reason(validator, token) == "missing_claim"


def test_iat_optional_without_boot_check(vault):
    validator = Validator(vault, "dom1", {"owner"}, boot_time=None)
    assert validator.validate(custom_token(vault, "owner", GOOD._replace(iat=None)), **WRITE, now=NOW)


def test_malformed_scope_in_token(vault, validator):
    assert reason(validator, custom_token(vault, "owner", GOOD._replace(scope="26261/0/7"))) == "malformed"


def test_malformed_request_is_a_caller_error(issuer, validator):
    with pytest.raises(ScopeError):
        validator.validate(issue(issuer), operation="frob", resource="26261/0/7", now=NOW)
    with pytest.raises(ValueError):
        validator.validate(issue(issuer), operation="write", now=NOW)


def test_check_order_integrity_before_claims(vault, validator):
    token = bytearray(custom_token(vault, "owner", GOOD._replace(iss="stranger", aud="x", exp=1)))
    token[-1] ^= 1
    assert reason(validator, bytes(token)) == "bad_signature"


def test_check_order_issuer_expiry_audience_scope_replay(vault, validator):
    claims = GOOD._replace(iss="stranger", exp=NOW - 100, aud="dom2", scope="1:r")
    assert reason(validator, custom_token(vault, "owner", claims)) == "wrong_issuer"
    claims = claims._replace(iss="owner")
    assert reason(validator, custom_token(vault, "owner", claims)) == "expired"
    claims = claims._replace(exp=NOW + 100)
    assert reason(validator, custom_token(vault, "owner", claims)) == "wrong_audience"
    claims = claims._replace(aud="dom1")
    assert reason(validator, custom_token(vault, "owner", claims)) == "out_of_scope"


def test_rejected_tokens_do_not_consume_their_cti(vault, validator):
    token = custom_token(vault, "owner", GOOD)
    assert reason(validator, token, operation="read") == "out_of_scope"
    assert validator.validate(token, **WRITE, now=NOW)


def test_replay_within_expiry_and_after(issuer, validator):
    token = issue(issuer, lifetime=60)
    validator.validate(token, **WRITE, now=NOW)
    assert reason(validator, token, now=NOW + 1) == "replayed"
    assert reason(validator, token, now=NOW + 89) == "replayed"
    assert reason(validator, token, now=NOW + 90) == "expired"


def test_replay_keyed_by_issuer_and_cti(vault, validator):
    same_cti = dict(cti=b"shared")
    validator.validate(issue(Issuer(vault, kid="owner", issuer="owner"), **same_cti), **WRITE, now=NOW)
    validator.validate(issue(Issuer(vault, kid="maintainer", issuer="maintainer"), **same_cti), **WRITE, now=NOW)
    assert reason(validator, issue(Issuer(vault, kid="owner", issuer="owner"), **same_cti)) == "replayed"


def test_cache_full_fails_closed_then_frees_on_expiry(vault, issuer):
    validator = Validator(vault, "dom1", {"owner"}, cache_size=3, leeway=0, boot_time=None)
    for _ in range(3):
        validator.validate(issue(issuer, lifetime=10), **WRITE, now=NOW)
    late = issue(issuer, lifetime=100)
    assert reason(validator, late) == "replay_cache_full"
    assert len(validator.replay_cache) == 3
    assert validator.validate(late, **WRITE, now=NOW + 10).cti  # the first three expired at NOW + 10
    assert len(validator.replay_cache) == 1


def test_replay_cache_stays_bounded():
    cache = ReplayCache(capacity=4)
    for i in range(1000):
        cache.remember("iss", b"same", until=i + 1, now=i)
        assert len(cache) <= 4 and len(cache._expiries) <= 8


def test_shared_replay_cache(vault, issuer):
    cache = ReplayCache(16)
    first = Validator(vault, "dom1", {"owner"}, replay_cache=cache, boot_time=None)
    second = Validator(vault, "dom1", {"owner"}, replay_cache=cache, boot_time=None)
    token = issue(issuer)
    first.validate(token, **WRITE, now=NOW)
    assert reason(second, token) == "replayed"


def test_tokens_issued_before_boot_are_refused(issuer, vault):
    validator = Validator(vault, "dom1", {"owner"}, boot_time=NOW)
    assert reason(validator, issue(issuer, now=NOW - 31)) == "replayed"
    assert validator.validate(issue(issuer, now=NOW - 29), **WRITE, now=NOW)


def test_default_boot_time_is_construction_time(vault, issuer):
    validator = Validator(vault, "dom1", {"owner"}, clock=lambda: NOW)
    assert validator.boot_time == NOW
    assert validator.validate(issue(issuer), **WRITE).iss == "owner"  # now from the clock


def test_no_request_checks_scope_form_only(issuer, validator):
    assert validator.validate(issue(issuer, scope="1:r"), now=NOW).scope == "1:r"


def test_external_aad_is_bound(vault, validator):
    key = vault.get("owner")
    token = cose.encode(key, GOOD.encode(), external_aad=b"command-digest")
    assert reason(validator, token) == "bad_signature"
    assert validator.validate(token, **WRITE, now=NOW, external_aad=b"command-digest")


def test_token_error_reason_is_checked():
    with pytest.raises(ValueError):
        TokenError("nope", "x")


def test_issuers_must_not_be_a_string(vault):
    with pytest.raises(TypeError):
        Validator(vault, "dom1", "owner")


def test_issuer_needs_issue_key(vault):
    vault.add(vault.get("owner-es").public_key().__class__.from_map(
        {**vault.get("owner-es").public_key().to_map(), 2: b"pub"}))
    with pytest.raises(Exception, match="not allowed to issue"):
        Issuer(vault, kid="pub", issuer="owner")
    with pytest.raises(Exception, match="no key"):
        Issuer(KeyVault(), kid="x", issuer="owner")
    with pytest.raises(ValueError):
        Issuer(vault, kid="owner", issuer="owner").issue("dom1", "1:r", lifetime=0)
