"""What a hostile or broken partition does to the runtime, for the containment tests."""


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
