"""Files that hold secrets (private keys, PSKs, tokens, sealed records): created readable by
their owner only (0600), in directories only their owner enters (0700).  Every command that
writes one does it here."""
from __future__ import annotations

import os
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_dir(path: str | os.PathLike) -> Path:
    """``path`` as a directory only its owner can enter (0700), created if needed (with its
    missing parents), an existing one narrowed."""
    path = Path(path)
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    os.chmod(path, PRIVATE_DIR)
    return path


def write_private(path: str | os.PathLike, data: bytes, *, replace: bool = False) -> None:
    """Write ``data`` to a file readable by its owner only (0600).  A file already there is
    an error (FileExistsError), or with ``replace`` truncated and narrowed to 0600 before
    the secret is written."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if replace else os.O_EXCL)
    fd = os.open(path, flags, PRIVATE_FILE)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), PRIVATE_FILE)     # an existing file keeps no wider mode
        handle.write(data)
