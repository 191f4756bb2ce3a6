"""A partition that lends its mailbox pages to the kernel (ipc and domains containment tests)."""
import pytest

from pipsim.kernel.types import MemoryFault


def lend_mailbox(topology, name):
    """name's partition (through the kernel, as itself) makes a child of its own from its four
    mailbox pages and one free page: they become kernel structures, out of its and every
    ancestor's reach."""
    node, kernel = topology.node(name), topology.kernel
    api = topology.api(node)
    mine = [node.outbox_va, node.outbox_va + 4096, node.inbox_va, node.inbox_va + 4096]
    desc = next(va for va in sorted(kernel.mappings(node.partition)) if va not in mine
                and api.translate(va, "w") is not None and not api.mapped_in_child(va))
    assert api.create_partition(desc, *mine), kernel.last_error
    with pytest.raises(MemoryFault):
        topology.own_view(node).pending()
