"""Key Vault: a ``tokens.KeyVault`` whose records live in a partition's pages, encrypted,
under a key sealed to the partition's measurements (docs/trust.md, "The sealed key vault").

``SealedPageKeyStorage`` is the vault's byte storage interface (``get / put / delete /
list``) over a ``PageStore`` holding ``{"sealed": blob or null, "records": {kid: record}}``.
A record is a 12-byte nonce and the COSE_Key bytes under ChaCha20-Poly1305 with the vault
key, its kid as associated data (a record moved to another kid does not open).  The vault
key is random; the host seals it (``HostServices.seal``) to the device and the partition's
register, its measured code and configuration, so that only the same code with the same
configuration on the same device opens the vault again.  While the partition runs, the
key is in a page of its own (``key_va``): partition memory, which its ancestors can read.
An image booted without measurements has nothing to seal to: ``sealed`` is null, the key
lives only in that page, and the vault cannot be opened again once the partition is gone.
``tokens.KeyVault`` also caches parsed keys in the Python object (the partition's working
copies); the records of truth are the pages.
"""
from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from pipsim.trust.rot import SealError

from .host import HostServices
from .store import PageStore, StoreError

KEY_SIZE = 32
NONCE_SIZE = 12


class VaultLocked(StoreError):
    """The vault in a store does not open here: its key was sealed to other measurements
    (the partition's code or configuration changed) or on another device, or never sealed."""


class SealedPageKeyStorage:
    """Encrypted records in ``store``; the vault key in the page at ``key_va``."""

    def __init__(self, store: PageStore, key_va: int, key: bytes):
        self.store, self.key_va, self._api = store, key_va, store.api
        self._api.write(key_va, key)

    @classmethod
    def create(cls, store: PageStore, key_va: int, host: HostServices) -> SealedPageKeyStorage:
        """A new, empty vault in ``store``, its key sealed by ``host`` if it can."""
        key = os.urandom(KEY_SIZE)
        store.save({"sealed": host.seal(key), "records": {}})
        return cls(store, key_va, key)

    @classmethod
    def open(cls, store: PageStore, key_va: int, host: HostServices) -> SealedPageKeyStorage:
        """The vault ``store`` holds, its key unsealed by ``host``; VaultLocked if it does not
        unseal, StoreError if the store holds no vault."""
        vault = _vault(store)
        if not isinstance(vault["sealed"], bytes):
            raise VaultLocked("the vault's key was never sealed (its image was booted without "
                              "measurements): it is lost with its partition")
        try:
            key = host.unseal(vault["sealed"])
        except SealError as error:
            raise VaultLocked(f"the vault does not open: {error}") from None
        return cls(store, key_va, key)

    def _aead(self) -> ChaCha20Poly1305:
        return ChaCha20Poly1305(self._api.read(self.key_va, KEY_SIZE))

    def get(self, name: bytes) -> bytes | None:
        record = _vault(self.store)["records"].get(bytes(name))
        if record is None:
            return None
        if not isinstance(record, bytes) or len(record) < NONCE_SIZE + 16:
            raise StoreError(f"the vault's record for {bytes(name)!r} is damaged")
        try:
            return self._aead().decrypt(record[:NONCE_SIZE], record[NONCE_SIZE:], bytes(name))
        except InvalidTag:
            raise StoreError(f"the vault's record for {bytes(name)!r} does not decrypt: "
                             "changed or moved") from None

    def put(self, name: bytes, record: bytes) -> None:
        nonce = os.urandom(NONCE_SIZE)
        vault = _vault(self.store)
        vault["records"][bytes(name)] = nonce + self._aead().encrypt(nonce, bytes(record),
                                                                     bytes(name))
        self.store.save(vault)

    def delete(self, name: bytes) -> bool:
        vault = _vault(self.store)
        found = vault["records"].pop(bytes(name), None) is not None
        self.store.save(vault)
        return found

    def list(self) -> list[bytes]:
        return sorted(_vault(self.store)["records"])


def _vault(store: PageStore) -> dict:
    """The vault ``store`` holds; StoreError if it holds none (or something else)."""
    vault = store.load()
    if not (isinstance(vault, dict) and set(vault) == {"sealed", "records"}
            and isinstance(vault["records"], dict)):
        raise StoreError(f"no key vault at {store.va:#x}")
    return vault
