"""Key vault: keys by kid, over a small byte-oriented storage interface.

A stored record is exactly the key's COSE_Key encoding (RFC 9052 §7), private part
included; its ``key_ops`` carry the allowed uses (issue = sign / MAC create,
verify = verify / MAC verify).  Records are plain bytes under a bytes name, so a
storage can live in a partition's simulated memory pages.

The vault keeps parsed keys (with their crypto objects) in a cache and assumes it is
the only writer to its storage.  The keystore-manager operations of ODSI D3.3 §3.3,
§4.1 map to :meth:`KeyVault.aliases` (GET /keys), :meth:`KeyVault.generate`
(POST /keys/{alias}), :meth:`KeyVault.get` (GET /keys/{alias}) and
:meth:`KeyVault.verify_service` (GET /verify).
"""
from __future__ import annotations

import builtins
from typing import Iterable, Protocol

from .errors import VaultError
from .keys import HMAC_256_64, ISSUE, VERIFY, Algorithm, CoseKey

SERVICE_OK = "Keystore Manager RESTApi successfully started"   # D3.3 §4.1, GET /verify


class KeyStorage(Protocol):
    """Where a vault keeps its records: bytes in, bytes out."""

    def get(self, name: bytes) -> bytes | None:
        """The record stored under ``name``, or None."""
        ...

    def put(self, name: bytes, record: bytes) -> None:
        """Store ``record`` under ``name`` (replacing one)."""
        ...

    def delete(self, name: bytes) -> bool:
        """Remove the record ``name``; returns whether there was one."""
        ...

    def list(self) -> list[bytes]:
        """The names of all records."""
        ...


class MemoryStorage:
    """In-process storage (a dict)."""

    def __init__(self) -> None:
        self._records: dict[bytes, bytes] = {}

    def get(self, name: bytes) -> bytes | None:
        """The record stored under ``name``, or None."""
        return self._records.get(name)

    def put(self, name: bytes, record: bytes) -> None:
        """Store ``record`` under ``name`` (replacing one)."""
        self._records[bytes(name)] = bytes(record)

    def delete(self, name: bytes) -> bool:
        """Remove the record ``name``; returns whether there was one."""
        return self._records.pop(name, None) is not None

    def list(self) -> list[bytes]:
        """The names of all records, sorted."""
        return sorted(self._records)


def as_kid(kid: bytes | str) -> bytes:
    """kids are bytes; a text alias stands for its UTF-8 encoding."""
    if isinstance(kid, str):
        kid = kid.encode("utf-8")
    if not isinstance(kid, (bytes, bytearray)) or not kid:
        raise VaultError(f"a kid must be non-empty bytes or text, not {kid!r}")
    return bytes(kid)


class KeyVault:
    """Keys by kid, with their algorithm and allowed uses."""

    def __init__(self, storage: KeyStorage | None = None):
        self._storage = storage if storage is not None else MemoryStorage()
        self._cache: dict[bytes, CoseKey] = {}

    def add(self, key: CoseKey, *, replace: bool = False) -> CoseKey:
        """Store ``key``; an existing kid is an error unless ``replace``."""
        if not replace and self._storage.get(key.kid) is not None:
            raise VaultError(f"a key with kid {key.kid!r} already exists")
        self._storage.put(key.kid, key.to_bytes())
        self._cache[key.kid] = key
        return key

    def add_cose_key(self, data: bytes, *, alg: int | str | Algorithm | None = None,
                     uses: Iterable[str] | None = None,
                     replace: bool = False) -> CoseKey:
        """Import a CBOR COSE_Key (see :meth:`CoseKey.from_bytes` for ``alg`` and ``uses``)."""
        return self.add(CoseKey.from_bytes(data, alg=alg, uses=uses), replace=replace)

    def generate(self, kid: bytes | str, alg: int | str | Algorithm = HMAC_256_64,
                 uses: Iterable[str] = (ISSUE, VERIFY)) -> CoseKey:
        """Generate and store a new key; fails if the kid/alias already has one (D3.3 §4.1: 403)."""
        return self.add(CoseKey.generate(alg, as_kid(kid), uses))

    def get(self, kid: bytes | str) -> CoseKey | None:
        """The key for ``kid``, or None (D3.3 §4.1: 204 No Content)."""
        kid = bytes(kid) if isinstance(kid, (bytes, bytearray)) else as_kid(kid)
        key = self._cache.get(kid)
        if key is None:
            record = self._storage.get(kid)
            if record is None:
                return None
            key = self._cache[kid] = CoseKey.from_bytes(record)
        return key

    def list(self) -> list[bytes]:
        """All kids, sorted."""
        return sorted(self._storage.list())

    def aliases(self) -> builtins.list[str]:
        """kids that are UTF-8 text: the D3.3 domain aliases that have a key."""
        names = []
        for kid in self.list():
            try:
                names.append(kid.decode("utf-8"))
            except UnicodeDecodeError:
                continue
        return names

    def delete(self, kid: bytes | str) -> bool:
        """Remove a key; returns whether there was one."""
        kid = as_kid(kid)
        self._cache.pop(kid, None)
        return self._storage.delete(kid)

    def rotate(self, kid: bytes | str, new_kid: bytes | str) -> CoseKey:
        """Generate a successor of ``kid`` (same algorithm and uses) under ``new_kid``.

        The old key is kept, demoted to verify-only, so tokens it already issued stay
        valid until they expire; delete it once the longest token lifetime has passed."""
        old = self.get(kid)
        if old is None:
            raise VaultError(f"no key with kid {as_kid(kid)!r} to rotate")
        new = self.generate(new_kid, old.alg, old.uses)
        self.add(CoseKey.from_map(old.to_map(), uses={VERIFY}), replace=True)
        return new

    def export(self, kid: bytes | str, *, private: bool = False) -> bytes:
        """The COSE_Key bytes of a key: the public part, or everything if ``private`` (symmetric keys need it)."""
        key = self.get(kid)
        if key is None:
            raise VaultError(f"no key with kid {as_kid(kid)!r}")
        return key.to_bytes(private=private)

    def verify_service(self) -> str:
        """Check the vault can reach its storage (D3.3 §4.1 GET /verify); raises VaultError if not."""
        try:
            self._storage.list()
        except Exception as exc:
            raise VaultError(f"key storage unavailable: {exc}") from exc
        return SERVICE_OK
