"""The ``scope`` claim: which operations a token grants on which LwM2M resources.

Format (text, OAuth-style space-separated entries, RFC 6749 §3.3)::

    scope  = entry *( " " entry )
    entry  = path ":" ops
    path   = object [ "/" instance [ "/" resource [ "/" resource-instance ] ] ]
                                                        ; decimal, 0..65535
    ops    = 1*( "r" / "w" / "x" / "d" / "c" )          ; each letter at most once

e.g. ``"26261/0/7:w 26261/0/8:w 3303/0:r"``.  Paths name resources as LwM2M does
(object/instance/resource[/resource instance], as in ODSI D3.3 §4.2's ``26261/0/7`` and
its command's optional ``resourceInstanceId``); the letters are
read, write, execute, delete, create.  An entry grants its operations on its path and
everything below it (``3303:r`` lets every instance and resource of object 3303 be
read); a request is allowed when some entry on its path grants the operation.

This is the AIF data model (RFC 9237 §2: a set of [object identifier, permission
set] pairs, permissions as a bit set) with LwM2M paths as object identifiers and the
five LwM2M operations as permissions, written as text so it fits the ACE ``scope``
claim (CWT claim key 9, text or byte string: RFC 9200 §5.8.1, §8.14).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from pipsim.kernel.errors import PipsimError

OPERATIONS = {"read": "r", "write": "w", "execute": "x", "delete": "d", "create": "c"}
_BITS = {letter: 1 << i for i, letter in enumerate(OPERATIONS.values())}
_LETTERS = {bit: letter for letter, bit in _BITS.items()}
MAX_ENTRIES = 64
MAX_ID = 65535  # LwM2M object, instance and resource ids are 16-bit


class ScopeError(PipsimError, ValueError):
    """A scope text or a requested resource does not follow the format."""


@lru_cache(maxsize=256)
def parse_path(text: str) -> tuple[int, ...]:
    """``"26261/0/7"`` -> ``(26261, 0, 7)``; 1 to 4 decimal ids (cached: requests repeat paths)."""
    parts = text.split("/")
    if not 1 <= len(parts) <= 4:
        raise ScopeError(f"path {text!r} must be object[/instance[/resource[/instance]]]")
    ids = []
    for part in parts:
        if not (part.isascii() and part.isdigit()) or (len(part) > 1 and part[0] == "0"):
            raise ScopeError(f"path {text!r}: {part!r} is not a decimal id")
        value = int(part)
        if value > MAX_ID:
            raise ScopeError(f"path {text!r}: id {value} is above {MAX_ID}")
        ids.append(value)
    return tuple(ids)


def operation_bit(operation: str) -> int:
    """The permission bit of an operation name ("write") or letter ("w")."""
    letter = OPERATIONS.get(operation, operation)
    bit = _BITS.get(letter)
    if bit is None:
        raise ScopeError(f"unknown operation {operation!r}; use one of {', '.join(OPERATIONS)}")
    return bit


@lru_cache(maxsize=256)
def request(operation: str, resource: str) -> tuple[int, tuple[int, ...]]:
    """A request parsed for :func:`allows`: (permission bit, path); cached."""
    return operation_bit(operation), parse_path(resource)


@dataclass(frozen=True, slots=True)
class Scope:
    """Parsed scope: a mapping from path to a permission bit set."""

    grants: tuple[tuple[tuple[int, ...], int], ...]

    def allows(self, operation: str, resource: str | tuple[int, ...]) -> bool:
        """Whether ``operation`` on ``resource`` (a path text or tuple) is granted."""
        path = parse_path(resource) if isinstance(resource, str) else tuple(resource)
        return self.allows_bit(operation_bit(operation), path)

    def allows_bit(self, bit: int, path: tuple[int, ...]) -> bool:
        """:meth:`allows` for an already parsed request."""
        return any(perms & bit and path[: len(prefix)] == prefix for prefix, perms in self.grants)

    def __str__(self) -> str:
        return " ".join("/".join(map(str, path)) + ":" + "".join(_LETTERS[b] for b in sorted(_LETTERS) if perms & b)
                        for path, perms in self.grants)


@lru_cache(maxsize=1024)
def allows(scope_text: str, bit: int, path: tuple[int, ...]) -> bool:
    """Whether the scope text grants the permission ``bit`` on ``path`` (cached decision)."""
    return parse(scope_text).allows_bit(bit, path)


@lru_cache(maxsize=256)
def parse(text: str) -> Scope:
    """Parse a scope text (cached: issuers repeat their scopes)."""
    if not isinstance(text, str):
        raise ScopeError(f"scope must be text, not {type(text).__name__}")
    entries = text.split(" ")
    if len(entries) > MAX_ENTRIES:
        raise ScopeError(f"scope has {len(entries)} entries; at most {MAX_ENTRIES}")
    grants: dict[tuple[int, ...], int] = {}
    for entry in entries:
        path_text, sep, letters = entry.partition(":")
        if not sep or not letters:
            raise ScopeError(f"scope entry {entry!r} must be path:ops, e.g. 26261/0/7:rw")
        path = parse_path(path_text)
        if path in grants:
            raise ScopeError(f"scope names path {path_text!r} twice")
        perms = 0
        for letter in letters:
            bit = _BITS.get(letter)
            if bit is None or perms & bit:
                raise ScopeError(f"scope entry {entry!r}: ops are distinct letters among r, w, x, d, c")
            perms |= bit
        grants[path] = perms
    return Scope(tuple(grants.items()))
