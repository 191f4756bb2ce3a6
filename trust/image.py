"""Signed images (docs/trust.md): an ELF file or a domain package (a directory: its
manifest, ELFs and configuration), and its detached signature file ``IMAGE.sig``.

The signature file is a CBOR map {"developer": COSE_Sign1[, "authority": COSE_Sign1]}
(each a byte string holding a tagged COSE_Sign1, RFC 9052 §4.2), both over the same payload,
a CBOR map {"name", "version", "arch", "kind", "digest", "permissions", "signer"}; each
signature's external AAD names its role, so neither can stand in for the other.  The
developer signs the metadata; an authority countersigns the same payload when the image
requests privileged permissions (pipsim.trust.permissions).  :func:`verify` checks all of it
against a trust policy (pipsim.trust.policy) and raises :class:`ImageRefused` with a reason; it
checks an image on disk or one held in memory (:class:`Package`: an update's ELF and its
signature file, verified as the very bytes that will be loaded)."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import cbor2

from pipsim.kernel import elf
from pipsim.kernel.abi import ARCHES as CPUS
from pipsim.kernel.errors import PipsimError
from pipsim.kernel.wire import MAP_TYPES, CBORError, loads
from pipsim.tokens import cose
from pipsim.tokens.errors import TokenError
from pipsim.tokens.keys import CoseKey

from . import permissions as vocabulary
from .policy import AUTHORITY, DEVELOPER, ROLES, TrustPolicy

ARCHES = (*CPUS, "python")
ELF, PACKAGE = "elf", "package"
MAX_VERSION = (1 << 32) - 1               # versions are whole numbers, compared as such
MAX_SIGNATURE_FILE = 8192
MAX_PACKAGE_FILES = 64
_PAYLOAD_KEYS = {"name", "version", "arch", "kind", "digest", "permissions", "signer"}
_AAD = b"pipsim image signature: "

REASONS = ("unreadable", "unsigned", "malformed", "unknown_signer", "bad_signature",
           "digest_mismatch", "wrong_arch", "wrong_name", "not_granted", "rollback")


class ImageRefused(PipsimError):
    """An image that does not check; ``reason`` is one of REASONS, ``detail`` says why."""

    def __init__(self, reason: str, detail: str):
        if reason not in REASONS:
            raise ValueError(f"unknown ImageRefused reason {reason!r}")
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


@dataclass(frozen=True)
class Metadata:
    """What a signature says about an image."""

    name: str
    version: int
    arch: str
    kind: str                              # ELF or PACKAGE
    digest: bytes                          # SHA-256 (digest_of)
    permissions: tuple[str, ...]
    signer: bytes                          # the developer's kid

    def encode(self) -> bytes:
        """The signed payload: the metadata as CBOR."""
        return cbor2.dumps({"name": self.name, "version": self.version, "arch": self.arch,
                            "kind": self.kind, "digest": self.digest,
                            "permissions": list(self.permissions), "signer": self.signer})

    @classmethod
    def decode(cls, payload: bytes) -> Metadata:
        """Metadata from a signed payload; ImageRefused (malformed) naming what is wrong."""
        try:
            fields = loads(payload)
        except CBORError as error:
            raise ImageRefused("malformed", f"payload is not acceptable CBOR: {error}") from None
        if type(fields) not in MAP_TYPES or set(fields) != _PAYLOAD_KEYS:
            raise ImageRefused("malformed", "payload is a map of exactly "
                               + ", ".join(sorted(_PAYLOAD_KEYS)))
        name, version, perms = fields["name"], fields["version"], fields["permissions"]
        why = _metadata_problem(name, version, fields["arch"], perms)
        if why is None and fields["kind"] not in (ELF, PACKAGE):
            why = f"kind {fields['kind']!r} is neither {ELF} nor {PACKAGE}"
        if why is None and (type(fields["digest"]) is not bytes or len(fields["digest"]) != 32):
            why = "digest is a 32-byte SHA-256"
        if why is None and type(fields["signer"]) is not bytes:
            why = "signer is a key id (bytes)"
        if why is not None:
            raise ImageRefused("malformed", f"payload: {why}")
        return cls(name, version, fields["arch"], fields["kind"], fields["digest"], tuple(perms),
                   fields["signer"])


def _metadata_problem(name: Any, version: Any, arch: Any, perms: Any) -> str | None:
    if type(name) is not str or not 0 < len(name) <= 64:
        return "name is 1 to 64 characters of text"
    if type(version) is not int or not 0 <= version <= MAX_VERSION:
        return f"version is a whole number in [0, {MAX_VERSION}]"
    if arch not in ARCHES:
        return f"arch {arch!r} is not one of {', '.join(ARCHES)}"
    if type(perms) not in (list, tuple) or len(perms) > vocabulary.MAX_PERMISSIONS:
        return f"permissions are an array of at most {vocabulary.MAX_PERMISSIONS}"
    if len(set(perms)) != len(perms):
        return "a permission is listed twice"
    return next((why for why in map(vocabulary.problem, perms) if why), None)


@dataclass(frozen=True)
class Package:
    """An ELF image held in memory with its signature file's bytes (an update's package, or
    an image read once to be verified, measured and loaded); ``label`` names it in
    refusals."""

    label: str
    elf: bytes
    signature: bytes

    @classmethod
    def read(cls, path: str | os.PathLike) -> Package:
        """The ELF at ``path`` and its signature file (empty if there is none: ``verify``
        then refuses it ``unsigned``), read once; ImageRefused (unreadable) otherwise."""
        path = Path(path)
        try:
            elf = path.read_bytes()
        except OSError as error:
            raise ImageRefused("unreadable", f"{path}: {error.strerror or error}") from None
        try:
            signature = signature_path(path).read_bytes()
        except FileNotFoundError:
            signature = b""
        except OSError as error:
            raise ImageRefused("unreadable", f"{signature_path(path)}: "
                               f"{error.strerror or error}") from None
        return cls(path.name, elf, signature)


@dataclass(frozen=True)
class Verified:
    """An image that checks: its metadata and the kid of each role that signed it (``path``:
    a Package's label)."""

    path: Path
    metadata: Metadata
    signers: dict[str, bytes]


def signature_path(image: str | os.PathLike) -> Path:
    """Where an image's signature file is: beside it, IMAGE.sig."""
    image = Path(image)
    return image.with_name(image.name + ".sig")


def kind_of(image: str | os.PathLike) -> str:
    """An image's kind: PACKAGE (a directory) or ELF."""
    return PACKAGE if Path(image).is_dir() else ELF


def digest_of(image: str | os.PathLike) -> bytes:
    """SHA-256 of an ELF's bytes; of a package, SHA-256 of the CBOR array of [relative path,
    SHA-256 of the file] of every file in it, sorted by path.  A package holds regular files
    and directories only (no links), at most MAX_PACKAGE_FILES files."""
    image = Path(image)
    try:
        if not image.is_dir():
            return hashlib.sha256(image.read_bytes()).digest()
        entries = []
        for root, dirs, files in os.walk(image):
            for name in sorted(dirs + files):
                path = Path(root) / name
                if path.is_symlink() or not (path.is_dir() or path.is_file()):
                    raise ImageRefused("malformed", f"{path}: a package holds only regular "
                                       "files and directories")
                if path.is_file():
                    entries.append([path.relative_to(image).as_posix(),
                                    hashlib.sha256(path.read_bytes()).digest()])
            if len(entries) > MAX_PACKAGE_FILES:
                raise ImageRefused("malformed", f"{image}: more than {MAX_PACKAGE_FILES} files")
        return hashlib.sha256(cbor2.dumps(sorted(entries))).digest()
    except OSError as error:
        raise ImageRefused("unreadable", f"{image}: {error.strerror or error}") from None


def _elf_arches(image: Path | Package, kind: str) -> dict[str, str | None]:
    """The architecture of the image's ELF (of each ELF file of a package directory; of a
    Package's bytes): its path (label) -> arch."""
    items: list[tuple[str, bytes | Path]]
    if isinstance(image, Package):
        items = [(image.label, image.elf)]
    else:
        items = [(str(p), p) for p in ([image] if kind == ELF else sorted(image.rglob("*.elf")))]
    found = {}
    for where, source in items:
        try:
            found[where] = elf.read(source).arch
        except elf.ImageError as error:
            raise ImageRefused("malformed", str(error).replace(elf.IN_MEMORY, where)) from None
    return found


def _arch_problem(image: Path | Package, kind: str, arch: str) -> str | None:
    for path, built in _elf_arches(image, kind).items():
        if built != arch:
            return f"{path} is built for {built or 'another CPU'}, not {arch}"
    return None


# ---- signing ---------------------------------------------------------------------------
def sign(image: str | os.PathLike, key: CoseKey, role: str, *, name: str | None = None,
         version: int | None = None, arch: str | None = None,
         permissions: tuple[str, ...] = ()) -> Path:
    """Sign ``image`` with ``key`` in ``role``; write its signature file and return its path.

    A developer gives the metadata (name, version, arch, permissions) and replaces the
    signature file; an authority countersigns the developer's payload already there (the
    image must still match its digest)."""
    image = Path(image)
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if key.alg.is_mac:
        raise ValueError(f"an image is signed with EdDSA or ES256, not {key.alg.name}")
    digest, kind = digest_of(image), kind_of(image)
    if role == DEVELOPER:
        if name is None or version is None or arch is None:
            raise ValueError("a developer's signature needs name, version and arch")
        why = _metadata_problem(name, version, arch, list(permissions))
        if why is None and arch != "python":
            why = _arch_problem(image, kind, arch)
        if why is not None:
            raise ValueError(why)
        payload = Metadata(name, version, arch, kind, digest, tuple(permissions), key.kid).encode()
        signatures = {}
    else:
        signatures = _read_signatures(image)
        signatures.pop(AUTHORITY, None)
        payload = _decode_sign1(signatures[DEVELOPER], DEVELOPER).payload
        if Metadata.decode(payload).digest != digest:
            raise ImageRefused("digest_mismatch", f"{image} changed since its developer signed "
                               "it: the authority signs only what the developer signed")
    signatures[role] = cose.encode(key, payload, external_aad=_AAD + role.encode())
    path = signature_path(image)
    path.write_bytes(cbor2.dumps(signatures))
    return path


# ---- reading and verifying ---------------------------------------------------------------
def _read_signatures(image: Path) -> dict[str, bytes]:
    path = signature_path(image)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageRefused("unsigned", f"no signature file {path}") from None
    except OSError as error:
        raise ImageRefused("unreadable", f"{path}: {error.strerror or error}") from None
    return _parse_signatures(data, str(path))


def _parse_signatures(data: bytes, where: str) -> dict[str, bytes]:
    """A signature file's bytes (``where``: its name in refusals): role -> COSE_Sign1."""
    try:
        found = loads(data, max_input=MAX_SIGNATURE_FILE)
    except CBORError as error:
        raise ImageRefused("malformed", f"{where}: not acceptable CBOR: {error}") from None
    if (type(found) not in MAP_TYPES or DEVELOPER not in found or not set(found) <= set(ROLES)
            or any(type(v) is not bytes for v in found.values())):
        raise ImageRefused("malformed", f'{where}: a map {{"developer": COSE_Sign1'
                           '[, "authority": COSE_Sign1]}')
    return dict(found)


def _decode_sign1(data: bytes, role: str) -> cose.CoseMessage:
    try:
        message = cose.decode(data)
    except TokenError as error:
        raise ImageRefused("malformed", f"{role} signature: {error.detail}") from None
    if message.alg.is_mac:
        raise ImageRefused("malformed", f"{role} signature: {message.alg.name} is a MAC, "
                           "not a signature")
    return message


def inspect(image: str | os.PathLike) -> tuple[Metadata, dict[str, bytes | None], bool]:
    """Metadata, each role's kid (None: no signature), and whether the digest matches;
    nothing checked against a policy."""
    image = Path(image)
    messages = {role: _decode_sign1(data, role) for role, data in _read_signatures(image).items()}
    metadata = Metadata.decode(messages[DEVELOPER].payload)
    return (metadata, {role: messages[role].kid if role in messages else None for role in ROLES},
            digest_of(image) == metadata.digest)


def verify(image: str | os.PathLike | Package, policy: TrustPolicy, *, arch: str,
           minimum_version: int = 0,
           name: str | None = None) -> Verified:
    """Check ``image`` (a path, or a Package in memory) and its signature file against
    ``policy`` for a machine of ``arch``: signatures by the policy's signers, digest,
    architecture, name (when given), version (at least ``minimum_version``: the installed
    one, for rollback protection) and that every permission it requests is granted by a
    signer that may grant it.  Raises ImageRefused; reads only."""
    if isinstance(image, Package):
        where = Path(image.label)
        if not image.signature:
            raise ImageRefused("unsigned", f"{image.label} comes without a signature file")
        signatures = _parse_signatures(image.signature, f"{image.label}'s signature")
    else:
        image = where = Path(image)
        if not image.exists():
            raise ImageRefused("unreadable", f"no image {image}")
        signatures = _read_signatures(image)
    messages = {role: _decode_sign1(data, role) for role, data in signatures.items()}
    metadata = Metadata.decode(messages[DEVELOPER].payload)
    if AUTHORITY in messages and messages[AUTHORITY].payload != messages[DEVELOPER].payload:
        raise ImageRefused("malformed", "the authority signed another payload than the developer")
    if messages[DEVELOPER].kid != metadata.signer:
        raise ImageRefused("malformed", f"payload names signer {metadata.signer!r}, the "
                           f"developer signature's kid is {messages[DEVELOPER].kid!r}")
    signers = {}
    for role, message in messages.items():
        signer = policy.signer(message.kid, role)
        if signer is None:
            raise ImageRefused("unknown_signer", f"the {role} signature's key {message.kid!r} is "
                               f"not a {role} of the trust policy")
        try:
            message.verify(signer.key, _AAD + role.encode())
        except TokenError as error:
            truncated = len(message.tag) != message.alg.tag_len
            raise ImageRefused("bad_signature", f"{role} signature: " + (
                f"{len(message.tag)} bytes, a {message.alg.name} signature has "
                f"{message.alg.tag_len}" if truncated else error.detail)) from None
        signers[role] = signer
    if isinstance(image, Package):
        digest, kind = hashlib.sha256(image.elf).digest(), ELF
    else:
        digest, kind = digest_of(image), kind_of(image)
    if digest != metadata.digest:
        raise ImageRefused("digest_mismatch", f"{where} is not the image that was signed "
                           f"(SHA-256 {digest.hex()}, signed {metadata.digest.hex()})")
    if metadata.kind != kind:
        raise ImageRefused("malformed", f"{where} is not a {metadata.kind}")
    if metadata.arch != arch:
        raise ImageRefused("wrong_arch", f"{where} is signed for {metadata.arch}, the machine "
                           f"is {arch}")
    why = _arch_problem(image, metadata.kind, arch) if arch != "python" else None
    if why is not None:
        raise ImageRefused("wrong_arch", why)
    if name is not None and metadata.name != name:
        raise ImageRefused("wrong_name", f"{where} is signed as {metadata.name!r}, not {name!r}")
    for permission in metadata.permissions:
        _check_granted(permission, signers)
    if metadata.version < minimum_version:
        raise ImageRefused("rollback", f"{metadata.name} version {metadata.version} is older "
                           f"than the installed {minimum_version}")
    return Verified(where, metadata, {role: s.kid for role, s in signers.items()})


def _check_granted(permission: str, signers: dict) -> None:
    role = AUTHORITY if vocabulary.privileged(permission) else DEVELOPER
    signer = signers.get(role)
    if signer is None:
        raise ImageRefused("not_granted", f"{permission!r} is privileged: it needs an "
                           "authority's signature, the image has none")
    if not vocabulary.granted(permission, signer.grants):
        raise ImageRefused("not_granted", f"{permission!r}: the {role} {signer.kid.decode()!r} "
                           "may not grant it")


def require(verified: Verified, needed: Iterable[str]) -> None:
    """Every permission in ``needed`` must be among those the image was verified with."""
    missing = sorted(set(needed) - set(verified.metadata.permissions))
    if missing:
        raise ImageRefused("not_granted", f"{verified.path} is given {', '.join(missing)}, "
                           "its signature does not request it")
