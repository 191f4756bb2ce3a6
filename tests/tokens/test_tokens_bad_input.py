"""Hostile and malformed tokens: a specific reason, and never anything but TokenError."""
import cbor2
import pytest
from cbor2 import CBORTag
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipsim.tokens import TokenError, cose
from pipsim.kernel.wire import MAX_INPUT

from token_vectors import NOW, RFC8392_A3_SIGNED, RFC8392_A4_MACED, issue

WRITE = dict(operation="write", resource="26261/0/7")
PAYLOAD = cbor2.dumps({1: "owner", 3: "dom1", 4: NOW + 300, 6: NOW, 7: b"c", 9: "26261/0/7:w"})


def rejection(validator, token):
    with pytest.raises(TokenError) as err:
        validator.validate(token, **WRITE, now=NOW)
    return err.value


def mac0(vault, protected: bytes, unprotected, payload=PAYLOAD, kid="owner") -> bytes:
    """A correctly MACed COSE_Mac0 with arbitrary headers."""
    key = vault.get(kid)
    tag = key.authenticate(cose.to_be_authenticated(key.alg, protected, payload))
    return cbor2.dumps(CBORTag(17, [protected, unprotected, payload, tag]))


def test_truncated_tokens(issuer, validator):
    token = issue(issuer)
    for cut in range(len(token)):
        assert rejection(validator, token[:cut]).reason == "malformed"


def test_trailing_bytes(vault, issuer, validator):
    err = rejection(validator, issue(issuer) + b"\x00")
    assert err.reason == "malformed" and "1 extra bytes" in err.detail
    err = rejection(validator, mac0(vault, b"\xa1\x01\x04", {4: b"owner"}, PAYLOAD + b"\xff"))
    assert err.reason == "malformed" and "payload" in err.detail and "extra bytes" in err.detail
    err = rejection(validator, mac0(vault, b"\xa1\x01\x04\x00", {4: b"owner"}))
    assert err.reason == "malformed" and "protected header" in err.detail


def test_trailing_bytes_after_any_header_shape(vault, validator):
    shapes = ((b"\xa2\x01\x04\x04\x45owner", {}), (b"\xa1\x01\x04", {4: b"owner", 99: [1, 2]}))
    for cti, (protected, unprotected) in enumerate(shapes):
        payload = cbor2.dumps({**cbor2.loads(PAYLOAD), 7: bytes([cti])})
        err = rejection(validator, mac0(vault, protected, unprotected, payload) + b"\xf6")
        assert err.reason == "malformed" and "extra bytes" in err.detail
        assert validator.validate(mac0(vault, protected, unprotected, payload), **WRITE, now=NOW)


def test_longer_than_needed_encodings_are_accepted(vault, validator):
    token = mac0(vault, b"\xa1\x01\x04", {4: b"owner"})
    assert token[1] == 0x84
    longer = token[:1] + b"\x98\x04" + token[2:]  # array(4) with a one-byte length argument
    assert validator.validate(longer, **WRITE, now=NOW)
    assert rejection(validator, longer + b"\x00").reason == "malformed"


@pytest.mark.parametrize("token, words", [
    (b"", "empty"),
    ("text", "bytes"),
    (cbor2.dumps([1, 2, 3]), "array of 4"),
    (cbor2.dumps({"a": 1}), "array of 4"),
    (cbor2.dumps(CBORTag(17, [b"", {}, b"", b"", b""])), "array of 4"),
    (cbor2.dumps(CBORTag(16, [b"", {}, b"", b""])), "tag 16"),
    (cbor2.dumps(CBORTag(61, CBORTag(61, CBORTag(17, [b"", {}, b"", b""])))), "tag 61 inside"),
    (cbor2.dumps(CBORTag(61, [b"\xa1\x01\x04", {}, b"", b""])), "CWT tag must wrap"),
    (cbor2.dumps(CBORTag(55799, CBORTag(17, [b"\xa1\x01\x04", {}, b"", b""]))), "tag 55799"),
    (cbor2.dumps(CBORTag(17, CBORTag(18, [b"", {}, b"", b""]))), "array of 4"),
    (cbor2.dumps(CBORTag(17, ["a10104", {}, b"", b""])), "protected header must be a byte"),
    (cbor2.dumps(CBORTag(17, [b"\xa1\x01\x04", [], b"", b""])), "unprotected header must be a map"),
    (cbor2.dumps(CBORTag(17, [b"\xa1\x01\x04", {}, None, b""])), "detached"),
    (cbor2.dumps(CBORTag(17, [b"\xa1\x01\x04", {}, b"", 7])), "tag / signature"),
    (cbor2.dumps(CBORTag(17, [b"\x81\x01", {}, b"", b""])), "must encode a map"),
    (cbor2.dumps(CBORTag(17, [b"\xa1\x01", {}, b"", b""])), "protected header is not acceptable"),
    (cbor2.dumps(CBORTag(17, [b"\xa1\x01\x04", {4: "text-kid"}, b"", b""])), "kid must be a byte"),
    (cbor2.dumps(CBORTag(17, [b"\xa1\x01\x26", {}, b"", b""])), "does not fit alg"),
    (cbor2.dumps(CBORTag(17, [b"\xa1\x01\xf5", {}, b"", b""])), "alg must be an int"),
    (b"\xd1\x84\x43\xa1\x01\x04\xa1\x04\x41k\x5b\xff\xff\xff\xff\xff\xff\xff\xff", "not acceptable CBOR"),
    (b"\xd1\x9b\xff\xff\xff\xff\xff\xff\xff\xff", "not acceptable CBOR"),
    (b"\xd1\x9f\x40\xa0\x40\x40\xff", "not acceptable CBOR"),
    (b"\x81" * 100 + b"\x00", "not acceptable CBOR"),
    (b"\xc1" * 100 + b"\x00", "not acceptable CBOR"),
    (b"\x40" + b"\x00" * MAX_INPUT, "limit"),
])
def test_structurally_bad_tokens(validator, token, words):
    err = rejection(validator, token)
    assert err.reason == "malformed"
    assert words.lower() in err.detail.lower()


def test_missing_alg(vault, validator):
    err = rejection(validator, mac0(vault, b"", {1: 4, 4: b"owner"}))
    assert err.reason == "malformed" and "alg" in err.detail
    err = rejection(validator, mac0(vault, b"", {4: b"owner"}))
    assert err.reason == "malformed" and "alg is missing" in err.detail


def test_unsupported_alg(vault, validator):
    for alg in (10, -35, "HS256"):
        err = rejection(validator, mac0(vault, cbor2.dumps({1: alg}), {4: b"owner"}))
        assert err.reason == "unsupported_algorithm"


def test_alg_mismatching_key(vault, validator):
    token = mac0(vault, cbor2.dumps({1: 5}), {4: b"owner"})  # HMAC 256/256 header, 256/64 key
    assert rejection(validator, token).reason == "unsupported_algorithm"
    token = cbor2.dumps(CBORTag(18, [cbor2.dumps({1: -7}), {4: b"owner"}, PAYLOAD, b"\x00" * 64]))
    assert rejection(validator, token).reason == "unsupported_algorithm"


def test_label_in_both_buckets(vault, validator):
    err = rejection(validator, mac0(vault, cbor2.dumps({1: 4, 4: b"owner"}), {4: b"owner"}))
    assert err.reason == "malformed" and "both" in err.detail


def test_kid_in_protected_header_works(vault, validator):
    assert validator.validate(mac0(vault, cbor2.dumps({1: 4, 4: b"owner"}), {}), **WRITE, now=NOW)


def test_critical_headers(vault, validator):
    unknown = mac0(vault, cbor2.dumps({1: 4, 2: [99], 99: 1}), {4: b"owner"})
    assert "not understood" in rejection(validator, unknown).detail
    absent = mac0(vault, cbor2.dumps({1: 4, 2: [4]}), {4: b"owner"})
    assert "not in the protected header" in rejection(validator, absent).detail
    empty = mac0(vault, cbor2.dumps({1: 4, 2: []}), {4: b"owner"})
    assert "non-empty" in rejection(validator, empty).detail
    weird = mac0(vault, cbor2.dumps({1: 4, 2: [[1]]}), {4: b"owner"})
    assert "crit labels" in rejection(validator, weird).detail
    unprotected = mac0(vault, cbor2.dumps({1: 4}), {2: [1], 4: b"owner"})
    assert "crit must be a protected" in rejection(validator, unprotected).detail
    understood = mac0(vault, cbor2.dumps({1: 4, 2: [1]}), {4: b"owner"})
    assert validator.validate(understood, **WRITE, now=NOW)


def test_unknown_noncritical_headers_are_ignored(vault, validator):
    assert validator.validate(mac0(vault, cbor2.dumps({1: 4, 99: "x"}), {4: b"owner", -70000: [1]}), **WRITE, now=NOW)


@pytest.mark.parametrize("raw, words", [
    (b"\xa2\x01\x04\x01\x05", "duplicate"),               # {1: 4, 1: 5}
    (b"\xa2\x01\x04\x18\x01\x05", "duplicate"),           # same label, longer encoding
    (b"\xa2\x01\x04\xf9\x3c\x00\x05", "duplicate"),       # 1 and 1.0
])
def test_duplicate_labels_in_protected_header(vault, validator, raw, words):
    err = rejection(validator, mac0(vault, raw, {4: b"owner"}))
    assert err.reason == "malformed" and words in err.detail.lower()


def test_duplicate_labels_in_unprotected_header(vault, validator):
    token = mac0(vault, b"\xa1\x01\x04", {})
    token = token.replace(b"\xa0", b"\xa2\x04\x45owner\x04\x45owner", 1)
    assert "duplicate" in rejection(validator, token).detail.lower()


@pytest.mark.parametrize("payload, words", [
    (b"\xa2\x01\x65owner\x01\x65owner", "duplicate"),
    (cbor2.dumps([1]), "claims map"),
    (cbor2.dumps({1: 7, 3: "dom1", 4: NOW + 1, 7: b"c", 9: "1:r"}), "iss must be"),
    (cbor2.dumps({1: "owner", 2: 5, 3: "dom1", 4: NOW + 1, 7: b"c", 9: "1:r"}), "sub must be"),
    (cbor2.dumps({1: "owner", 3: "dom1", 4: "soon", 7: b"c", 9: "1:r"}), "exp must be"),
    (cbor2.dumps({1: "owner", 3: "dom1", 4: True, 7: b"c", 9: "1:r"}), "exp must be"),
    (cbor2.dumps({1: "owner", 3: "dom1", 4: float("inf"), 7: b"c", 9: "1:r"}), "exp must be"),
    (cbor2.dumps({1: "owner", 3: "dom1", 4: CBORTag(1, NOW), 7: b"c", 9: "1:r"}), "exp must be"),
    (cbor2.dumps({1: "owner", 3: ["dom1"], 4: NOW + 1, 7: b"c", 9: "1:r"}), "aud must be"),
    (cbor2.dumps({1: "owner", 3: "dom1", 4: NOW + 1, 7: "c", 9: "1:r"}), "cti must be"),
    (cbor2.dumps({1: "owner", 3: "dom1", 4: NOW + 1, 7: b"c", 9: b"1:r"}), "scope must be"),
    (b"\xa1\x01\x7f\x61a\xff", "not acceptable"),
    (b"\xa1\x01\x62\xff\xfe", "not acceptable"),
])
def test_bad_claims_even_when_correctly_maced(vault, validator, payload, words):
    err = rejection(validator, mac0(vault, b"\xa1\x01\x04", {4: b"owner"}, payload))
    assert err.reason == "malformed" and words in err.detail.lower()


def test_published_vectors_with_a_bit_flipped_never_escape(validator):
    for token in (RFC8392_A3_SIGNED, RFC8392_A4_MACED):
        for i in range(len(token)):
            for bit in (0x01, 0x80):
                mutated = bytearray(token)
                mutated[i] ^= bit
                with pytest.raises(TokenError):
                    validator.validate(bytes(mutated), **WRITE, now=NOW)


# -- fuzzing (example counts come from the active hypothesis profile) -------------------------

_FUZZ = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
                 deadline=None)
cbor_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.binary(max_size=40)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.integers(-5, 12) | st.text(max_size=3),
                                                                      children, max_size=5)
    | st.builds(CBORTag, st.sampled_from([0, 1, 2, 4, 17, 18, 24, 28, 29, 61, 258, 55799, 9999]), children),
    max_leaves=20)


def _only_token_errors(validator, token, may_pass=False):
    try:
        validator.validate(token, **WRITE, now=NOW)
    except TokenError as err:
        assert err.detail
    else:
        assert may_pass, "a fuzzed token was accepted"


@_FUZZ
@given(data=st.binary(max_size=300))
def test_fuzz_random_bytes(validator, data):
    _only_token_errors(validator, data)


@_FUZZ
@given(value=cbor_values)
def test_fuzz_random_cbor(validator, value):
    _only_token_errors(validator, cbor2.dumps(value))


@_FUZZ
@given(protected=cbor_values, unprotected=cbor_values, payload=cbor_values, tag_number=st.sampled_from([17, 18, None]))
def test_fuzz_cose_shaped(vault, validator, protected, unprotected, payload, tag_number):
    """MACed correctly with the owner key, so the headers and the payload are really reached."""
    protected_raw = cbor2.dumps(protected)
    payload_raw = cbor2.dumps(payload)
    key = vault.get("owner")
    tag = key.authenticate(cose.to_be_authenticated(key.alg, protected_raw, payload_raw))
    body = [protected_raw, unprotected, payload_raw, tag]
    _only_token_errors(validator, cbor2.dumps(body if tag_number is None else CBORTag(tag_number, body)))


@_FUZZ
@given(data=st.data())
def test_fuzz_mutated_valid_tokens(issuer, validator, data):
    token = bytearray(issue(issuer))
    for _ in range(data.draw(st.integers(1, 4))):
        action = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        pos = data.draw(st.integers(0, len(token) - 1))
        if action == "flip":
            token[pos] ^= data.draw(st.integers(1, 255))
        elif action == "insert":
            token[pos:pos] = data.draw(st.binary(min_size=1, max_size=9))
        elif action == "delete":
            del token[pos]
        else:
            del token[pos:]
        if not token:
            token = bytearray(b"\x00")
    # a mutation may happen to yield a valid form (e.g. dropping the COSE tag)
    _only_token_errors(validator, bytes(token), may_pass=True)


def test_a_flood_of_protected_headers_stays_bounded_and_costs_no_valid_token(vault, validator):
    """Checked protected headers are kept (issuers repeat theirs), at most a fixed number: a
    flood of distinct ones, each refused or accepted on its own merits, grows nothing."""
    for n in range(300):
        protected = cbor2.dumps({1: 4, 3: n})  # alg HMAC 256/64, a content type of its own
        payload = cbor2.dumps({**cbor2.loads(PAYLOAD), 7: n.to_bytes(2, "big")})
        assert validator.validate(mac0(vault, protected, {4: b"owner"}, payload), **WRITE, now=NOW)
        assert rejection(validator, mac0(vault, cbor2.dumps({1: 99, 3: n}), {4: b"owner"})).reason \
            == "unsupported_algorithm"
    assert len(cose._HEADERS) <= cose._HEADERS_KEPT
