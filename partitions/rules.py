"""The semantic rules of a manifest: names, the tree, what runs where, devices, channels, keys
and memory; `Rules(base).manifest(data)` turns TOML data into a `Manifest` (with its plan) or
raises one `ManifestError` listing every problem (docs/manifests.md)."""
from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path

from pipsim.kernel import Geometry, elf, layout
from pipsim.kernel.abi import ARCHES as CPUS
from pipsim.kernel.abi import IPC_MAILBOX_PAGES as MAILBOX_PAGES
from pipsim.kernel.abi import MACHINE_LEVELS, MACHINE_TABLE_SIZE, POLICIES, RUN_MODES
from pipsim.kernel.sdk import flags as sdk
from pipsim.tokens.keys import ALGORITHM_NAMES
from pipsim.tokens.scope import OPERATIONS

from .fields import MISSING, FieldReader, expand, suggest
from .plan import LayoutError, plan_image
from .spec import (ROOT, ChannelSpec, DeviceSpec, KeySpec, LinkSpec, Manifest, ManifestError,
                   PartitionSpec, Runs)

ARCHES = ("python", *CPUS)
DEVICE_KINDS = ("registers",)
KEY_USES = ("issue", "verify")
_COMPONENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*\Z")
_PARTITION_KEYS = ("name", "parent", "pages", "runs", "domain", "config")


def component_class(target: str):
    """The class a Python component's "package.module:Class" names, imported now."""
    module, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except Exception as error:
        raise ManifestError(f"cannot load {target}: {error}") from None


class Rules:
    """Applies the rules to one manifest's data, reporting through a FieldReader."""

    def __init__(self, base: Path):
        self.read = FieldReader(base)

    def error(self, path: str, message: str) -> None:
        self.read.error(path, message)

    def fail_if_errors(self) -> None:
        if self.read.errors:
            raise ManifestError(self.read.errors)

    # ---- the whole manifest
    def manifest(self, data, source) -> Manifest:
        data = self.read.table("manifest", data, ("image", "root", "partition", "device",
                                                  "channel", "key", "link"))
        if data is None:
            self.fail_if_errors()
        image = self.image(data.get("image", MISSING))
        arch = image["arch"]
        root = self.partition_fields("root", data.get("root", {}), ("runs", "domain", "config"),
                                     arch)
        parts = [(p, self.partition_fields(p, t, _PARTITION_KEYS, arch))
                 for p, t in self.read.array(data, "partition")]
        names = self.partition_names(parts)
        for path, fields in [("root", root)] + parts:
            self.component_config(path, fields, names)
        order = self.tree(parts, names)
        devices = self.devices(self.read.array(data, "device"), names)
        channels = self.channels(self.read.array(data, "channel"), names)
        keys = self.keys(self.read.array(data, "key"), names)
        links = self.links(self.read.array(data, "link"), image.get("name"),
                           {p["domain"] or p["name"] for _, p in parts} | {root["domain"] or ROOT})
        for path, fields in parts:
            self.firmware_child(path, fields, root if fields["parent"] == ROOT else
                                next((p for _, p in parts if p["name"] == fields["parent"]), None))
        self.fail_if_errors()
        specs = {p["name"]: PartitionSpec(p["name"], p["parent"], p["pages"], p["runs"],
                                          p["domain"], p["config"]) for _, p in parts}
        partitions = (PartitionSpec(ROOT, None, None, root["runs"], root["domain"],
                                    root["config"]),) + tuple(specs[n] for n in order)
        plan = self.memory(image["geometry"], arch != "python", partitions, devices,
                           {p["name"]: path for path, p in parts})
        return Manifest(image["name"], arch, image["geometry"], partitions, plan, devices,
                        channels, keys, source, image["policy"], links, image["mode"],
                        image["trust"])

    # ---- the image
    def image(self, value) -> dict:
        if value is MISSING:
            self.error("image", "missing (the [image] table: name, arch, pages, ...)")
            value = {}
        table = self.read.table("image", value, ("name", "arch", "pages", "table_size", "levels",
                                                 "policy", "mode", "trust")) or {}
        arch = self.read.choice("image", table, "arch", ARCHES, "python")
        policy = self.read.choice("image", table, "policy", POLICIES, "pip")
        mode = self.read.choice("image", table, "mode", RUN_MODES, RUN_MODES[0])
        pages = self.read.get("image", table, "pages", int, 4096)
        ts = self.read.get("image", table, "table_size", int, MACHINE_TABLE_SIZE)
        levels = self.read.get("image", table, "levels", int, MACHINE_LEVELS)
        if arch in CPUS and (ts, levels) != (MACHINE_TABLE_SIZE, MACHINE_LEVELS) and (
                None not in (ts, levels)):
            self.error("image.table_size", f"the {arch} machine has table_size "
                       f"{MACHINE_TABLE_SIZE} and levels {MACHINE_LEVELS}, not {ts} and {levels}")
            ts = None
        return {"name": self.read.name("image", table, "name"), "arch": arch, "policy": policy,
                "mode": mode, "trust": self.read.path("image", table, "trust", None),
                "geometry": self.geometry(pages, ts, levels)}

    def geometry(self, pages, ts, levels) -> Geometry | None:
        if None in (pages, ts, levels):
            return None
        try:
            geometry = Geometry(pages, ts, levels)
        except ValueError as error:       # its message starts with the field's name
            self.error(f"image.{str(error).split()[0]}", str(error))
            return None
        free = layout.root_free_pages(geometry)
        if free < 2:
            self.error("image.pages", f"{pages} pages leave the root fewer than 2 free pages")
        elif free > layout.root_capacity(geometry):
            self.error("image.pages", f"{pages} pages do not fit the root's address space "
                       f"({layout.root_capacity(geometry)} pages): raise table_size or levels")
        else:
            return geometry
        return None

    # ---- partitions
    def partition_fields(self, path, value, allowed, arch) -> dict:
        read = self.read
        table = read.table(path, value, allowed) or {}
        return {"name": ROOT if path == "root" else read.name(path, table, "name"),
                "parent": None if path == "root" else read.name(path, table, "parent"),
                "pages": None if path == "root" else read.count(path, table, "pages", 1, 1 << 20),
                "runs": self.runs(path, table, arch),
                "domain": read.name(path, table, "domain", None),
                "config": read.get(path, table, "config", dict, None)}

    def runs(self, path, table, arch) -> Runs | None:
        value = table.get("runs")
        if value is None or self.read.table(f"{path}.runs", value,
                                            ("python", "firmware", *sdk.REGIONS)) is None:
            return None
        where = f"{path}.runs"
        if len([k for k in value if k in ("python", "firmware")]) != 1:
            self.error(where, 'must name exactly one of "python" or "firmware"')
            return None
        if "python" in value:
            for key in sdk.REGIONS:
                if key in value:
                    self.error(f"{where}.{key}", "only a firmware image has one")
            target = self.read.get(where, value, "python", str, check=lambda v: None if (
                _COMPONENT.match(v)) else f'"{v}" is not "package.module:Class"')
            return Runs("python", target) if target and self.importable(where, target) else None
        if arch not in CPUS:
            self.error(f"{where}.firmware", f'firmware needs arch "arm" or "x86", not "{arch}"')
            return None
        if isinstance(value["firmware"], str):   # one manifest for both architectures
            value = {**value, "firmware": expand(value["firmware"], arch)}
        elf = self.read.path(where, value, "firmware")
        segments = self.segments(f"{where}.firmware", elf, arch) if elf else ()
        if segments:
            self.image_memory(where, value, elf)
        return Runs("firmware", str(elf), segments) if segments else None

    def image_memory(self, where, value, path) -> None:
        """runs.stack / runs.heap: the least stack / malloc heap the image must have been
        linked with (bytes, or "16K", "1M"; docs/sdk.md), checked against its ELF's symbols."""
        linked = sdk.image_sizes(elf.read(path).symbols)
        for key, option in (("stack", "--stack"), ("heap", "--heap")):
            if key not in value:
                continue
            try:
                asked = sdk.parse_size(value[key])
            except ValueError as error:
                self.error(f"{where}.{key}", str(error))
                continue
            if not 0 <= asked <= sdk.MAX_SIZE:
                self.error(f"{where}.{key}", f"must be in [0, {sdk.MAX_SIZE:#x}] bytes, not {asked}")
            elif linked[key] is None:
                self.error(f"{where}.{key}", f"{path} marks no {key} (link it with pipsim cc, "
                           "docs/sdk.md)")
            elif linked[key] < asked:
                self.error(f"{where}.{key}", f"{path} has {linked[key]} bytes of {key}, fewer "
                           f"than the {asked} asked for: link it with pipsim cc {option} {asked}")

    def firmware_child(self, path, fields, parent) -> None:
        """A firmware partition below the root: its Python parent runs it (docs/manifests.md)."""
        runs = fields["runs"]
        if not runs or not runs.firmware or parent is None:
            return
        if not parent["runs"] or parent["runs"].firmware:
            self.error(f"{path}.runs.firmware", f'its parent "{fields["parent"]}" must run a '
                       "Python component, which schedules it (a firmware parent spawns its own "
                       "children)")
        self.stack_top(f"{path}.runs.firmware", runs.target)
        if fields["pages"] is not None and fields["pages"] < MAILBOX_PAGES:
            self.error(f"{path}.pages", f"a firmware partition needs {MAILBOX_PAGES} pages at "
                       f"least: its first {MAILBOX_PAGES} hold its mailbox, not {fields['pages']}")

    def component_config(self, path, fields, names) -> None:
        """A partition's `config` goes to its Python component, whose check_config(config,
        partition names) lists what is wrong with it ("key: reason" lines)."""
        config, runs = fields["config"], fields["runs"]
        if config is None:
            return
        if runs is None or runs.firmware:
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
            self.error(path, f'"{name}" is not a {what}{suggest(name, names)}')
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

    # ---- devices, channels, keys
    def devices(self, items, names) -> tuple[DeviceSpec, ...]:
        read, found, seen = self.read, [], {}
        for path, table in items:
            read.table(path, table, ("name", "kind", "owner"))
            name = read.name(path, table, "name")
            kind = read.choice(path, table, "kind", DEVICE_KINDS)
            owner = read.name(path, table, "owner")
            if name in seen:
                self.error(f"{path}.name", f'"{name}" is already {seen[name]}')
            elif self.refer(f"{path}.owner", owner, names) and name and kind:
                seen[name] = path
                found.append(DeviceSpec(name, kind, owner))
        return tuple(found)

    def channels(self, items, names) -> tuple[ChannelSpec, ...]:
        read, found, seen = self.read, [], {}
        for path, table in items:
            read.table(path, table, ("from", "to", "max_size", "operations"))
            ends = [read.name(path, table, "from"), read.name(path, table, "to")]
            max_size = read.count(path, table, "max_size", 1, 1 << 30, None)
            ops = read.subset(path, table, "operations", tuple(OPERATIONS))
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
        read, found, seen = self.read, [], {}
        for path, table in items:
            read.table(path, table, ("kid", "alg", "holder", "cose_key", "generate", "use"))
            kid = read.name(path, table, "kid")
            alg = read.choice(path, table, "alg", ALGORITHM_NAMES)
            holder = read.name(path, table, "holder")
            generate = read.get(path, table, "generate", bool, False)
            cose_key = read.path(path, table, "cose_key", None)
            use = read.subset(path, table, "use", KEY_USES)
            if generate == ("cose_key" in table):
                self.error(path, 'give exactly one of cose_key = "FILE" or generate = true')
            elif kid in seen:
                self.error(f"{path}.kid", f'"{kid}" is already {seen[kid]}')
            elif self.refer(f"{path}.holder", holder, names) and kid and alg and use and (
                    cose_key or generate):
                seen[kid] = path
                found.append(KeySpec(kid, alg, holder, cose_key, generate, use))
        return tuple(found)

    def links(self, items, image: str, domains: set) -> tuple[LinkSpec, ...]:
        """The small devices each domain reaches (Figs. 10–11): each device by one domain."""
        read, found, seen = self.read, [], {}
        for path, table in items:
            read.table(path, table, ("domain", "device"))
            domain, device = read.name(path, table, "domain"), read.name(path, table, "device")
            if domain and domain not in domains:
                self.error(f"{path}.domain", f'"{domain}" is not a domain of this image'
                           + suggest(domain, domains))
            elif device and device == image:
                self.error(f"{path}.device", f'"{device}" is this image itself')
            elif device in seen:
                self.error(f"{path}.device", f'"{device}" is already linked by {seen[device]}')
            elif domain and device:
                seen[device] = path
                found.append(LinkSpec(domain, device))
        return tuple(found)

    # ---- firmware images and memory
    def segments(self, where, path, arch) -> tuple[tuple[int, int], ...]:
        """The (start, end) VAs of an ELF's loadable segments, sorted, after checking it is
        an ELF for arch (pipsim.kernel.elf); () with an error otherwise."""
        try:
            return tuple(sorted((s.va, s.end) for s in elf.read(path, arch).segments))
        except elf.ImageError as error:
            self.error(where, str(error))
            return ()

    def stack_top(self, where, path) -> None:
        """The image must have its initial stack pointer (spawn_child starts it there)."""
        try:
            elf.read(path).stack_top
        except elf.ImageError as error:
            self.error(where, str(error))

    def memory(self, geometry, emulated, partitions, devices, paths):
        """The image's plan; every page shortage as an error on the field that sets it."""
        try:
            return plan_image(geometry, emulated, partitions, devices)
        except LayoutError as error:
            for who, why in error.problems:
                where = {ROOT: "image.pages", "device": "device",
                         "root image": "root.runs.firmware"}.get(who) or f"{paths[who]}.pages"
                self.error(where, why)
        self.fail_if_errors()
