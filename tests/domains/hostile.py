"""What a hostile or broken partition does to the runtime, for the containment tests."""
from domains.lifecycle import free_pages


def lend_mailbox(runtime, name):
    """name's partition (through the kernel, as itself) makes a child of its own from its four
    mailbox pages and one more: they become kernel structures, out of its and its
    ancestors' reach."""
    node = runtime.topology.node(name)
    kernel = runtime.kernel
    api = kernel.as_partition(node.partition)
    mine = [node.outbox_va, node.outbox_va + 4096, node.inbox_va, node.inbox_va + 4096]
    other = next(va for va in free_pages(api, sorted(kernel.mappings(node.partition)))
                 if va not in mine)
    assert api.create_partition(other, *mine), kernel.last_error


def raises(component):
    raise RuntimeError("injected")


def faults(component):
    component.api.read(0, 4)                 # the null page is nobody's


def loops(component):
    while True:
        component.api.read(component.pending.store.va, 8)


def arm(component, method, fault, fired):
    """The next call of component.method does ``fault`` instead (once); component.name is
    appended to ``fired`` then."""
    def once(*args):
        del component.__dict__[method]
        fired.append(component.name)
        fault(component)

    setattr(component, method, once)
