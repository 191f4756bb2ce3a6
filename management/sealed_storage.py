"""Key records at rest, encrypted: a ``tokens.KeyStorage`` over a directory.

Each record (a COSE_Key, secret included) is one file, ``<hex of its name>.key``, 0600, in a
directory 0700: a 12-byte random IV, then the record under AES-256-GCM (NIST SP 800-38D)
with the record's name as associated data, so a file copied under another name does not
open.  Files are written whole (a temporary file, then a rename).

The key-encryption key comes from a passphrase: scrypt (RFC 7914; N = 2^15, r = 8, p = 1)
over a random 16-byte salt kept in ``kek.salt``.  ``kek.check`` holds a known text under
the KEK, so a wrong passphrase is refused by :meth:`SealedStorage.open`, not on the first
read.  Nothing in the directory reveals a key without the passphrase.
"""
from __future__ import annotations

import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from pipsim.kernel.keyfiles import private_dir, write_private
from pipsim.tokens import VaultError


SUFFIX, SALT, CHECK = ".key", "kek.salt", "kek.check"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
IV_BYTES = 12
_CHECK_TEXT = b"pipsim keystore"
_AAD = b"pipsim keystore record\0"


class SealedStorage:
    """Records encrypted under ``kek`` (32 bytes) in ``directory``; see the module's docstring."""

    def __init__(self, directory: Path, kek: bytes):
        self.directory = directory
        self._cipher = AESGCM(kek)

    @classmethod
    def open(cls, directory: str | os.PathLike, passphrase: str) -> SealedStorage:
        """The storage in ``directory`` (created, with its salt, on first use) under the KEK
        of ``passphrase``; VaultError if the passphrase is not the one it was made with."""
        if not passphrase:
            raise VaultError("the keystore needs a passphrase: its keys are encrypted under it")
        directory = private_dir(Path(directory))
        salt_path, check_path = directory / SALT, directory / CHECK
        if not salt_path.exists():
            write_private(salt_path, os.urandom(16))
        kek = Scrypt(salt_path.read_bytes(), 32, SCRYPT_N, SCRYPT_R, SCRYPT_P).derive(passphrase.encode())
        storage = cls(directory, kek)
        if not check_path.exists():
            write_private(check_path, storage._seal(_CHECK_TEXT, b""))
        try:
            if storage._unseal(check_path.read_bytes(), b"") == _CHECK_TEXT:
                return storage
        except (InvalidTag, ValueError):
            pass
        raise VaultError(f"wrong passphrase for the keystore in {directory}")

    def _path(self, name: bytes) -> Path:
        return self.directory / (name.hex() + SUFFIX)

    def _seal(self, data: bytes, aad: bytes) -> bytes:
        iv = os.urandom(IV_BYTES)
        return iv + self._cipher.encrypt(iv, data, aad)

    def _unseal(self, sealed: bytes, aad: bytes) -> bytes:
        return self._cipher.decrypt(sealed[:IV_BYTES], sealed[IV_BYTES:], aad)

    def get(self, name: bytes) -> bytes | None:
        try:
            sealed = self._path(name).read_bytes()
        except FileNotFoundError:
            return None
        try:
            return self._unseal(sealed, _AAD + name)
        except (InvalidTag, ValueError):
            raise VaultError(f"the record of {name!r} does not open: altered or misplaced") from None

    def put(self, name: bytes, record: bytes) -> None:
        path = self._path(name)
        partial = path.with_name(f".{path.name}.{os.getpid()}.part")
        partial.unlink(missing_ok=True)
        write_private(partial, self._seal(record, _AAD + name))
        partial.replace(path)

    def delete(self, name: bytes) -> bool:
        try:
            self._path(name).unlink()
        except FileNotFoundError:
            return False
        return True

    def list(self) -> list[bytes]:
        names = []
        for path in self.directory.glob("*" + SUFFIX):
            try:
                names.append(bytes.fromhex(path.name[: -len(SUFFIX)]))
            except ValueError:
                continue
        return sorted(names)
