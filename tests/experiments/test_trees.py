"""Tree shapes and the tree builder: every generated tree satisfies Pip's invariants."""
import random

import pytest
from hypothesis import given, settings

import pipsim.kernel
import pipsim.kernel.model
from pipsim.experiments import ExperimentError
from pipsim.testing.strategies import shapes
from pipsim.experiments.trees import balanced, build, chain, make_shape, random_shape
from pipsim.kernel.abi import PAGE_SIZE, PipError
from pipsim.kernel.wrappers import PageAllocator, create_child

KERNELS = [pipsim.kernel.Kernel, pipsim.kernel.model.Kernel]


def check_tree(tree, shape):
    k = tree.kernel
    assert k.check_invariants() == []
    assert len(k.partitions()) == shape.size
    built = [(n.depth, len(n.alloc)) for n in tree.nodes[1:]]
    assert built == [(d, s.pages) for d, s in list(shape.preorder())[1:]]
    for node in tree.nodes[1:]:
        assert k.parent(node.partition) == node.parent.partition


@pytest.mark.parametrize("kernel", KERNELS, ids=["c", "model"])
@settings(max_examples=15)
@given(shape=shapes(max_depth=3, max_fanout=3, max_pages=3))
def test_random_trees_build_exactly_and_keep_the_invariants(kernel, shape):
    check_tree(build(kernel, shape, table_size=16, levels=3), shape)


@pytest.mark.parametrize("table_size, levels", [(16, 2), (16, 4), (32, 3), (1024, 2)])
@pytest.mark.parametrize("vidt", [False, True])
def test_regular_trees_on_every_geometry(table_size, levels, vidt):
    shape = balanced(2, 2, 3)
    tree = build(pipsim.kernel.Kernel, shape, table_size, levels, vidt=vidt)
    check_tree(tree, shape)
    if vidt:
        g = tree.kernel.geometry
        assert all(g.vidt_va in tree.kernel.mappings(n.partition) for n in tree.nodes)


def _exact_chain_refusal(k, pages: int):
    """Map `pages` pages into a new child at the builder's VAs, each prepare given exactly
    the chain countToMap asks for: (page index, reason) of the first refused prepare."""
    api, alloc = k.as_partition(k.root), PageAllocator.for_root(k)
    desc = create_child(api, alloc)
    for i in range(pages):
        dst = k.geometry.root_va_start + i * PAGE_SIZE
        chain = [alloc.alloc() for _ in range(api.count_to_map(desc, dst))]
        for va, nxt in zip(chain, chain[1:] + [0]):
            api.write(va, nxt.to_bytes(4, "little"))
        if chain and not api.prepare(desc, dst, chain[0]).ok:
            return i, k.last_error
        assert api.add_vaddr(alloc.alloc(), desc, dst, True, True, False)
    return None


def test_more_pages_than_countToMap_asks_for():
    """countToMap's exact chain is not enough on a 16 x 3 child: the prepare of its 257th page
    needs a second LL page and reaches the chain's end (NULL_VADDR); the builder's longer
    chains build 300 pages."""
    k = pipsim.kernel.Kernel(pages=1024, table_size=16, levels=3)
    assert _exact_chain_refusal(k, 300) == (256, PipError.NULL_VADDR)
    shape = chain(1, 300)
    check_tree(build(pipsim.kernel.Kernel, shape, table_size=16, levels=3), shape)


def test_shapes():
    assert chain(3, 2).size == 4 and chain(3, 2).depth == 3
    assert balanced(2, 3, 1).size == 1 + 3 + 9
    assert make_shape("star", random.Random(0), 5, 4, 1) == balanced(1, 4, 1)
    one, two = (random_shape(random.Random(7), 3, 3, 5) for _ in range(2))
    assert one == two and one.children and one.depth <= 3
    with pytest.raises(ExperimentError, match="unknown tree shape 'ring'"):
        make_shape("ring", random.Random(0), 1, 1, 1)


def test_a_tree_too_large_for_an_address_space():
    with pytest.raises(ValueError, match="too many pages for the address space"):
        build(pipsim.kernel.Kernel, chain(2, 150), table_size=16, levels=2)
