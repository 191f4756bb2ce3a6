"""Roots of trust: what holds the device's attestation key, the tree register the
measurements are extended into, and the sealing key (docs/attestation.md "Roots of trust").

``RootOfTrust`` is the interface; ``SoftwareRoot`` the embedded software one, the default:
its device secret and attestation key are generated per device and kept by the host, never
in partition memory.  ``pipsim.trust.rot_tpm.TpmRoot`` puts them in a TPM 2.0.
"""
from __future__ import annotations

import abc
import os
from typing import Any

import cbor2
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from pipsim.kernel.errors import PipsimError
from pipsim.kernel.wire import CBORError, loads
from pipsim.tokens import cose
from pipsim.tokens.errors import TokenError
from pipsim.tokens.keys import EDDSA, CoseKey

from .measure import DIGEST_SIZE, ZERO, extend

SEAL_NONCE = 12


class AttestationError(PipsimError):
    """Evidence refused; ``reason`` is one of ``REASONS``, ``detail`` says what was wrong."""

    REASONS = ("malformed", "bad_signature", "nonce_invalid", "nonce_unknown", "nonce_reused",
               "nonce_mismatch", "log_invalid", "log_mismatch", "unknown_root")

    def __init__(self, reason: str, detail: str):
        if reason not in self.REASONS:
            raise ValueError(f"unknown AttestationError reason {reason!r}")
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


class SealError(PipsimError):
    """Sealed data that does not open here and now: another device, another register value,
    or a damaged blob."""


def bound(register: bytes) -> bytes:
    """A register to seal to: DIGEST_SIZE bytes, else ValueError."""
    if not isinstance(register, bytes) or len(register) != DIGEST_SIZE:
        raise ValueError(f"a register to seal to is {DIGEST_SIZE} bytes")
    return register


class RootOfTrust(abc.ABC):
    """A device's root of trust for reporting (quotes) and storage (sealing)."""

    kind: str

    @abc.abstractmethod
    def extend(self, digest: bytes) -> None:
        """Extend the tree register with a 32-byte digest (PCR style)."""

    @abc.abstractmethod
    def register(self) -> bytes:
        """The tree register's value now."""

    @abc.abstractmethod
    def quote(self, nonce: bytes, claims: bytes) -> bytes:
        """A signed quote of the register and ``nonce``; ``claims`` (a digest of what the
        device says besides: pipsim.trust.attest) is signed too where the root can."""

    @classmethod
    @abc.abstractmethod
    def check_quote(cls, quote: bytes, public_key: Any, nonce: bytes, claims: bytes,
                    register: bytes) -> None:
        """The verifier's side: ``quote`` is signed by ``public_key`` over ``nonce``, the
        register value ``register`` and (where the root signs them) ``claims``; else
        AttestationError (malformed, bad_signature, nonce_mismatch, log_mismatch)."""

    @abc.abstractmethod
    def public_key(self) -> Any:
        """What a verifier checks quotes with (enrolled once, at manufacture)."""

    @abc.abstractmethod
    def seal(self, data: bytes, register: bytes | None = None) -> bytes:
        """``data`` bound to this device and to the tree register's value now, or to
        ``register``: a partition's register, as the host measured it (a domain's sealed
        key vault: docs/trust.md)."""

    @abc.abstractmethod
    def unseal(self, blob: bytes, register: bytes | None = None) -> bytes:
        """What ``seal`` bound; SealError unless the tree register (or the ``register``
        given) holds the same value, on the same device."""


class SoftwareRoot(RootOfTrust):
    """The embedded software root of trust: a device secret and an Ed25519 attestation key
    in host memory; quotes are COSE_Sign1; sealing is ChaCha20-Poly1305 under a key
    HKDF-derived from the device secret and the register."""

    kind = "software"

    def __init__(self, secret: bytes, key: CoseKey):
        self._secret, self._key, self._register = secret, key, ZERO

    @classmethod
    def generate(cls, device: str = "device") -> SoftwareRoot:
        """A fresh device: a random secret and attestation key (kid: the device's name)."""
        return cls(os.urandom(32), CoseKey.generate(EDDSA, f"{device}/attestation".encode()))

    def extend(self, digest: bytes) -> None:
        self._register = extend(self._register, digest)

    def register(self) -> bytes:
        return self._register

    def quote(self, nonce: bytes, claims: bytes) -> bytes:
        payload = cbor2.dumps({"nonce": nonce, "register": self._register, "claims": claims},
                              canonical=True)
        return cose.encode(self._key, payload, kid_protected=True)

    @classmethod
    def check_quote(cls, quote: bytes, public_key: CoseKey, nonce: bytes, claims: bytes,
                    register: bytes) -> None:
        try:
            message = cose.decode(quote)
        except TokenError as error:
            raise AttestationError("malformed", f"quote: {error.detail}") from None
        try:
            message.verify(public_key)
        except TokenError as error:
            raise AttestationError("bad_signature", f"quote: {error.detail}") from None
        try:
            signed = loads(message.payload)
        except CBORError as error:
            raise AttestationError("malformed", f"quote payload: {error}") from None
        if not isinstance(signed, dict) or signed.get("nonce") is None:
            raise AttestationError("malformed", "quote payload is no map with a nonce")
        if signed["nonce"] != nonce:
            raise AttestationError("nonce_mismatch", "the quote answers another nonce "
                                   "(a replayed quote)")
        if signed.get("register") != register:
            raise AttestationError("log_mismatch", "the event log does not replay to the "
                                   "quoted register")
        if signed.get("claims") != claims:
            raise AttestationError("log_mismatch", "the claims differ from what was signed")

    def public_key(self) -> CoseKey:
        return self._key.public_key()

    def _sealing_key(self, register: bytes) -> ChaCha20Poly1305:
        hkdf = HKDF(hashes.SHA256(), 32, salt=register, info=b"pipsim seal")
        return ChaCha20Poly1305(hkdf.derive(self._secret))

    def seal(self, data: bytes, register: bytes | None = None) -> bytes:
        nonce = os.urandom(SEAL_NONCE)
        key = self._sealing_key(self._register if register is None else bound(register))
        return nonce + key.encrypt(nonce, data, b"")

    def unseal(self, blob: bytes, register: bytes | None = None) -> bytes:
        if len(blob) < SEAL_NONCE + 16:
            raise SealError("sealed blob too short")
        key = self._sealing_key(self._register if register is None else bound(register))
        try:
            return key.decrypt(blob[:SEAL_NONCE], blob[SEAL_NONCE:], b"")
        except InvalidTag:
            raise SealError("does not unseal: another device, or the measurements "
                            "changed since it was sealed") from None
