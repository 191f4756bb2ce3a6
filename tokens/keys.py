"""COSE algorithms and COSE_Key objects (RFC 9052 §7, RFC 9053) with cached crypto objects."""
from __future__ import annotations

import hmac
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.hmac import HMAC
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pipsim.kernel.keyfiles import write_private
from pipsim.kernel.wire import CBORError, loads
from .errors import VaultError

# COSE_Key common parameters (RFC 9052 §7.1, Table 4).
KTY, KID, ALG, KEY_OPS = 1, 2, 3, 4
# Key types (RFC 9053 §7, Table 17).
KTY_OKP, KTY_EC2, KTY_SYMMETRIC = 1, 2, 4
# Key-type parameters: EC2 (RFC 9053 §7.1.1), OKP (§7.2), Symmetric (§7.3).
CRV, X, Y, D, K = -1, -2, -3, -4, -1
# Curves (RFC 9053 §7.1, Table 18).
CRV_P256, CRV_ED25519 = 1, 6
# key_ops values (RFC 9052 §7.1, Table 5).
OP_SIGN, OP_VERIFY, OP_MAC_CREATE, OP_MAC_VERIFY = 1, 2, 9, 10

ISSUE, VERIFY = "issue", "verify"
USES = frozenset({ISSUE, VERIFY})
MIN_HMAC_KEY = 32  # RFC 2104 §3: keys shorter than the hash output weaken HMAC


@dataclass(frozen=True, slots=True)
class Algorithm:
    """A COSE algorithm this package implements."""

    id: int
    name: str
    is_mac: bool
    kty: int
    crv: int | None
    tag_len: int  # MAC tag or signature length in bytes

    def key_op(self, use: str) -> int:
        """The COSE key_ops value for a use ("issue" or "verify") with this algorithm."""
        if self.is_mac:
            return OP_MAC_CREATE if use == ISSUE else OP_MAC_VERIFY
        return OP_SIGN if use == ISSUE else OP_VERIFY


# RFC 9053 §3.1 (HMAC 256/64 = 4 truncates to 64 bits, 256/256 = 5), §2.1 (ES256 = -7,
# signature r||s, 32 bytes each), §2.2 (EdDSA = -8; here Ed25519 only).
HMAC_256_64 = Algorithm(4, "HMAC 256/64", True, KTY_SYMMETRIC, None, 8)
HMAC_256_256 = Algorithm(5, "HMAC 256/256", True, KTY_SYMMETRIC, None, 32)
ES256 = Algorithm(-7, "ES256", False, KTY_EC2, CRV_P256, 64)
EDDSA = Algorithm(-8, "EdDSA", False, KTY_OKP, CRV_ED25519, 64)
ALGORITHMS = {alg.id: alg for alg in (HMAC_256_64, HMAC_256_256, ES256, EDDSA)}
ALGORITHM_NAMES = tuple(alg.name.replace(" ", "") for alg in ALGORITHMS.values())  # manifests'
_BY_NAME = {name.lower(): alg for name, alg in zip(ALGORITHM_NAMES, ALGORITHMS.values())}


def algorithm(ref: int | str | Algorithm) -> Algorithm:
    """Look an algorithm up by COSE id, by name ("ES256", "HMAC256/64") or pass one through."""
    if isinstance(ref, Algorithm):
        return ref
    found = ALGORITHMS.get(ref) if isinstance(ref, int) else _BY_NAME.get(str(ref).replace(" ", "").lower())
    if found is None:
        raise VaultError(f"unsupported algorithm {ref!r}; supported: "
                         + ", ".join(a.name for a in ALGORITHMS.values()))
    return found


_ECDSA = ec.ECDSA(hashes.SHA256())
PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


class CoseKey:
    """One key: kid, algorithm, allowed uses, and its ready-to-use crypto object."""

    __slots__ = ("kid", "alg", "uses", "_secret", "_mac", "_private", "_public")
    # the crypto objects: alg says which kind (a MAC, an EC or an Ed25519 key); None: absent
    _mac: Any
    _private: Any
    _public: Any

    def __init__(self, kid: bytes, alg: Algorithm, uses: Iterable[str] | None, *,
                 secret: bytes | None = None, private: PrivateKey | None = None,
                 public: PublicKey | None = None):
        self.kid = bytes(kid)
        self.alg = alg
        self._secret = secret
        # keyed once; each MAC copies it (0.8 us less than hmac.digest re-keying every time)
        self._mac = None if secret is None else HMAC(secret, hashes.SHA256())
        self._private = private
        self._public = public if public is not None or private is None else private.public_key()
        possible = {ISSUE, VERIFY} if secret is not None or private is not None else {VERIFY}
        uses = frozenset(possible if uses is None else uses)
        if not uses <= USES:
            raise VaultError(f"unknown key use(s) {sorted(uses - USES)}; uses are 'issue' and 'verify'")
        if not uses <= possible:
            raise VaultError(f"key {self.kid!r} has no private part, so it cannot be used to issue")
        self.uses = uses

    # -- construction ---------------------------------------------------------------
    @classmethod
    def generate(cls, alg: int | str | Algorithm, kid: bytes,
                 uses: Iterable[str] | None = None) -> CoseKey:
        """A fresh random key for ``alg``."""
        alg = algorithm(alg)
        if alg.kty == KTY_SYMMETRIC:
            return cls(kid, alg, uses, secret=os.urandom(32))
        if alg.kty == KTY_EC2:
            return cls(kid, alg, uses, private=ec.generate_private_key(ec.SECP256R1()))
        return cls(kid, alg, uses, private=ed25519.Ed25519PrivateKey.generate())

    @classmethod
    def from_bytes(cls, data: bytes, *, alg: int | str | Algorithm | None = None,
                   uses: Iterable[str] | None = None) -> CoseKey:
        """Import a CBOR-encoded COSE_Key (RFC 9052 §7).

        ``alg`` supplies the algorithm when the key has none (it must agree if both are
        given); ``uses`` overrides what the key's ``key_ops`` allow."""
        try:
            fields = loads(data)
        except CBORError as exc:
            raise VaultError(f"COSE_Key is not valid CBOR: {exc}") from None
        if not isinstance(fields, dict):
            raise VaultError("COSE_Key must be a CBOR map")
        return cls.from_map(fields, alg=alg, uses=uses)

    @classmethod
    def from_map(cls, fields: dict, *, alg: int | str | Algorithm | None = None,
                 uses: Iterable[str] | None = None) -> CoseKey:
        """Import a decoded COSE_Key map (as from_bytes)."""
        kty = fields.get(KTY)
        if kty not in (KTY_OKP, KTY_EC2, KTY_SYMMETRIC) or isinstance(kty, bool):
            raise VaultError(f"unsupported COSE_Key kty {kty!r} (OKP=1, EC2=2, Symmetric=4)")
        kid = fields.get(KID)
        if not isinstance(kid, bytes) or not kid:
            raise VaultError("COSE_Key needs a non-empty byte-string kid (label 2)")
        key_alg = fields.get(ALG)
        given = key_alg if key_alg is not None else alg
        if given is None:
            raise VaultError(f"COSE_Key {kid!r} names no alg (label 3); pass alg=")
        if key_alg is not None and (isinstance(key_alg, bool) or not isinstance(key_alg, (int, str))):
            raise VaultError(f"COSE_Key alg must be an int or text, not {key_alg!r}")
        chosen = algorithm(given)
        if alg is not None and key_alg is not None and algorithm(alg) is not chosen:
            raise VaultError(f"COSE_Key {kid!r} is for {chosen.name}, not {algorithm(alg).name}")
        if chosen.kty != kty:
            raise VaultError(f"{chosen.name} needs kty {chosen.kty}, COSE_Key {kid!r} has kty {kty}")
        if uses is None and KEY_OPS in fields:
            uses = _uses_from_ops(chosen, fields[KEY_OPS])
        if kty == KTY_SYMMETRIC:
            secret = _bstr(fields, K, "k")
            if len(secret) < MIN_HMAC_KEY:
                raise VaultError(f"symmetric key is {len(secret)} bytes; at least {MIN_HMAC_KEY} required")
            return cls(kid, chosen, uses, secret=secret)
        if fields.get(CRV) != chosen.crv:
            raise VaultError(f"{chosen.name} needs crv {chosen.crv}, COSE_Key has {fields.get(CRV)!r}")
        x = _bstr(fields, X, "x", 32)
        d = _bstr(fields, D, "d", 32) if D in fields else None
        public: PublicKey
        private: PrivateKey | None
        try:
            if kty == KTY_EC2:
                y = fields.get(Y)
                if isinstance(y, bool):  # compressed point: y is its sign bit (RFC 9053 §7.1.1)
                    point = bytes((3 if y else 2,)) + x
                else:
                    point = b"\x04" + x + _bstr(fields, Y, "y", 32)
                public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
                private = None if d is None else ec.derive_private_key(int.from_bytes(d, "big"), ec.SECP256R1())
            else:
                public = ed25519.Ed25519PublicKey.from_public_bytes(x)
                private = None if d is None else ed25519.Ed25519PrivateKey.from_private_bytes(d)
        except ValueError as exc:
            raise VaultError(f"COSE_Key {kid!r} holds an invalid {chosen.name} key: {exc}") from None
        if private is not None and _raw_public(private.public_key()) != _raw_public(public):
            raise VaultError(f"COSE_Key {kid!r}: private part d does not match public part")
        return cls(kid, chosen, uses, private=private, public=public)

    # -- export -----------------------------------------------------------------------
    def to_map(self, *, private: bool = True) -> dict:
        """The COSE_Key as a map; ``private=False`` gives the verify-only public key."""
        fields = {KTY: self.alg.kty, KID: self.kid, ALG: self.alg.id,
                  KEY_OPS: sorted(self.alg.key_op(use) for use in self.uses)}
        if self._secret is not None:
            if not private:
                raise VaultError(f"key {self.kid!r} is symmetric; it has no public part")
            fields[K] = self._secret
            return fields
        fields[CRV] = self.alg.crv
        raw = _raw_public(self._public)
        if self.alg.kty == KTY_EC2:
            fields[X], fields[Y] = raw[1:33], raw[33:]
            if private and self._private is not None:
                fields[D] = self._private.private_numbers().private_value.to_bytes(32, "big")
        else:
            fields[X] = raw
            if private and self._private is not None:
                fields[D] = self._private.private_bytes_raw()
        if not private:
            fields[KEY_OPS] = [self.alg.key_op(VERIFY)]
        return fields

    def to_bytes(self, *, private: bool = True) -> bytes:
        """The COSE_Key encoding; ``private=False`` gives the verify-only public key."""
        return cbor2.dumps(self.to_map(private=private))

    def save(self, path: str | os.PathLike, *, private: bool = True) -> None:
        """Write the COSE_Key to ``path``; a file holding a private part or a secret is
        created with mode 0600 (owner only)."""
        data = self.to_bytes(private=private)
        if private and (self._secret is not None or self._private is not None):
            write_private(path, data, replace=True)
        else:
            Path(path).write_bytes(data)

    def public_key(self) -> CoseKey:
        """The verify-only public half of an asymmetric key."""
        return CoseKey.from_map(self.to_map(private=False))

    @property
    def is_symmetric(self) -> bool:
        """A shared secret (a MAC key), not a key pair."""
        return self._secret is not None

    # -- crypto -----------------------------------------------------------------------
    def authenticate(self, data: bytes) -> bytes:
        """MAC tag or signature over ``data`` (the COSE ToBeMaced / ToBeSigned bytes)."""
        if ISSUE not in self.uses:
            raise VaultError(f"key {self.kid!r} may not be used to issue")
        if self._mac is not None:
            return self._mac_of(data)
        if self.alg is ES256:
            r, s = decode_dss_signature(self._private.sign(data, _ECDSA))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return self._private.sign(data)

    def _mac_of(self, data: bytes) -> bytes:
        mac = self._mac.copy()
        mac.update(data)
        return mac.finalize()[: self.alg.tag_len]

    def check(self, data: bytes, tag: bytes) -> bool:
        """Whether ``tag`` is a valid MAC tag / signature over ``data`` (constant-time for MACs)."""
        if len(tag) != self.alg.tag_len:
            return False
        if self._mac is not None:
            return hmac.compare_digest(self._mac_of(data), tag)
        try:
            if self.alg is ES256:
                signature = encode_dss_signature(int.from_bytes(tag[:32], "big"), int.from_bytes(tag[32:], "big"))
                self._public.verify(signature, data, _ECDSA)
            else:
                self._public.verify(tag, data)
        except InvalidSignature:
            return False
        return True

    def __repr__(self) -> str:
        return f"CoseKey(kid={self.kid!r}, alg={self.alg.name}, uses={sorted(self.uses)})"


def _bstr(fields: dict, label: int, name: str, size: int | None = None) -> bytes:
    value = fields.get(label)
    if not isinstance(value, bytes):
        raise VaultError(f"COSE_Key parameter {name} (label {label}) must be a byte string")
    if size is not None and len(value) != size:
        raise VaultError(f"COSE_Key parameter {name} must be {size} bytes, not {len(value)}")
    return value


def _raw_public(public: PublicKey) -> bytes:
    if isinstance(public, ec.EllipticCurvePublicKey):
        return public.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return public.public_bytes_raw()


def _uses_from_ops(alg: Algorithm, ops: Any) -> frozenset:
    if not isinstance(ops, list) or not all(isinstance(op, int) and not isinstance(op, bool) for op in ops):
        raise VaultError("COSE_Key key_ops (label 4) must be an array of integers")
    uses = frozenset(use for use in USES if alg.key_op(use) in ops)
    if not uses:
        raise VaultError(f"COSE_Key key_ops {ops} allow neither issuing nor verifying with {alg.name}")
    return uses
