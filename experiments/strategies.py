"""Hypothesis strategies for partition-tree shapes (needs hypothesis, a test dependency)."""
from __future__ import annotations

from hypothesis import strategies as st

from .trees import Shape


def shapes(max_depth: int = 3, max_fanout: int = 3, max_pages: int = 4) -> st.SearchStrategy:
    """Root shapes (the root keeps no pages) of at most `max_depth` levels below the root,
    `max_fanout` children per partition and 1..`max_pages` data pages per partition."""
    def node(depth: int) -> st.SearchStrategy:
        kids = (st.lists(node(depth + 1), max_size=max_fanout) if depth < max_depth
                else st.just([]))
        return st.builds(lambda pages, children: Shape(pages, tuple(children)),
                         st.integers(1, max_pages), kids)
    return st.lists(node(1), max_size=max_fanout).map(lambda kids: Shape(0, tuple(kids)))
