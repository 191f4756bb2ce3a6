"""Text views of a kernel's state: the partition tree with pages and kernel overhead."""
from __future__ import annotations

from .abi import INVARIANTS, PAGE_SIZE


def describe(kernel, partition, names: dict | None = None) -> str:
    maps = kernel.mappings(partition)
    accessible = sum(1 for m in maps.values() if m.accessible)
    config = len(kernel.config_pages(partition))
    name = (names or {}).get(partition, "root" if partition == kernel.root else "")
    label = f"{name} " if name else ""
    return (f"{label}[pd {partition.pd}] maps {len(maps)} pages ({accessible} accessible), "
            f"kernel pages {config} ({config * PAGE_SIZE // 1024} KiB)")


def render_tree(kernel, names: dict | None = None) -> str:
    """The partition tree, one partition per line, children indented under their parent."""
    lines = []

    def walk(p, prefix, last, top):
        branch = "" if top else ("└─ " if last else "├─ ")
        lines.append(prefix + branch + describe(kernel, p, names))
        kids = kernel.children(p)
        for i, child in enumerate(kids):
            walk(child, prefix + ("" if top else ("   " if last else "│  ")),
                 i == len(kids) - 1, False)

    walk(kernel.root, "", True, True)
    return "\n".join(lines)


def invariant_report(kernel) -> str:
    violated = set(kernel.check_invariants())
    return "\n".join(f"  {'VIOLATED' if name in violated else 'ok':8} {name}" for name in INVARIANTS)
