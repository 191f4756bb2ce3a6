"""Typed reading of a manifest's TOML fields, collecting every error as "field.path: reason"
with "did you mean" hints (docs/manifests.md "Errors").

msgspec's Struct(forbid_unknown_fields=True) would type the tables, but it stops at the first
error and names fields its own way; a manifest author gets every problem at once from this
reader, each under the path they wrote (`partition[3].parent`).
"""
from __future__ import annotations

import difflib
import re
from pathlib import Path

from pipsim.kernel.sdk.layout import build_dir

MISSING = object()
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}\Z")


def expand(value: str, arch: str | None = None) -> str:
    """A manifest's path with its placeholders filled: "{firmware}", the firmware build
    (``$PIPSIM_FIRMWARE_BUILD``, else the SDK's build: pipsim.kernel.sdk.layout.build_dir), and
    "{arch}" when ``arch`` is given (docs/manifests.md)."""
    value = value.replace("{firmware}", str(build_dir()))
    return value.replace("{arch}", arch) if arch else value


def kind(value) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string",
             list: "an array", dict: "a table"}
    return names.get(type(value), f"a {type(value).__name__}")


def suggest(word, choices) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return f' (did you mean "{close[0]}"?)' if close else ""


def quote(items) -> str:
    return ", ".join(f'"{i}"' for i in items)


class FieldReader:
    """Reads typed fields of TOML tables; `errors` collects one line per problem."""

    def __init__(self, base: Path):
        self.base, self.errors = base, []

    def error(self, path: str, message: str) -> None:
        self.errors.append(f"{path}: {message}")

    def table(self, path: str, value, allowed) -> dict | None:
        """`value` must be a table whose keys are all in `allowed`; None if it is not a table."""
        if not isinstance(value, dict):
            self.error(path, f"must be a table, not {kind(value)}")
            return None
        for key in value:
            if key not in allowed:
                self.error(f"{path}.{key}" if path != "manifest" else str(key),
                           f"unknown key{suggest(key, allowed)}")
        return value

    def get(self, path, table, key, type_, default=MISSING, check=None):
        """table[key] of TOML type `type_`, passed through check(value) -> message or None;
        the default when absent; None (and an error) when wrong or missing."""
        where = f"{path}.{key}"
        value = table.get(key, MISSING)
        if value is MISSING:
            if default is MISSING:
                self.error(where, "missing")
                return None
            return default
        if type(value) is not type_:
            self.error(where, f"must be {kind(type_())}, not {kind(value)}")
            return None
        problem = check(value) if check else None
        if problem:
            self.error(where, problem)
            return None
        return value

    def name(self, path, table, key, default=MISSING):
        return self.get(path, table, key, str, default, lambda v: None if NAME.match(v) else (
            f'"{v}" is not a name (a letter, then letters, digits, "-" or "_"; 64 at most)'))

    def choice(self, path, table, key, choices, default=MISSING):
        return self.get(path, table, key, str, default, lambda v: None if v in choices else (
            f'"{v}" is not one of {quote(choices)}{suggest(v, choices)}'))

    def subset(self, path, table, key, choices) -> tuple:
        """A non-empty array of distinct strings from `choices` (default: all of them)."""
        def check(values):
            bad = [v for v in values if v not in choices]
            if bad or not values or len(set(values)) != len(values):
                return (f"must be a non-empty array of distinct values from {quote(choices)}"
                        + (f", not {bad[0]!r}" if bad else ""))
            return None
        return tuple(self.get(path, table, key, list, list(choices), check) or ())

    def count(self, path, table, key, lo, hi, default=MISSING):
        return self.get(path, table, key, int, default, lambda v: None if lo <= v <= hi else (
            f"must be in [{lo}, {hi}], not {v}"))

    def path(self, path, table, key, default=MISSING) -> Path | None:
        """An existing file, relative to the manifest's folder."""
        value = self.get(path, table, key, str, default, lambda v: None if v else "empty path")
        if value is None:
            return None
        resolved = (self.base / expand(value)).resolve()
        if not resolved.is_file():
            self.error(f"{path}.{key}", f'no file "{value}" (looked at {resolved})')
            return None
        return resolved

    def array(self, data, key) -> list[tuple[str, dict]]:
        """The tables of an array of tables, each with its path `key[i]`."""
        items = data.get(key, [])
        if not isinstance(items, list):
            self.error(key, f"must be an array of tables ([[{key}]]), not {kind(items)}")
            return []
        found = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                self.error(f"{key}[{i}]", f"must be a table, not {kind(item)}")
            else:
                found.append((f"{key}[{i}]", item))
        return found
