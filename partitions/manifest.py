"""Device-image manifests: TOML in, a validated frozen tree out (docs/manifests.md).

`load(path)` / `parse(data, base)` check the whole manifest before anything boots and raise
one `ManifestError` listing every problem found, each naming its field
(`partition[3].parent: "sensr" is not a partition (did you mean "sensor"?)`).
"""
from __future__ import annotations

import difflib
import importlib.util
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from ipc.mailbox import MAILBOX_PAGES       # a firmware partition's first pages: its mailbox
from pipkernel import Geometry
from pipkernel.abi import MACHINE_LEVELS, MACHINE_TABLE_SIZE, PAGE_SIZE, POLICIES, ROOT_IMAGE_BASE

from . import memory

ROOT = "root"
ARCHES = ("python", "arm", "x86")
DEVICE_KINDS = ("registers",)
ALGORITHMS = ("HMAC256/64", "HMAC256/256", "ES256", "EdDSA")   # tokens.keys spells them so
KEY_USES = ("issue", "verify")
OPERATIONS = ("read", "write", "execute", "delete", "create")
_ELF_MACHINES = {"arm": "EM_ARM", "x86": "EM_386"}
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}\Z")
_COMPONENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*\Z")
_MISSING = object()


class ManifestError(ValueError):
    """A manifest that cannot boot; `errors` holds one "field: reason" line per problem."""

    def __init__(self, errors: list[str] | str):
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        super().__init__("\n".join(self.errors))


@dataclass(frozen=True)
class Runs:
    """What runs in a partition: a Python component ("module:Class") or a firmware ELF."""

    kind: str                  # "python" | "firmware"
    target: str                # "module:Class", or the ELF's resolved path
    segments: tuple[tuple[int, int], ...] = ()   # firmware: its loadable VA ranges

    @property
    def image_pages(self) -> list[int]:
        """The VAs of the pages a firmware image occupies."""
        return sorted({va for start, end in self.segments
                       for va in range(start & ~(PAGE_SIZE - 1), end, PAGE_SIZE)})

    @property
    def image_end(self) -> int:
        """The first page-aligned VA past the image (0 without one)."""
        return -(-max((end for _, end in self.segments), default=0) // PAGE_SIZE) * PAGE_SIZE


@dataclass(frozen=True)
class PartitionSpec:
    name: str
    parent: str | None         # None for the root
    pages: int                 # its own usable pages (the root: its pool after boot)
    runs: Runs | None = None
    domain: str | None = None
    config: dict | None = field(default=None, hash=False)   # its Python component's


@dataclass(frozen=True)
class DeviceSpec:
    name: str
    kind: str
    owner: str


@dataclass(frozen=True)
class ChannelSpec:
    from_: str
    to: str
    max_size: int | None
    operations: tuple[str, ...]


@dataclass(frozen=True)
class KeySpec:
    kid: str
    alg: str
    holder: str
    cose_key: Path | None      # resolved path, or None with generate
    generate: bool
    use: tuple[str, ...]


@dataclass(frozen=True)
class Manifest:
    """A validated device image. `partitions` lists the root first, then parents before
    their children (manifest order otherwise)."""

    name: str
    arch: str
    geometry: Geometry
    partitions: tuple[PartitionSpec, ...]
    devices: tuple[DeviceSpec, ...] = ()
    channels: tuple[ChannelSpec, ...] = ()
    keys: tuple[KeySpec, ...] = ()
    firmware_end: int = 0      # end VA of the root's firmware image (0: none)
    source: Path | None = field(default=None, compare=False)
    policy: str = "pip"        # the kernel's (docs/kernel.md §9)

    @property
    def root(self) -> PartitionSpec:
        return self.partitions[0]

    @property
    def machine(self) -> bool:
        return self.arch != "python"

    def partition(self, name: str) -> PartitionSpec:
        return next(p for p in self.partitions if p.name == name)

    def children(self, name: str) -> list[PartitionSpec]:
        return [p for p in self.partitions if p.parent == name]

    def ancestry(self, name: str) -> list[str]:
        """Names from the root down to `name`."""
        chain = [name]
        while chain[-1] != ROOT:
            chain.append(self.partition(chain[-1]).parent)
        return chain[::-1]

    def runs_firmware(self, name: str) -> bool:
        runs = self.partition(name).runs
        return runs is not None and runs.kind == "firmware"

    def schedules_firmware(self, name: str) -> bool:
        """A partition that runs firmware children: it needs a VIDT where they yield to it."""
        return any(self.runs_firmware(c.name) for c in self.children(name))

    def data_start(self, name: str) -> int:
        """Where a partition's own pages start: after its firmware image, if any."""
        runs = self.partition(name).runs
        return runs.image_end if self.runs_firmware(name) else memory.CHILD_VA_START

    def given_pages(self, name: str) -> int:
        """Pages the parent of `name` gives it (kernel pages apart): its own pages, its
        firmware image's and VIDT's, or a VIDT for a Python parent of firmware."""
        spec = self.partition(name)
        if self.runs_firmware(name):
            return spec.pages + len(spec.runs.image_pages) + 1
        return spec.pages + self.schedules_firmware(name)

    def relayed_devices(self, name: str) -> list[DeviceSpec]:
        """Devices `name` maps: its own and those of its descendants, in manifest order."""
        return [d for d in self.devices if name in self.ancestry(d.owner)]

    def mapped_pages(self, name: str) -> int:
        """Pages a non-root partition maps: its own pages, then its relayed devices."""
        return self.partition(name).pages + len(self.relayed_devices(name))

    def kernel_pages(self, name: str) -> int:
        """Pages the kernel takes from the parent of `name` for it (0 for the root)."""
        if name == ROOT:
            return 0
        vidt = self.geometry.vidt_va
        has_vidt = self.runs_firmware(name) or self.schedules_firmware(name)
        extra = [(vidt, vidt + PAGE_SIZE)] if has_vidt else []
        if self.runs_firmware(name):
            extra += [(va, va + PAGE_SIZE) for va in self.partition(name).runs.image_pages]
        return memory.kernel_pages(self.geometry, self.mapped_pages(name), self.data_start(name),
                                   extra)

    def firmware_reserve(self) -> range:
        """Root VAs kept for the firmware's image and heap (empty without firmware)."""
        if not self.firmware_end:
            return range(0)
        end = -(-self.firmware_end // PAGE_SIZE) * PAGE_SIZE
        return range(ROOT_IMAGE_BASE, end + memory.FIRMWARE_HEAP_PAGES * PAGE_SIZE)


def _has_symbol(path: str, name: str) -> bool:
    with open(path, "rb") as handle:
        table = ELFFile(handle).get_section_by_name(".symtab")
        return bool(table and table.get_symbol_by_name(name))


def firmware(path, arch: str) -> Runs:
    """What runs a firmware image at `path` (an ELF for arch, with __stack_top), checked as a
    manifest's runs.firmware is; ManifestError otherwise."""
    check = _Validator(Path("."))
    runs = check.runs("firmware", {"runs": {"firmware": str(path)}}, arch)
    if runs is not None and not _has_symbol(runs.target, "__stack_top"):
        check.error("firmware", f"{runs.target} has no __stack_top symbol")
    if check.errors:
        raise ManifestError(check.errors)
    return runs


def component_class(target: str):
    """The class a Python component's "package.module:Class" names, imported now."""
    module, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except Exception as error:
        raise ManifestError(f"cannot load {target}: {error}") from None


# ---------------------------------------------------------------- reading
def load(path, arch: str | None = None, policy: str | None = None) -> Manifest:
    """Read and validate a manifest file; paths in it are relative to its folder.  `arch`
    replaces image.arch (a manifest whose firmware paths say "{arch}" runs on both), `policy`
    image.policy."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ManifestError(f"{path}: cannot read it ({error.strerror or error})") from None
    except UnicodeDecodeError:
        raise ManifestError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise ManifestError(f"{path}: not valid TOML ({error})") from None
    return parse(data, path.parent, source=path, arch=arch, policy=policy)


def parse(data, base=".", source: Path | None = None, arch: str | None = None,
          policy: str | None = None) -> Manifest:
    """Validate a manifest already read from TOML (a dict); `base` anchors relative paths;
    `arch` and `policy`, when given, replace the image's."""
    given = {key: value for key, value in (("arch", arch), ("policy", policy)) if value is not None}
    if given and isinstance(data, dict) and isinstance(data.get("image"), dict):
        data = {**data, "image": {**data["image"], **given}}
    return _Validator(Path(base)).manifest(data, source)


def _kind(value) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string",
             list: "an array", dict: "a table"}
    return names.get(type(value), f"a {type(value).__name__}")


def _suggest(word, choices) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _quote(items) -> str:
    return ", ".join(f'"{i}"' for i in items)


class _Validator:
    """Collects every error, each as 'field.path: reason'."""

    def __init__(self, base: Path):
        self.base, self.errors = base, []

    def error(self, path: str, message: str) -> None:
        self.errors.append(f"{path}: {message}")

    # ---- typed fields
    def table(self, path: str, value, allowed) -> dict | None:
        """`value` must be a table whose keys are all in `allowed`; None if it is not a table."""
        if not isinstance(value, dict):
            self.error(path, f"must be a table, not {_kind(value)}")
            return None
        for key in value:
            if key not in allowed:
                self.error(f"{path}.{key}" if path != "manifest" else str(key),
                           f"unknown key{_suggest(key, allowed)}")
        return value

    def get(self, path, table, key, kind, default=_MISSING, check=None):
        """table[key] of TOML type `kind`, passed through check(value) -> message or None;
        the default when absent; None (and an error) when wrong or missing."""
        where = f"{path}.{key}"
        value = table.get(key, _MISSING)
        if value is _MISSING:
            if default is _MISSING:
                self.error(where, "missing")
                return None
            return default
        if type(value) is not kind:
            self.error(where, f"must be {_kind(kind())}, not {_kind(value)}")
            return None
        problem = check(value) if check else None
        if problem:
            self.error(where, problem)
            return None
        return value

    def name(self, path, table, key, default=_MISSING):
        return self.get(path, table, key, str, default, lambda v: None if _NAME.match(v) else (
            f'"{v}" is not a name (a letter, then letters, digits, "-" or "_"; 64 at most)'))

    def choice(self, path, table, key, choices, default=_MISSING):
        return self.get(path, table, key, str, default, lambda v: None if v in choices else (
            f'"{v}" is not one of {_quote(choices)}{_suggest(v, choices)}'))

    def subset(self, path, table, key, choices):
        """A non-empty array of distinct strings from `choices` (default: all of them)."""
        def check(values):
            bad = [v for v in values if v not in choices]
            if bad or not values or len(set(values)) != len(values):
                return (f"must be a non-empty array of distinct values from {_quote(choices)}"
                        + (f", not {bad[0]!r}" if bad else ""))
            return None
        return tuple(self.get(path, table, key, list, list(choices), check) or ())

    def count(self, path, table, key, lo, hi, default=_MISSING):
        return self.get(path, table, key, int, default, lambda v: None if lo <= v <= hi else (
            f"must be in [{lo}, {hi}], not {v}"))

    def path(self, path, table, key, default=_MISSING) -> Path | None:
        """An existing file, relative to the manifest's folder."""
        value = self.get(path, table, key, str, default, lambda v: None if v else "empty path")
        if value is None:
            return None
        resolved = (self.base / value).resolve()
        if not resolved.is_file():
            self.error(f"{path}.{key}", f'no file "{value}" (looked at {resolved})')
            return None
        return resolved

    def array(self, data, key) -> list[tuple[str, dict]]:
        """The tables of an array of tables, each with its path `key[i]`."""
        items = data.get(key, [])
        if not isinstance(items, list):
            self.error(key, f"must be an array of tables ([[{key}]]), not {_kind(items)}")
            return []
        found = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                self.error(f"{key}[{i}]", f"must be a table, not {_kind(item)}")
            else:
                found.append((f"{key}[{i}]", item))
        return found

    # ---- sections
    def manifest(self, data, source) -> Manifest:
        data = self.table("manifest", data, ("image", "root", "partition", "device", "channel", "key"))
        if data is None:
            raise ManifestError(self.errors)
        image = self.image(data.get("image", _MISSING))
        arch = image["arch"]
        root = self.partition_fields("root", data.get("root", {}), ("runs", "domain", "config"),
                                     arch)
        parts = [(p, self.partition_fields(p, t, ("name", "parent", "pages", "runs", "domain",
                                                  "config"), arch))
                 for p, t in self.array(data, "partition")]
        names = self.partition_names(parts)
        for path, spec in [("root", root)] + parts:
            self.component_config(path, spec, names)
        order = self.tree(parts, names)
        devices = self.devices(self.array(data, "device"), names)
        channels = self.channels(self.array(data, "channel"), names)
        keys = self.keys(self.array(data, "key"), names)
        for path, spec in parts:
            self.firmware_child(path, spec, root if spec["parent"] == ROOT else
                                next((p for _, p in parts if p["name"] == spec["parent"]), None))
        root_runs = root["runs"]
        firmware_end = max((e for _, e in root_runs.segments), default=0) if root_runs else 0
        if self.errors:
            raise ManifestError(self.errors)
        specs = {p["name"]: PartitionSpec(p["name"], p["parent"], p["pages"], p["runs"],
                                          p["domain"], p["config"]) for _, p in parts}
        draft = Manifest(image["name"], arch, image["geometry"],
                         (PartitionSpec(ROOT, None, 0, root["runs"], root["domain"], root["config"]),)
                         + tuple(specs[n] for n in order),
                         devices, channels, keys, firmware_end, source, image["policy"])
        pool = self.memory(draft, {p["name"]: path for path, p in parts})
        if self.errors:
            raise ManifestError(self.errors)
        return Manifest(draft.name, arch, draft.geometry,
                        (PartitionSpec(ROOT, None, pool, root["runs"], root["domain"], root["config"]),)
                        + draft.partitions[1:], devices, channels, keys, draft.firmware_end,
                        source, draft.policy)

    def image(self, value) -> dict:
        if value is _MISSING:
            self.error("image", "missing (the [image] table: name, arch, pages, ...)")
            value = {}
        table = self.table("image", value, ("name", "arch", "pages", "table_size", "levels",
                                            "policy")) or {}
        arch = self.choice("image", table, "arch", ARCHES, "python")
        policy = self.choice("image", table, "policy", POLICIES, "pip")
        machine = arch in ("arm", "x86")
        pages = self.get("image", table, "pages", int, 4096)
        ts = self.get("image", table, "table_size", int, MACHINE_TABLE_SIZE)
        levels = self.get("image", table, "levels", int, MACHINE_LEVELS)
        if machine and (ts, levels) != (MACHINE_TABLE_SIZE, MACHINE_LEVELS) and None not in (
                ts, levels):
            self.error("image.table_size", f"the {arch} machine has table_size "
                       f"{MACHINE_TABLE_SIZE} and levels {MACHINE_LEVELS}, not {ts} and {levels}")
            ts = None
        return {"name": self.name("image", table, "name"), "arch": arch, "policy": policy,
                "geometry": self.geometry(pages, ts, levels)}

    def geometry(self, pages, ts, levels) -> Geometry | None:
        if None in (pages, ts, levels):
            return None
        try:
            geometry = Geometry(pages, ts, levels)
        except ValueError as error:       # its message starts with the field's name
            self.error(f"image.{str(error).split()[0]}", str(error))
            return None
        free = memory.root_free_pages(geometry)
        if free < 2:
            self.error("image.pages", f"{pages} pages leave the root fewer than 2 free pages")
        elif free > memory.root_capacity(geometry):
            self.error("image.pages", f"{pages} pages do not fit the root's address space "
                       f"({memory.root_capacity(geometry)} pages): raise table_size or levels")
        else:
            return geometry
        return None

    def partition_fields(self, path, value, allowed, arch) -> dict:
        table = self.table(path, value, allowed) or {}
        return {"name": ROOT if path == "root" else self.name(path, table, "name"),
                "parent": None if path == "root" else self.name(path, table, "parent"),
                "pages": None if path == "root" else self.count(path, table, "pages", 1, 1 << 20),
                "runs": self.runs(path, table, arch),
                "domain": self.name(path, table, "domain", None),
                "config": self.get(path, table, "config", dict, None)}

    def runs(self, path, table, arch) -> Runs | None:
        value = table.get("runs")
        if value is None or self.table(f"{path}.runs", value, ("python", "firmware")) is None:
            return None
        where = f"{path}.runs"
        if len([k for k in value if k in ("python", "firmware")]) != 1:
            self.error(where, 'must name exactly one of "python" or "firmware"')
            return None
        if "python" in value:
            target = self.get(where, value, "python", str, check=lambda v: None if _COMPONENT.match(
                v) else f'"{v}" is not "package.module:Class"')
            return Runs("python", target) if target and self.importable(where, target) else None
        if "firmware" in value:
            if arch not in _ELF_MACHINES:
                self.error(f"{where}.firmware", f'firmware needs arch "arm" or "x86", not "{arch}"')
                return None
            if isinstance(value["firmware"], str):   # one manifest for both architectures
                value = {"firmware": value["firmware"].replace("{arch}", arch)}
            elf = self.path(where, value, "firmware")
            segments = self.segments(f"{where}.firmware", elf, arch) if elf else ()
            return Runs("firmware", str(elf), segments) if segments else None
        return None

    def firmware_child(self, path, spec, parent) -> None:
        """A firmware partition below the root: its Python parent runs it (docs/manifests.md)."""
        if not spec["runs"] or spec["runs"].kind != "firmware" or parent is None:
            return
        if not parent["runs"] or parent["runs"].kind != "python":
            self.error(f"{path}.runs.firmware", f'its parent "{spec["parent"]}" must run a Python '
                       "component, which schedules it (a firmware parent spawns its own children)")
        if spec["runs"].target and not _has_symbol(spec["runs"].target, "__stack_top"):
            self.error(f"{path}.runs.firmware", f"{spec['runs'].target} has no __stack_top "
                       "symbol (its initial stack pointer: link it with firmware/ld/image.ld)")
        if spec["pages"] is not None and spec["pages"] < MAILBOX_PAGES:
            self.error(f"{path}.pages", f"a firmware partition needs {MAILBOX_PAGES} pages at "
                       f"least: its first {MAILBOX_PAGES} hold its mailbox, not {spec['pages']}")

    def component_config(self, path, spec, names) -> None:
        """A partition's `config` goes to its Python component, whose check_config(config,
        partition names) lists what is wrong with it ("key: reason" lines)."""
        config, runs = spec["config"], spec["runs"]
        if config is None:
            return
        if runs is None or runs.kind != "python":
            self.error(f"{path}.config", "only a partition running a Python component has one")
            return
        try:
            check = getattr(component_class(runs.target), "check_config", None)
        except ManifestError as error:
            self.error(f"{path}.runs.python", str(error))
            return
        if check is None:
            self.error(f"{path}.config", f"{runs.target} takes no config")
            return
        for line in check(config, names):
            key, _, reason = line.partition(": ")
            self.error(f"{path}.config.{key}", reason)

    def importable(self, path, target) -> bool:
        module = target.partition(":")[0]
        try:
            found = importlib.util.find_spec(module) is not None
        except Exception as error:        # a parent package that fails to import
            self.error(f"{path}.python", f'cannot import "{module}": {error}')
            return False
        if not found:
            self.error(f"{path}.python", f'no module "{module}"')
        return found

    def partition_names(self, parts) -> set[str]:
        names, seen = set(), {}
        for path, p in parts:
            name = p["name"]
            if name == ROOT:
                self.error(f"{path}.name", '"root" is the implicit root partition; use [root]')
            elif name in seen:
                self.error(f"{path}.name", f'"{name}" is already {seen[name]}')
            elif name is not None:
                seen[name] = path
                names.add(name)
        return names | {ROOT}

    def refer(self, path, name, names, what="partition") -> bool:
        """`name` must be one of `names`."""
        if name is None:
            return False
        if name not in names:
            self.error(path, f'"{name}" is not a {what}{_suggest(name, names)}')
            return False
        return True

    def tree(self, parts, names) -> list[str]:
        """Check parents; return the names in tree order (parents first)."""
        parent = {}
        for path, p in parts:
            if p["name"] in names and p["name"] != ROOT and self.refer(f"{path}.parent",
                                                                       p["parent"], names):
                parent.setdefault(p["name"], p["parent"])
        paths = {p["name"]: path for path, p in parts}
        reported: set[str] = set()
        for name in parent:
            chain = [name]
            while chain[-1] in parent and parent[chain[-1]] not in chain:
                chain.append(parent[chain[-1]])
            if chain[-1] in parent and not reported & set(chain):
                loop = chain[chain.index(parent[chain[-1]]):]
                self.error(f"{paths[loop[0]]}.parent", "cycle " + " → ".join(
                    f'"{n}"' for n in loop + loop[:1]))
                reported.update(loop)
        order, frontier = [], [ROOT]
        while frontier:
            frontier = [n for _, p in parts for n in [p["name"]]
                        if parent.get(n) in frontier and n not in order]
            order += frontier
        return order

    def devices(self, items, names) -> tuple[DeviceSpec, ...]:
        found, seen = [], {}
        for path, table in items:
            self.table(path, table, ("name", "kind", "owner"))
            name = self.name(path, table, "name")
            kind = self.choice(path, table, "kind", DEVICE_KINDS)
            owner = self.name(path, table, "owner")
            if name in seen:
                self.error(f"{path}.name", f'"{name}" is already {seen[name]}')
            elif self.refer(f"{path}.owner", owner, names) and name and kind:
                seen[name] = path
                found.append(DeviceSpec(name, kind, owner))
        return tuple(found)

    def channels(self, items, names) -> tuple[ChannelSpec, ...]:
        found, seen = [], {}
        for path, table in items:
            self.table(path, table, ("from", "to", "max_size", "operations"))
            ends = [self.name(path, table, "from"), self.name(path, table, "to")]
            max_size = self.count(path, table, "max_size", 1, 1 << 30, None)
            ops = self.subset(path, table, "operations", OPERATIONS)
            ok = all([self.refer(f"{path}.{k}", n, names) for k, n in zip(("from", "to"), ends)])
            if ok and ends[0] == ends[1]:
                self.error(f"{path}.to", f'a channel from "{ends[0]}" to itself')
            elif ok and tuple(ends) in seen:
                self.error(path, f'"{ends[0]}" → "{ends[1]}" is already {seen[tuple(ends)]}')
            elif ok and ops:
                seen[tuple(ends)] = path
                found.append(ChannelSpec(ends[0], ends[1], max_size, ops))
        return tuple(found)

    def keys(self, items, names) -> tuple[KeySpec, ...]:
        found, seen = [], {}
        for path, table in items:
            self.table(path, table, ("kid", "alg", "holder", "cose_key", "generate", "use"))
            kid = self.name(path, table, "kid")
            alg = self.choice(path, table, "alg", ALGORITHMS)
            holder = self.name(path, table, "holder")
            generate = self.get(path, table, "generate", bool, False)
            cose_key = self.path(path, table, "cose_key", None)
            use = self.subset(path, table, "use", KEY_USES)
            if generate == ("cose_key" in table):
                self.error(path, 'give exactly one of cose_key = "FILE" or generate = true')
            elif kid in seen:
                self.error(f"{path}.kid", f'"{kid}" is already {seen[kid]}')
            elif self.refer(f"{path}.holder", holder, names) and kid and alg and use and (
                    cose_key or generate):
                seen[kid] = path
                found.append(KeySpec(kid, alg, holder, cose_key, generate, use))
        return tuple(found)

    # ---- firmware and memory (run on an otherwise valid manifest)
    def segments(self, where, path, arch) -> tuple[tuple[int, int], ...]:
        """The (start, end) VAs of an ELF's loadable segments, sorted, after checking it is
        an ELF for arch; () with an error otherwise."""
        try:
            with open(path, "rb") as handle:
                elf = ELFFile(handle)
                machine = elf["e_machine"]
                found = tuple(sorted((s["p_vaddr"], s["p_vaddr"] + s["p_memsz"])
                                     for s in elf.iter_segments()
                                     if s["p_type"] == "PT_LOAD" and s["p_memsz"]))
        except (ELFError, OSError, ValueError) as error:
            self.error(where, f"{path}: not an ELF image ({error})")
            return ()
        if machine != _ELF_MACHINES[arch]:
            self.error(where, f"{path} is built for {machine}, the image's arch is {arch}")
        elif not found:
            self.error(where, f"{path} has no loadable segment")
        else:
            return found
        return ()

    def memory(self, manifest: Manifest, paths: dict[str, str]) -> int:
        """Check every partition's pages cover its children; return the root's pool."""
        g = manifest.geometry
        linear = memory.root_linear_vas(g)
        ndev = len(manifest.devices)
        if ndev > len(linear) // 2:
            self.error("device", f"{ndev} devices do not fit the root's {len(linear)} pages "
                       "(half of them at most)")
            return 0
        reserve = manifest.firmware_reserve()
        pool, device_vas = memory.root_layout(linear, manifest.machine, ndev, reserve)
        image_end = -(-manifest.firmware_end // PAGE_SIZE) * PAGE_SIZE
        if image_end > min(device_vas, default=linear[-1] + PAGE_SIZE):
            self.error("root.runs.firmware", f"the image ends at {manifest.firmware_end:#x}, "
                       "past the root's free pages: raise image.pages")
        for spec in manifest.partitions[1:]:
            try:
                memory.child_ranges(g, manifest.mapped_pages(spec.name),
                                    manifest.data_start(spec.name))
            except ValueError:
                self.error(f"{paths[spec.name]}.pages", (
                    f"{manifest.mapped_pages(spec.name)} pages (with its devices) do not fit a "
                    f"partition's address space from {manifest.data_start(spec.name):#x}"))
        if self.errors:
            return 0
        for spec in manifest.partitions:
            kids = manifest.children(spec.name)
            if not kids:
                continue
            need = sum(manifest.given_pages(k.name) + manifest.kernel_pages(k.name)
                       for k in kids) + g.levels - 1
            has = len(pool) if spec.name == ROOT else spec.pages
            if need > has:
                where = "image.pages" if spec.name == ROOT else f"{paths[spec.name]}.pages"
                detail = ", ".join(f'"{k.name}" {manifest.given_pages(k.name)} + '
                                   f'{manifest.kernel_pages(k.name)} kernel' for k in kids)
                self.error(where, f'"{spec.name}" has {has} pages, its children need {need} '
                           f"({detail}, + {g.levels - 1} spare while tables are built)")
        return len(pool)
