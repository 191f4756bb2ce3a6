"""`pipsim tree IMAGE.toml` and `pipsim validate IMAGE.toml` (entry point "pipsim.commands")."""
from __future__ import annotations

from pathlib import Path

from pipsim.kernel import exits
from pipsim.kernel.abi import PAGE_SIZE
from pipsim.kernel.show import render_tree

from .boot import boot
from .manifest import load
from .spec import ROOT, Manifest, ManifestError


def register(subparsers) -> None:
    tree = subparsers.add_parser("tree", help="boot a device image and show its partition tree")
    tree.add_argument("image", help="device-image manifest (TOML)")
    tree.set_defaults(func=_tree)
    check = subparsers.add_parser("validate", help="check a device-image manifest")
    check.add_argument("image", help="device-image manifest (TOML)")
    check.set_defaults(func=_validate)


def _load(path: str) -> Manifest | None:
    try:
        return load(path)
    except ManifestError as error:
        count = len(error.errors)
        exits.error(f"{path}: {count} error{'s' * (count != 1)}", error.errors)
        return None


def _validate(args) -> int:
    manifest = _load(args.image)
    if manifest is None:
        return exits.USAGE
    print(f"{args.image}: ok ({_summary(manifest)})")
    return 0


def _tree(args) -> int:
    manifest = _load(args.image)
    if manifest is None:
        return exits.USAGE
    image = boot(manifest)
    names = {b.partition: name + (f" <{b.spec.domain}>" if b.spec.domain else "")
             + (f" {{{Path(b.spec.runs.target).name}}}" if b.spec.runs_firmware else "")
             for name, b in image.partitions.items()}
    print(f"{manifest.name} ({_summary(manifest)})")
    print(render_tree(image.kernel, names))
    plan = manifest.plan
    kernel = sum(p.kernel for p in plan.partitions.values())
    spent = sum(plan[c.name].cost for c in manifest.children(ROOT))
    free = len(plan[ROOT].pages)
    print(f"total: {len(manifest.partitions) - 1} partitions below the root, {kernel} kernel "
          f"pages ({kernel * PAGE_SIZE // 1024} KiB) for them; the root keeps "
          f"{free - spent} of its {free} free pages; invariants "
          f"{'hold' if not image.check_invariants() else 'VIOLATED'}")
    return 0


def _summary(manifest: Manifest) -> str:
    g = manifest.geometry
    return (f"arch {manifest.arch}, {g.pages} pages, table_size {g.table_size}, "
            f"levels {g.levels}; {len(manifest.partitions)} partitions, "
            f"{len(manifest.devices)} devices, {len(manifest.channels)} channels, "
            f"{len(manifest.keys)} keys")
