"""Every test here runs on the C core and on the reference model: one API, two implementations."""
import pytest

import pipsim.kernel
import pipsim.kernel.model
from pipsim.kernel.wrappers import PageAllocator

IMPLEMENTATIONS = {"c": pipsim.kernel.Kernel, "model": pipsim.kernel.model.Kernel}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def make_kernel(request):
    return IMPLEMENTATIONS[request.param]


@pytest.fixture
def k(make_kernel):
    """A small kernel: 16-entry tables, 2 levels, 160 pages."""
    return make_kernel(pages=160, table_size=16, levels=2)


@pytest.fixture
def api(k):
    return k.as_partition(k.root)


@pytest.fixture
def alloc(k):
    return PageAllocator.for_root(k)
