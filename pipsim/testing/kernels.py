"""Kernels of a chosen geometry and policy for tests: a bad geometry, policy or
implementation is refused before anything boots, naming what was wrong."""
from __future__ import annotations

import functools
from collections.abc import Mapping as MappingABC

import pipsim.kernel
import pipsim.kernel.model
from pipsim.kernel import Geometry
from pipsim.kernel.abi import POLICIES

#: the implementations of the kernel API: the C core and the reference model
IMPLEMENTATIONS = {"c": pipsim.kernel.Kernel, "model": pipsim.kernel.model.Kernel}
#: small geometries (pages, table_size, levels) that boot quickly and grow deep trees: the
#: differential state machine's defaults
GEOMETRIES = (Geometry(160, 16, 2), Geometry(260, 16, 2), Geometry(420, 16, 3))
#: the geometry of the pip_kernel fixture when its test names none
DEFAULT_GEOMETRY = GEOMETRIES[0]


class KitError(ValueError):
    """A test asked the kit for something it cannot give (a bad geometry, a missing image)."""


def geometry(spec: Geometry | tuple | MappingABC) -> Geometry:
    """A geometry that boots: a Geometry, a (pages, table_size, levels) tuple or a mapping
    with those keys."""
    if isinstance(spec, Geometry):
        values = (spec.pages, spec.table_size, spec.levels)
    elif isinstance(spec, MappingABC):
        unknown = set(spec) - {"pages", "table_size", "levels"}
        if unknown:
            raise KitError(f"bad geometry {dict(spec)!r}: unknown keys {sorted(unknown)}; a "
                           f"geometry has pages, table_size and levels")
        values = tuple(spec.get(k, getattr(DEFAULT_GEOMETRY, k))
                       for k in ("pages", "table_size", "levels"))
    elif isinstance(spec, tuple) and len(spec) == 3:
        values = spec
    else:
        raise KitError(f"bad geometry {spec!r}: expected a Geometry, a (pages, table_size, "
                       f"levels) tuple or a mapping of those")
    return _bootable(*values)


@functools.lru_cache(typed=True)     # 160.0 is not 160
def _bootable(pages, table_size, levels) -> Geometry:
    try:
        g = Geometry(pages, table_size, levels)
        pipsim.kernel.Kernel(pages=pages, table_size=table_size, levels=levels)
    except (TypeError, ValueError) as bad:
        raise KitError(f"bad geometry pages={pages!r}, table_size={table_size!r}, "
                       f"levels={levels!r}: {bad}") from None
    return g


def check_policy(policy: str) -> str:
    if policy not in POLICIES:
        raise KitError(f"unknown policy {policy!r}: expected one of {', '.join(POLICIES)}")
    return policy


def kernel(pages: int = DEFAULT_GEOMETRY.pages, table_size: int = DEFAULT_GEOMETRY.table_size,
           levels: int = DEFAULT_GEOMETRY.levels, policy: str = "pip", impl: str = "c"):
    """A freshly booted kernel: ``impl`` "c" (the C core) or "model" (the reference model)."""
    if impl not in IMPLEMENTATIONS:
        raise KitError(f"unknown kernel implementation {impl!r}: expected one of "
                       f"{', '.join(IMPLEMENTATIONS)}")
    g = geometry((pages, table_size, levels))
    return IMPLEMENTATIONS[impl](pages=g.pages, table_size=g.table_size, levels=g.levels,
                                 policy=check_policy(policy))
