"""COSE_Mac0 and COSE_Sign1 (RFC 9052 §4.2, §6.2), tagged or untagged, with or without the CWT tag."""
from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType
from typing import NamedTuple

import cbor2
from cbor2 import CBORTag

from pipkernel.wire import ARRAY_TYPES, MAP_TYPES, CBORError, cbor_type, loads, loads_prefix

from .cbor import bstr_head, bstr_length
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


class CoseMessage(NamedTuple):
    """A decoded COSE_Mac0 / COSE_Sign1 whose integrity is not yet checked."""

    alg: Algorithm
    kid: bytes | None
    protected_raw: bytes
    protected: Mapping
    unprotected: Mapping
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
        if not key.check(to_be_authenticated(self.alg, self.protected_raw, self.payload, external_aad), self.tag):
            what = "MAC tag" if self.alg.is_mac else "signature"
            raise TokenError("bad_signature", f"{what} does not verify with key {key.kid!r}")


def _malformed(detail: str) -> TokenError:
    return TokenError("malformed", detail)


def decode(data: bytes) -> CoseMessage:
    """Parse a COSE_Mac0 / COSE_Sign1, optionally inside the CWT tag; raises TokenError.

    An untagged message's type follows from its algorithm (RFC 9052 §2 leaves it to the
    application context); a tagged one must agree with it."""
    if type(data) is not bytes:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise _malformed(f"a token is bytes, not {type(data).__name__}")
        data = bytes(data)
    try:
        item = loads_prefix(data)
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
    if type(item) not in ARRAY_TYPES or len(item) != 4:
        raise _malformed("a COSE_Mac0 / COSE_Sign1 is an array of 4 items (RFC 9052 §4.2, §6.2)")
    protected_raw, unprotected, payload, tag = item
    if type(protected_raw) is not bytes:
        raise _malformed("protected header must be a byte string (RFC 9052 §3)")
    if type(unprotected) not in MAP_TYPES:
        raise _malformed("unprotected header must be a map (RFC 9052 §3)")
    if type(payload) is not bytes:
        raise _malformed("payload must be a byte string; detached payloads are not accepted")
    if type(tag) is not bytes:
        raise _malformed("MAC tag / signature must be a byte string")
    if _shortest_length(cwt_tagged, cose_tag, item) != len(data):
        try:  # bytes after the message, or a longer-than-needed encoding: decode exactly to tell
            loads(data)
        except CBORError as exc:
            raise _malformed(f"token is not acceptable CBOR: {exc}") from None
    protected, alg = _protected_header(protected_raw)
    if cose_tag is not None and cose_tag != (TAG_MAC0 if alg.is_mac else TAG_SIGN1):
        raise _malformed(f"tag {cose_tag} does not fit alg {alg.name}")
    if unprotected:
        if not protected.keys().isdisjoint(unprotected):  # RFC 9052 §3: never in both buckets
            both = sorted(map(repr, protected.keys() & unprotected.keys()))
            raise _malformed(f"header label(s) {', '.join(both)} in both protected and unprotected headers")
        if H_CRIT in unprotected:
            raise _malformed("crit must be a protected header (RFC 9052 §3.1)")
        if H_ALG in unprotected:
            raise _malformed("alg must be in the protected header only (RFC 9052 §3.1)")
    kid = protected.get(H_KID)
    if kid is None:
        kid = unprotected.get(H_KID)
    if kid is not None and type(kid) is not bytes:
        raise _malformed(f"kid must be a byte string, not {cbor_type(kid)}")
    return CoseMessage(alg, kid, protected_raw, protected, unprotected, payload, tag,
                       cose_tag is not None, cwt_tagged)


def _shortest_length(cwt_tagged: bool, cose_tag, item) -> int:
    """Length of the message in preferred encoding (RFC 8949 §4.2.1), never more than its
    real length; equal to ``len(data)`` proves nothing follows it.  0 when the unprotected
    header is not the usual {} or {kid: bstr}."""
    protected, unprotected, payload, tag = item
    if not unprotected:
        header = 1
    elif len(unprotected) == 1 and type(unprotected.get(H_KID)) is bytes:
        header = 2 + bstr_length(len(unprotected[H_KID]))
    else:
        return 0
    return ((2 if cwt_tagged else 0) + (cose_tag is not None) + 1 + header + bstr_length(len(protected))
            + bstr_length(len(payload)) + bstr_length(len(tag)))


@lru_cache(maxsize=64)
def _protected_header(raw: bytes) -> tuple[Mapping, Algorithm]:
    """Decode and check a protected header; cached, since issuers repeat theirs."""
    header = {}
    if raw:  # a zero-length bstr is the empty header (RFC 9052 §3)
        try:
            header = loads(raw)
        except CBORError as exc:
            raise _malformed(f"protected header is not acceptable CBOR: {exc}") from None
        if type(header) is not dict:
            raise _malformed("protected header must encode a map (RFC 9052 §3)")
    crit = header.get(H_CRIT)
    if crit is not None:
        if type(crit) is not list or not crit:
            raise _malformed("crit must be a non-empty array of labels (RFC 9052 §3.1)")
        for label in crit:
            if type(label) not in (int, str):
                raise _malformed(f"crit labels are ints or text, not {cbor_type(label)}")
            if label not in header:
                raise _malformed(f"critical header {label!r} is not in the protected header")
            if label not in UNDERSTOOD_HEADERS:
                raise _malformed(f"critical header {label!r} is not understood (RFC 9052 §3.1)")
    if H_ALG not in header:
        raise _malformed("alg is missing from the protected header; it must be integrity-protected"
                         " (RFC 9052 §3.1)")
    alg_id = header[H_ALG]
    alg = ALGORITHMS.get(alg_id) if type(alg_id) is int else None
    if alg is None:
        if type(alg_id) not in (int, str):
            raise _malformed(f"alg must be an int or text, not {cbor_type(alg_id)}")
        raise TokenError("unsupported_algorithm", f"alg {alg_id!r} is not one of "
                         + ", ".join(f"{a.name} ({a.id})" for a in ALGORITHMS.values()))
    return MappingProxyType(header), alg


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
