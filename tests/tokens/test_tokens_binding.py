"""A token covers one command (pipsim.tokens.binding): any field of the command changed, or a token
that names no command, is refused before the token is spent."""
import json

import pytest
from hypothesis import given, strategies as st

from pipsim.tokens import TokenError, binding

from token_vectors import NOW, issue

COMMAND = ("dom1", "gateway", "write", (26261, 0, 7), {"name": "c", "pages": 24})
WRITE = dict(operation="write", resource="26261/0/7")


def test_the_digest_is_of_the_canonical_command():
    """Key order and the form the value travelled in (CBOR or D3.3's JSON) do not matter;
    the encoding is canonical CBOR (length-first keys: "value" before "device")."""
    value = json.loads('{"pages": 24, "name": "c"}')
    assert binding.digest(*COMMAND[:4], value) == binding.digest(*COMMAND)
    assert len(binding.digest(*COMMAND)) == 32
    import cbor2
    encoded = cbor2.dumps(binding.command_map(*COMMAND), canonical=True)
    assert encoded.index(b"value") < encoded.index(b"device") < encoded.index(b"operation")


def _changed(draw_index, replacement):
    fields = list(COMMAND)
    fields[draw_index] = replacement
    return tuple(fields)


CHANGES = [_changed(0, "dom2"), _changed(1, "gateway-2"), _changed(2, "read"),
           _changed(3, (26261, 0, 8)), _changed(3, (26261, 1, 7)), _changed(3, (26262, 0, 7)),
           _changed(3, (26261, 0, 7, 0)), _changed(4, {"name": "c", "pages": 25}),
           _changed(4, {"name": "c", "pages": 24, "x": 1}), _changed(4, None)]


@pytest.mark.parametrize("changed", CHANGES, ids=range(len(CHANGES)))
def test_any_field_changed_is_a_mismatch_and_spends_nothing(issuer, validator, changed):
    token = issue(issuer, command=binding.digest(*COMMAND))
    with pytest.raises(TokenError) as refused:
        validator.validate(token, **WRITE, command=binding.digest(*changed), now=NOW)
    assert refused.value.reason == "command_mismatch"
    # refused before the replay cache: the command it was made for still goes through once
    assert validator.validate(token, **WRITE, command=binding.digest(*COMMAND), now=NOW)
    with pytest.raises(TokenError, match="replayed"):
        validator.validate(token, **WRITE, command=binding.digest(*COMMAND), now=NOW)


@given(value=st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                          lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=8))
def test_values_hash_apart(value):
    """Two commands hash alike only if their values are equal as CBOR data."""
    same = binding.digest(*COMMAND[:4], value) == binding.digest(*COMMAND)
    assert same == (value == COMMAND[4] and type(value) is dict)


def test_a_token_naming_no_command_is_refused_where_one_is_asked(issuer, validator):
    token = issue(issuer)
    with pytest.raises(TokenError) as refused:
        validator.validate(token, **WRITE, command=binding.digest(*COMMAND), now=NOW)
    assert refused.value.reason == "missing_claim" and "cmd" in refused.value.detail


def test_the_claim_is_typed(issuer, validator, vault):
    from pipsim.tokens import cose
    from pipsim.tokens.cwt import Claims
    bad = Claims(iss="owner", aud="dom1", exp=NOW + 300, iat=NOW, cti=b"x", scope="26261/0/7:w",
                 other={binding.CMD: "not bytes"})
    token = cose.encode(vault.get("owner"), bad.encode())
    with pytest.raises(TokenError) as refused:
        validator.validate(token, **WRITE, command=binding.digest(*COMMAND), now=NOW)
    assert refused.value.reason == "malformed" and "cmd" in refused.value.detail


def test_exec_is_execute():
    """D3.3 §3.2's "exec" names LwM2M's execute: a token bound to either covers both."""
    restart = ("owner", "gateway", "exec", (26261, 0, 12), "lamp-driver")
    assert binding.digest(*restart) == binding.digest("owner", "gateway", "execute",
                                                      *restart[3:])


@given(domain=st.text(max_size=70), device=st.text(max_size=30),
       code=st.sampled_from(["read", "write", "execute", "exec", "delete", "create"]),
       path=st.lists(st.integers(0, 65535), min_size=3, max_size=4).map(tuple),
       value=st.none() | st.booleans() | st.integers(-2**64 + 1, 2**64 - 1) | st.text(max_size=40)
       | st.binary(max_size=40))
def test_the_fast_encoding_is_the_canonical_one(domain, device, code, path, value):
    """The digest of a command with a scalar value hashes exactly its canonical encoding."""
    import hashlib
    import cbor2
    canonical = cbor2.dumps(binding.command_map(domain, device, code, path, value),
                            canonical=True)
    assert binding.digest(domain, device, code, path, value) == hashlib.sha256(canonical).digest()
