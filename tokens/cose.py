"""COSE_Mac0 and COSE_Sign1 (RFC 9052 §4.2, §6.2), tagged or untagged, with or without the CWT tag."""
from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from types import MappingProxyType
from typing import NamedTuple

import cbor2
from cbor2 import CBORTag

from pipsim.kernel.wire import ARRAY_TYPES, MAP_TYPES, CBORError, cbor_type, loads

from .cbor import bstr_head
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
        """The bytes its tag authenticates (the module's to_be_authenticated)."""
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
        item = loads(data)
    except CBORError as exc:
        raise _malformed(f"token is not acceptable CBOR: {exc}") from None
    cwt_tagged = False
    cose_tag = None
    if type(item) is CBORTag:
        cose_tag, item = item.tag, item.value
        if cose_tag == TAG_CWT:
            if type(item) is not CBORTag:
                raise _malformed("the CWT tag must wrap a tagged COSE message (RFC 8392 §6)")
            cwt_tagged = True
            cose_tag, item = item.tag, item.value
        if cose_tag != TAG_MAC0 and cose_tag != TAG_SIGN1:
            where = "inside the CWT tag" if cwt_tagged else "on a token"
            raise _malformed(f"tag {cose_tag} {where}; expected COSE_Mac0 (17) or COSE_Sign1 (18)")
    if type(item) not in ARRAY_TYPES or len(item) != 4:
        raise _malformed("a COSE_Mac0 / COSE_Sign1 is an array of 4 items (RFC 9052 §4.2, §6.2)")
    protected_raw, unprotected, payload, tag = item
    if (type(protected_raw) is not bytes or type(payload) is not bytes or type(tag) is not bytes
            or type(unprotected) not in MAP_TYPES):
        raise _malformed(_envelope_error(protected_raw, unprotected, payload))
    protected, alg, kid = _HEADERS.get(protected_raw) or _protected_header(protected_raw)
    if cose_tag is not None and cose_tag != (TAG_MAC0 if alg.is_mac else TAG_SIGN1):
        raise _malformed(f"tag {cose_tag} does not fit alg {alg.name}")
    if unprotected:
        if kid is None and unprotected.keys() == _KID_ONLY:
            kid = unprotected[H_KID]  # the usual unprotected header, {kid: bstr}
        else:
            _check_unprotected(protected, unprotected)
            if kid is None:
                kid = unprotected.get(H_KID)
    if kid is not None and type(kid) is not bytes:
        raise _malformed(f"kid must be a byte string, not {cbor_type(kid)}")
    return _message((alg, kid, protected_raw, protected, unprotected, payload, tag,
                     cose_tag is not None, cwt_tagged))


_message = partial(tuple.__new__, CoseMessage)  # skips NamedTuple's per-field Python __new__


def _envelope_error(protected: object, unprotected: object, payload: object) -> str:
    if type(protected) is not bytes:
        return "protected header must be a byte string (RFC 9052 §3)"
    if type(unprotected) not in MAP_TYPES:
        return "unprotected header must be a map (RFC 9052 §3)"
    if type(payload) is not bytes:
        return "payload must be a byte string; detached payloads are not accepted"
    return "MAC tag / signature must be a byte string"


def _check_unprotected(protected: Mapping, unprotected: Mapping) -> None:
    if not protected.keys().isdisjoint(unprotected):  # RFC 9052 §3: never in both buckets
        both = sorted(map(repr, protected.keys() & unprotected.keys()))
        raise _malformed(f"header label(s) {', '.join(both)} in both protected and unprotected headers")
    if H_CRIT in unprotected:
        raise _malformed("crit must be a protected header (RFC 9052 §3.1)")
    if H_ALG in unprotected:
        raise _malformed("alg must be in the protected header only (RFC 9052 §3.1)")


_KID_ONLY = {H_KID: None}.keys()


_HEADERS: dict[bytes, tuple] = {}  # checked protected headers: issuers repeat theirs
_HEADERS_KEPT = 64


def _protected_header(raw: bytes) -> tuple[Mapping, Algorithm, object]:
    """Decode and check a protected header: (header, alg, kid or None), kept in _HEADERS
    (emptied when full: a flood of headers costs only their decoding)."""
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
    if len(_HEADERS) >= _HEADERS_KEPT:
        _HEADERS.clear()
    checked = _HEADERS[raw] = MappingProxyType(header), alg, header.get(H_KID)
    return checked


def encode(key: CoseKey, payload: bytes, *, kid_protected: bool = False, tagged: bool = True,
           cwt_tag: bool = False, external_aad: bytes = b"") -> bytes:
    """Build a COSE_Mac0 or COSE_Sign1 (by the key's algorithm) over ``payload``.

    The protected header holds alg; kid goes in the unprotected header (as in RFC 8392
    Appendix A) unless ``kid_protected``."""
    protected_map: dict[int, int | bytes] = {H_ALG: key.alg.id}
    unprotected: dict[int, bytes] = {H_KID: key.kid}
    if kid_protected:
        protected_map, unprotected = {H_ALG: key.alg.id, H_KID: key.kid}, {}
    protected = cbor2.dumps(protected_map)
    tag = key.authenticate(to_be_authenticated(key.alg, protected, payload, external_aad))
    message: list | CBORTag = [protected, unprotected, payload, tag]
    if tagged or cwt_tag:  # the CWT tag wraps a tagged COSE message (RFC 8392 §6)
        message = CBORTag(TAG_MAC0 if key.alg.is_mac else TAG_SIGN1, message)
    if cwt_tag:
        message = CBORTag(TAG_CWT, message)
    return cbor2.dumps(message)
