"""COSE_Mac0 and COSE_Sign1 (RFC 9052 §4.2, §6.2), tagged or untagged, with or without the CWT tag."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import cbor2
from cbor2 import CBORTag

from .cbor import CBORError, bstr_head, cbor_type, loads
from .errors import TokenError
from .keys import ALGORITHMS, Algorithm, CoseKey

# Header parameter labels (RFC 9052 §3.1, Table 3).
H_ALG, H_CRIT, H_CONTENT_TYPE, H_KID = 1, 2, 3, 4
UNDERSTOOD_HEADERS = frozenset({H_ALG, H_CRIT, H_CONTENT_TYPE, H_KID})
# CBOR tags: COSE_Mac0 = 17, COSE_Sign1 = 18 (RFC 9052 §2, Table 1); CWT = 61 (RFC 8392 §6).
TAG_MAC0, TAG_SIGN1, TAG_CWT = 17, 18, 61
# Context strings of the ToBeMaced / ToBeSigned structures (RFC 9052 §6.3, §4.4).
_MAC0_PREFIX = b"\x84\x64MAC0"
_SIGN1_PREFIX = b"\x84\x6aSignature1"


def to_be_authenticated(alg: Algorithm, protected: bytes, payload: bytes, external_aad: bytes = b"") -> bytes:
    """MAC_structure ["MAC0", protected, external_aad, payload] (RFC 9052 §6.3) or
    Sig_structure ["Signature1", protected, external_aad, payload] (RFC 9052 §4.4),
    encoded with definite, shortest lengths as RFC 9052 §9 requires, from the raw bytes."""
    return b"".join((_MAC0_PREFIX if alg.is_mac else _SIGN1_PREFIX,
                     bstr_head(len(protected)), protected,
                     bstr_head(len(external_aad)), external_aad,
                     bstr_head(len(payload)), payload))


@dataclass(frozen=True, slots=True)
class CoseMessage:
    """A decoded COSE_Mac0 / COSE_Sign1 whose integrity is not yet checked."""

    alg: Algorithm
    kid: bytes | None
    protected_raw: bytes
    protected: dict
    unprotected: dict
    payload: bytes
    tag: bytes  # MAC tag or signature
    cose_tagged: bool
    cwt_tagged: bool

    def to_be_authenticated(self, external_aad: bytes = b"") -> bytes:
        return to_be_authenticated(self.alg, self.protected_raw, self.payload, external_aad)

    def verify(self, key: CoseKey, external_aad: bytes = b"") -> None:
        """Check the MAC / signature with ``key``; raises TokenError otherwise."""
        if key.alg is not self.alg:
            raise TokenError("unsupported_algorithm",
                             f"token alg {self.alg.name} does not match key {key.kid!r} ({key.alg.name})")
        if not key.check(self.to_be_authenticated(external_aad), self.tag):
            what = "MAC tag" if self.alg.is_mac else "signature"
            raise TokenError("bad_signature", f"{what} does not verify with key {key.kid!r}")


def _malformed(detail: str) -> TokenError:
    return TokenError("malformed", detail)


def decode(data: bytes) -> CoseMessage:
    """Parse a COSE_Mac0 / COSE_Sign1, optionally inside the CWT tag; raises TokenError.

    An untagged message's type follows from its algorithm (RFC 9052 §2 leaves it to the
    application context); a tagged one must agree with it."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise _malformed(f"a token is bytes, not {type(data).__name__}")
    try:
        item = loads(bytes(data))
    except CBORError as exc:
        raise _malformed(f"token is not acceptable CBOR: {exc}") from None
    cwt_tagged = type(item) is CBORTag and item.tag == TAG_CWT
    if cwt_tagged:
        item = item.value
    cose_tag = None
    if type(item) is CBORTag:
        if item.tag not in (TAG_MAC0, TAG_SIGN1):
            where = "inside the CWT tag" if cwt_tagged else "on a token"
            raise _malformed(f"tag {item.tag} {where}; expected COSE_Mac0 (17) or COSE_Sign1 (18)")
        cose_tag, item = item.tag, item.value
    elif cwt_tagged:
        raise _malformed("the CWT tag must wrap a tagged COSE message (RFC 8392 §6)")
    if type(item) not in (list, tuple) or len(item) != 4:  # cbor2 decodes tag contents as tuples
        raise _malformed("a COSE_Mac0 / COSE_Sign1 is an array of 4 items (RFC 9052 §4.2, §6.2)")
    protected_raw, unprotected, payload, tag = item
    if type(protected_raw) is not bytes:
        raise _malformed("protected header must be a byte string (RFC 9052 §3)")
    if not isinstance(unprotected, Mapping):
        raise _malformed("unprotected header must be a map (RFC 9052 §3)")
    unprotected = dict(unprotected)
    if type(payload) is not bytes:
        raise _malformed("payload must be a byte string; detached payloads are not accepted")
    if type(tag) is not bytes:
        raise _malformed("MAC tag / signature must be a byte string")
    protected = _protected_header(protected_raw)
    alg = _check_headers(protected, unprotected)
    if cose_tag is not None and cose_tag != (TAG_MAC0 if alg.is_mac else TAG_SIGN1):
        raise _malformed(f"tag {cose_tag} does not fit alg {alg.name}")
    kid = protected.get(H_KID, unprotected.get(H_KID))
    return CoseMessage(alg, kid, protected_raw, protected, unprotected, payload, tag,
                       cose_tag is not None, cwt_tagged)


@lru_cache(maxsize=64)
def _protected_header(raw: bytes) -> dict:
    """Decode a protected header; cached, since issuers repeat theirs (callers must not mutate)."""
    if not raw:  # a zero-length bstr is the empty header (RFC 9052 §3)
        return {}
    try:
        header = loads(raw)
    except CBORError as exc:
        raise _malformed(f"protected header is not acceptable CBOR: {exc}") from None
    if type(header) is not dict:
        raise _malformed("protected header must encode a map (RFC 9052 §3)")
    return header


def _check_headers(protected: dict, unprotected: dict) -> Algorithm:
    both = protected.keys() & unprotected.keys()
    if both:  # RFC 9052 §3: a label MUST NOT occur in both buckets
        raise _malformed(f"header label(s) {sorted(map(repr, both))} in both protected and unprotected headers")
    if H_CRIT in unprotected:
        raise _malformed("crit must be a protected header (RFC 9052 §3.1)")
    crit = protected.get(H_CRIT)
    if crit is not None:
        if type(crit) not in (list, tuple) or not crit:
            raise _malformed("crit must be a non-empty array of labels (RFC 9052 §3.1)")
        for label in crit:
            if label not in protected:
                raise _malformed(f"critical header {label!r} is not in the protected header")
            if label not in UNDERSTOOD_HEADERS:
                raise _malformed(f"critical header {label!r} is not understood (RFC 9052 §3.1)")
    if H_ALG not in protected:
        where = "unprotected" if H_ALG in unprotected else "any"
        raise _malformed(f"alg is missing from the protected header (found in {where} header);"
                         " it must be integrity-protected (RFC 9052 §3.1)")
    alg_id = protected[H_ALG]
    alg = ALGORITHMS.get(alg_id) if type(alg_id) is int else None
    if alg is None:
        if type(alg_id) not in (int, str):
            raise _malformed(f"alg must be an int or text, not {cbor_type(alg_id)}")
        raise TokenError("unsupported_algorithm", f"alg {alg_id!r} is not one of "
                         + ", ".join(f"{a.name} ({a.id})" for a in ALGORITHMS.values()))
    kid = protected.get(H_KID, unprotected.get(H_KID))
    if kid is not None and type(kid) is not bytes:
        raise _malformed(f"kid must be a byte string, not {cbor_type(kid)}")
    return alg


def encode(key: CoseKey, payload: bytes, *, kid_protected: bool = False, tagged: bool = True,
           cwt_tag: bool = False, external_aad: bytes = b"") -> bytes:
    """Build a COSE_Mac0 or COSE_Sign1 (by the key's algorithm) over ``payload``.

    The protected header holds alg; kid goes in the unprotected header (as in RFC 8392
    Appendix A) unless ``kid_protected``."""
    protected_map = {H_ALG: key.alg.id}
    unprotected = {H_KID: key.kid}
    if kid_protected:
        protected_map, unprotected = {H_ALG: key.alg.id, H_KID: key.kid}, {}
    protected = cbor2.dumps(protected_map)
    tag = key.authenticate(to_be_authenticated(key.alg, protected, payload, external_aad))
    message = [protected, unprotected, payload, tag]
    if tagged or cwt_tag:  # the CWT tag wraps a tagged COSE message (RFC 8392 §6)
        message = CBORTag(TAG_MAC0 if key.alg.is_mac else TAG_SIGN1, message)
    if cwt_tag:
        message = CBORTag(TAG_CWT, message)
    return cbor2.dumps(message)
