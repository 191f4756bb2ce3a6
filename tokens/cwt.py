"""CWT claims sets (RFC 8392 §3, §4) for ODSI management tokens."""
from __future__ import annotations

import math
from functools import partial
from types import MappingProxyType
from typing import Mapping, NamedTuple

import cbor2

from pipsim.kernel.wire import CBORError, cbor_type, loads
from .binding import CMD
from .errors import TokenError

# Claim keys (RFC 8392 §4, Table 1); scope = 9 (RFC 9200 §8.14); cmd: pipsim.tokens.binding.
ISS, SUB, AUD, EXP, NBF, IAT, CTI, SCOPE = 1, 2, 3, 4, 5, 6, 7, 9
NAMES = {ISS: "iss", SUB: "sub", AUD: "aud", EXP: "exp", NBF: "nbf", IAT: "iat", CTI: "cti",
         SCOPE: "scope", CMD: "cmd"}
_NO_OTHER: Mapping = MappingProxyType({})


class Claims(NamedTuple):
    """A decoded claims set; absent claims are None, unknown ones are in ``other``."""

    iss: str | None = None
    sub: str | None = None
    aud: str | None = None
    exp: int | float | None = None
    nbf: int | float | None = None
    iat: int | float | None = None
    cti: bytes | None = None
    scope: str | None = None
    cmd: bytes | None = None      # the digest of the command it authorises (pipsim.tokens.binding)
    other: Mapping = _NO_OTHER

    def to_map(self) -> dict:
        """The claims as a CBOR map, keys in RFC 8392 order, then cmd."""
        fields = {key: self[i] for i, key in enumerate(NAMES)}
        return {k: v for k, v in fields.items() if v is not None} | dict(self.other)

    def encode(self) -> bytes:
        """The claims set's CBOR encoding (a CWT's payload)."""
        return cbor2.dumps(self.to_map())

    def named(self) -> dict:
        """Claims with names instead of keys (unknown keys kept as they are), for display."""
        return {NAMES.get(k, k): v for k, v in self.to_map().items()}


_NUMERIC = (int, float)
# Expected types: StringOrURI / text (RFC 8392 §3.1.1-3.1.3; scope: see pipsim.tokens.scope),
# NumericDate = int or finite float with tag 1 omitted (RFC 8392 §2), cti = bstr (§3.1.7).
_TYPES = {ISS: (str,), SUB: (str,), AUD: (str,), EXP: _NUMERIC, NBF: _NUMERIC, IAT: _NUMERIC,
          CTI: (bytes,), SCOPE: (str,), CMD: (bytes,)}
# the one type per claim that needs no further look; floats (finite?) and unknown claims do
_PLAIN = {key: kinds[0] for key, kinds in _TYPES.items()}
_claims = partial(tuple.__new__, Claims)  # skips NamedTuple's per-field Python __new__


def decode(payload: bytes) -> Claims:
    """Decode and type-check a claims set; raises TokenError("malformed")."""
    try:
        fields = loads(payload)
    except CBORError as exc:
        raise TokenError("malformed", f"payload is not acceptable CBOR: {exc}") from None
    if type(fields) is not dict:
        raise TokenError("malformed", f"payload must be a CWT claims map, not {cbor_type(fields)} (RFC 8392 §7.2)")
    other = _NO_OTHER
    plain = _PLAIN.get
    for key, value in fields.items():
        if plain(key) is not type(value):
            other = _check(fields)
            break
    get = fields.get
    return _claims((get(ISS), get(SUB), get(AUD), get(EXP), get(NBF), get(IAT), get(CTI), get(SCOPE),
                    get(CMD), other))


def _check(fields: dict) -> Mapping:
    """The claims other than known ones; TokenError if a known one has the wrong type."""
    for key, value in fields.items():
        expected = _TYPES.get(key)
        if expected is not None and (type(value) not in expected
                                     or type(value) is float and not math.isfinite(value)):
            raise TokenError("malformed", f"claim {NAMES[key]} must be "
                             f"{'/'.join(t.__name__ for t in expected)}, not {cbor_type(value)} {value!r:.40}")
    other = {k: v for k, v in fields.items() if k not in NAMES}
    return MappingProxyType(other) if other else _NO_OTHER
