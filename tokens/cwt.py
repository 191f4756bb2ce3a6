"""CWT claims sets (RFC 8392 §3, §4) for ODSI management tokens."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import cbor2

from .cbor import CBORError, cbor_type, loads
from .errors import TokenError

# Claim keys (RFC 8392 §4, Table 1); scope = 9 (RFC 9200 §8.14).
ISS, SUB, AUD, EXP, NBF, IAT, CTI, SCOPE = 1, 2, 3, 4, 5, 6, 7, 9
NAMES = {ISS: "iss", SUB: "sub", AUD: "aud", EXP: "exp", NBF: "nbf", IAT: "iat", CTI: "cti", SCOPE: "scope"}
_TEXT = (ISS, SUB, AUD, SCOPE)  # StringOrURI / text (RFC 8392 §3.1.1-3.1.3)
_DATES = (EXP, NBF, IAT)        # NumericDate: int or float, tag 1 omitted (RFC 8392 §2)


@dataclass(frozen=True, slots=True)
class Claims:
    """A decoded claims set; claims that are absent are None, unknown ones are in ``other``."""

    iss: str | None = None
    sub: str | None = None
    aud: str | None = None
    exp: int | float | None = None
    nbf: int | float | None = None
    iat: int | float | None = None
    cti: bytes | None = None
    scope: str | None = None
    other: dict = field(default_factory=dict)

    def to_map(self) -> dict:
        """The claims as a CBOR map, keys in RFC 8392 order."""
        fields = {key: getattr(self, name) for key, name in NAMES.items()}
        return {k: v for k, v in fields.items() if v is not None} | self.other

    def encode(self) -> bytes:
        return cbor2.dumps(self.to_map())

    def named(self) -> dict:
        """Claims with names instead of keys (unknown keys kept as they are), for display."""
        return {NAMES.get(k, k): v for k, v in self.to_map().items()}


def decode(payload: bytes) -> Claims:
    """Decode and type-check a claims set; raises TokenError("malformed")."""
    try:
        fields = loads(payload)
    except CBORError as exc:
        raise TokenError("malformed", f"payload is not acceptable CBOR: {exc}") from None
    if type(fields) is not dict:
        raise TokenError("malformed", f"payload must be a CWT claims map, not {cbor_type(fields)} (RFC 8392 §7.2)")
    for key in _TEXT:
        value = fields.get(key)
        if value is not None and type(value) is not str:
            raise TokenError("malformed", f"claim {NAMES[key]} must be text, not {cbor_type(value)}")
    for key in _DATES:
        value = fields.get(key)
        if value is not None and not (type(value) is int or type(value) is float and math.isfinite(value)):
            raise TokenError("malformed", f"claim {NAMES[key]} must be a NumericDate (RFC 8392 §2), not {value!r}")
    cti = fields.get(CTI)
    if cti is not None and type(cti) is not bytes:
        raise TokenError("malformed", f"claim cti must be a byte string (RFC 8392 §3.1.7), not {cbor_type(cti)}")
    other = {k: v for k, v in fields.items() if k not in NAMES}
    return Claims(fields.get(ISS), fields.get(SUB), fields.get(AUD), fields.get(EXP), fields.get(NBF),
                  fields.get(IAT), cti, fields.get(SCOPE), other)
