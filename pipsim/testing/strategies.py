"""Hypothesis strategies for Pip tests: geometries, policies, partition-tree shapes, system
calls and sequences of them (needs hypothesis: ``pip install 'pipsim[testing]'``)."""
from __future__ import annotations

from typing import NamedTuple, Sequence

try:
    from hypothesis import strategies as st
except ImportError as missing:      # the kit's one optional dependency
    raise ImportError(f"{__name__} needs hypothesis: pip install 'pipsim[testing]'") from missing

from pipsim.experiments.trees import Shape
from pipsim.kernel import Geometry, MemoryFault
from pipsim.kernel.abi import PAGE_SIZE, POLICIES

from .kernels import GEOMETRIES, check_policy, geometry


def geometries(choices: Sequence = GEOMETRIES) -> st.SearchStrategy[Geometry]:
    """One of ``choices`` (each checked to boot when the strategy is made; see
    pipsim.testing.kernels.geometry)."""
    return st.sampled_from([geometry(g) for g in choices])


def policies(choices: Sequence[str] = POLICIES) -> st.SearchStrategy[str]:
    """One of the kernel's policies (docs/kernel.md §9)."""
    return st.sampled_from([check_policy(p) for p in choices])


def shapes(max_depth: int = 3, max_fanout: int = 3, max_pages: int = 4) -> st.SearchStrategy:
    """Root shapes (the root keeps no pages) of at most `max_depth` levels below the root,
    `max_fanout` children per partition and 1..`max_pages` data pages per partition
    (pipsim.experiments.trees.Shape; ``trees.build`` makes one on a kernel)."""
    def node(depth: int) -> st.SearchStrategy:
        kids = (st.lists(node(depth + 1), max_size=max_fanout) if depth < max_depth
                else st.just([]))
        return st.builds(lambda pages, children: Shape(pages, tuple(children)),
                         st.integers(1, max_pages), kids)
    return st.lists(node(1), max_size=max_fanout).map(lambda kids: Shape(0, tuple(kids)))


class Call(NamedTuple):
    """One memory-management system call: the PartitionAPI method's name and its arguments."""

    name: str
    args: tuple

    def __call__(self, api):
        """Make the call through ``api`` (a kernel's ``as_partition(p)``): its result, or the
        MemoryFault a refused access raised."""
        try:
            return getattr(api, self.name)(*self.args)
        except MemoryFault as fault:
            return fault


def vas(g: Geometry, near: Sequence[int] = ()) -> st.SearchStrategy[int]:
    """A virtual address of geometry ``g``: mostly one of ``near`` (say, the caller's
    mappings) when given, else a page-aligned one, sometimes any."""
    pages = st.integers(0, g.va_limit // PAGE_SIZE - 1).map(lambda i: i * PAGE_SIZE)
    anywhere = st.integers(0, g.va_limit - 1)
    return st.one_of(*([st.sampled_from(sorted(near))] if near else []), pages, anywhere)


def syscalls(g: Geometry = GEOMETRIES[0], near: Sequence[int] = ()) -> st.SearchStrategy[Call]:
    """One of the MMU services (pip-spec §2: createPartition .. mappedInChild) with
    arguments of geometry ``g``, VAs drawn by ``vas(g, near)``."""
    va, flag = vas(geometry(g), near), st.booleans()
    arities = {"create_partition": (va,) * 5, "delete_partition": (va,),
               "add_vaddr": (va, va, va, flag, flag, flag), "remove_vaddr": (va, va),
               "prepare": (va, va, va), "collect": (va, va), "count_to_map": (va, va),
               "mapped_in_child": (va,)}
    return st.one_of(*(st.tuples(*args).map(lambda a, n=name: Call(n, a))
                       for name, args in arities.items()))


def syscall_sequences(g: Geometry = GEOMETRIES[0], near: Sequence[int] = (),
                      max_size: int = 30) -> st.SearchStrategy[list[Call]]:
    """Lists of up to ``max_size`` system calls (``syscalls(g, near)``)."""
    return st.lists(syscalls(g, near), max_size=max_size)
