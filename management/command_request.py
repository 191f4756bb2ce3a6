"""The ciphered command request (D3.3 §2.1, §4.3's ``cipheredCommand``): a command signed
and encrypted with the requesting domain's key, from the Keystore Manager.

    cipheredCommand = base64url( COSE_Encrypt0( COSE_Mac0( request ) ) )
    request         = {"command": <D3.3 §4.2 command>, "iat": seconds, "nonce": 16 bytes}

* The command is D3.3 §4.2's map (``id``, ``domain``, ``device``, ``operation``, ``value``;
  ``token`` when it is given to the Token Validator), checked by ``pipsim.domains.commands``.
* Signed: a COSE_Mac0 (RFC 9052 §6.2, HMAC 256/256, kid = the domain's alias; built and
  checked by ``pipsim.tokens.cose``) — D3.3 §3.3's "sign a token request".
* Encrypted: a COSE_Encrypt0 (RFC 9052 §5.2, tag 16) with A256GCM (RFC 9053 §4.1: alg 3, a
  random 96-bit IV in the unprotected header, label 5; kid there too, label 4); the AAD is
  the Enc_structure ["Encrypt0", protected, h''] (RFC 9052 §5.3) — "cipher".
* One symmetric domain key (a COSE_Key of at least 32 bytes) gives both keys by HKDF-SHA256
  (RFC 5869; ``info`` names the use), so neither use's key is the other's.
* Fresh: ``iat`` within MAX_AGE seconds (MAX_SKEW ahead) and its ``nonce`` not seen before
  (:class:`Receiver`), so a captured request cannot be played again for a second token.
* Text: base64url (RFC 4648 §5); read padded (as D3.3's example) or not.
"""
from __future__ import annotations

import base64
import binascii
import os
import time
from collections.abc import Mapping
from typing import Callable, NamedTuple

import cbor2
from cbor2 import CBORTag
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from pipsim.domains.commands import Command, Refused, from_map
from pipsim.domains.lwm2m import b64url
from pipsim.kernel.errors import PipsimError
from pipsim.kernel.wire import ARRAY_TYPES, MAP_TYPES, CBORError, loads
from pipsim.tokens import HMAC_256_256, CoseKey, ReplayCache, TokenError, cose
from pipsim.tokens.keys import ISSUE, VERIFY, K

TAG_ENCRYPT0, A256GCM = 16, 3                 # RFC 9052 §2 Table 1; RFC 9053 §4.1 Table 9
H_ALG, H_KID, H_IV = 1, 4, 5                  # RFC 9052 §3.1 Table 3
IV_BYTES, NONCE_BYTES = 12, 16
MAX_AGE, MAX_SKEW = 120, 30                   # seconds
MAX_TEXT = 4096                               # characters of cipheredCommand
SEEN = 65536          # nonces kept: 65,536 / (MAX_AGE + MAX_SKEW) = 436 requests/s sustained
_PROTECTED = cbor2.dumps({H_ALG: A256GCM})
_ENC_STRUCTURE = cbor2.dumps(["Encrypt0", _PROTECTED, b""])


class RequestError(PipsimError, ValueError):
    """A ciphered command request that cannot be accepted; the message says why."""


class Request(NamedTuple):
    """An opened request: its command, when it was made (iat) and its nonce."""

    command: Command
    iat: int
    nonce: bytes


def from_b64url(text: object, what: str) -> bytes:
    """Strict base64url (RFC 4648 §5), padded or not; RequestError otherwise."""
    if not isinstance(text, str) or not text.isascii():
        raise RequestError(f"{what} must be base64url text")
    try:
        return base64.b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4),
                                altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(f"{what} is not base64url") from None


def _keys(key: CoseKey) -> tuple[CoseKey, AESGCM]:
    """The MAC key and the cipher a domain key gives (HKDF, one ``info`` per use)."""
    if not key.is_symmetric:
        raise RequestError(f"key {key.kid!r} is not symmetric: command requests need one")
    secret = key.to_map()[K]

    def derive(use: bytes) -> bytes:
        return HKDF(hashes.SHA256(), 32, None, b"pipsim command request " + use).derive(secret)
    return (CoseKey(key.kid, HMAC_256_256, {ISSUE, VERIFY}, secret=derive(b"mac")),
            AESGCM(derive(b"A256GCM")))


def build(key: CoseKey, command: Mapping, *, now: float | None = None) -> str:
    """The cipheredCommand for ``command`` (D3.3 §4.2's map), under the domain key ``key``."""
    try:
        from_map(command, unsigned="token" not in command)
    except Refused as exc:
        raise RequestError(f"command: {exc.detail}") from None
    mac_key, cipher = _keys(key)
    request = {"command": dict(command), "iat": int(time.time() if now is None else now),
               "nonce": os.urandom(NONCE_BYTES)}
    signed = cose.encode(mac_key, cbor2.dumps(request))
    iv = os.urandom(IV_BYTES)
    ciphertext = cipher.encrypt(iv, signed, _ENC_STRUCTURE)
    return b64url(cbor2.dumps(CBORTag(TAG_ENCRYPT0, [_PROTECTED, {H_KID: key.kid, H_IV: iv}, ciphertext])))


def _envelope(text: object) -> tuple[bytes, bytes, bytes]:
    if isinstance(text, str) and len(text) > MAX_TEXT:
        raise RequestError(f"cipheredCommand is over {MAX_TEXT} characters")
    try:
        item = loads(from_b64url(text, "cipheredCommand"))
    except CBORError as exc:
        raise RequestError(f"cipheredCommand is not CBOR: {exc}") from None
    if type(item) is CBORTag:
        if item.tag != TAG_ENCRYPT0:
            raise RequestError(f"cipheredCommand has tag {item.tag}, not COSE_Encrypt0's 16")
        item = item.value
    if type(item) not in ARRAY_TYPES or len(item) != 3:
        raise RequestError("cipheredCommand must be a COSE_Encrypt0: [protected, unprotected, "
                           "ciphertext] (RFC 9052 §5.2)")
    protected, unprotected, ciphertext = item
    if protected != _PROTECTED:
        raise RequestError("cipheredCommand's protected header must be {1: 3} (alg A256GCM)")
    if type(unprotected) not in MAP_TYPES or set(unprotected) != {H_KID, H_IV}:
        raise RequestError("cipheredCommand's unprotected header must hold kid (4) and IV (5)")
    kid, iv = unprotected[H_KID], unprotected[H_IV]
    if not (type(kid) is type(iv) is type(ciphertext) is bytes and len(iv) == IV_BYTES):
        raise RequestError(f"cipheredCommand: kid, a {IV_BYTES}-byte IV and the ciphertext "
                           "are byte strings")
    return kid, iv, ciphertext


class Receiver:
    """Opens ciphered requests and refuses one seen before (its nonce, while fresh)."""

    def __init__(self, capacity: int = SEEN, clock: Callable[[], float] = time.time):
        self._seen = ReplayCache(capacity)
        self.clock = clock

    def open(self, key: CoseKey, text: object, *, signed: bool = False) -> Request:
        """Decrypt, verify and check the request ``text`` sent under ``key``; its command must
        carry a token if ``signed`` (the Token Validator's), none otherwise.  RequestError
        names what was wrong; TokenError("replay_cache_full") if SEEN fresh requests are
        already remembered (fail closed)."""
        kid, iv, ciphertext = _envelope(text)
        if kid != key.kid:
            raise RequestError(f"cipheredCommand is under key {kid!r}, not {key.kid!r}")
        mac_key, cipher = _keys(key)
        try:
            plain = cipher.decrypt(iv, ciphertext, _ENC_STRUCTURE)
        except InvalidTag:
            raise RequestError("cipheredCommand does not decrypt with the key of "
                               f"{key.kid.decode(errors='replace')!r} (wrong key, or altered)") from None
        try:
            message = cose.decode(plain)
            if message.kid != key.kid:
                raise RequestError("the signed request names another key")
            message.verify(mac_key)
            request = loads(message.payload)
        except (TokenError, CBORError) as exc:
            raise RequestError(f"the signed request: {exc}") from None
        if type(request) is not dict or set(request) != {"command", "iat", "nonce"}:
            raise RequestError('the request must be {"command", "iat", "nonce"}')
        iat, nonce = request["iat"], request["nonce"]
        if type(iat) is not int or type(nonce) is not bytes or len(nonce) != NONCE_BYTES:
            raise RequestError(f"iat must be an integer, nonce {NONCE_BYTES} bytes")
        try:
            command = from_map(request["command"], unsigned=not signed)
        except Refused as exc:
            raise RequestError(f"command: {exc.detail}") from None
        now = self.clock()
        if not now - MAX_AGE <= iat <= now + MAX_SKEW:
            raise RequestError(f"the request was made at {iat}; now is {int(now)}: at most "
                               f"{MAX_AGE} s old")
        try:
            self._seen.remember(kid.hex(), nonce, iat + MAX_AGE + MAX_SKEW, now)
        except TokenError as exc:
            if exc.reason != "replayed":      # replay_cache_full: the service is at its limit
                raise
            raise RequestError("the request was sent before (its nonce is known)") from None
        return Request(command, iat, nonce)
