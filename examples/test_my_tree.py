"""My partition tree keeps Pip's properties under random system calls (pipsim's test kit)."""
from hypothesis import given, strategies as st
from pipsim.experiments.trees import Shape, build
from pipsim.kernel import Kernel
from pipsim.testing.differential import differential
from pipsim.testing.strategies import syscall_sequences

MY_TREE = Shape(0, (Shape(4, (Shape(2),)), Shape(3)))   # root -> a -> a1, root -> b

# from my tree on, the C core and the reference model agree and Pip's invariants always hold
TestMyTree = differential(tree=MY_TREE, geometries=[(400, 16, 3)]).TestCase


@given(st.data())
def test_a_grandchild_cannot_break_my_tree(data):
    tree = build(Kernel, MY_TREE, table_size=16, levels=3)
    a1 = tree.leftmost(2)
    near = tree.kernel.mappings(a1.partition)           # VAs a1 maps: most calls use them
    for call in data.draw(syscall_sequences(tree.kernel.geometry, near)):
        call(a1.api)
    assert tree.kernel.check_invariants() == []
