"""Key Vault: a ``tokens.KeyVault`` whose records live in the domain partition's pages.

``PageKeyStorage`` is the vault's byte storage interface (``get / put / delete / list``)
over a ``PageStore`` holding ``{kid: COSE_Key bytes}``.  ``tokens.KeyVault`` also caches
parsed keys in the Python object; the records of truth are the pages.
"""
from __future__ import annotations

from tokens import KeyVault

from .store import PageStore


class PageKeyStorage:
    def __init__(self, store: PageStore):
        self.store = store

    def get(self, name: bytes) -> bytes | None:
        return self.store.load().get(bytes(name))

    def put(self, name: bytes, record: bytes) -> None:
        self.store.update(bytes(name), bytes(record))

    def delete(self, name: bytes) -> bool:
        records = self.store.load()
        found = records.pop(bytes(name), None) is not None
        self.store.save(records)
        return found

    def list(self) -> list[bytes]:
        return sorted(self.store.load())


def page_vault(store: PageStore) -> KeyVault:
    return KeyVault(PageKeyStorage(store))
