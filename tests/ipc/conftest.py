"""A kernel with a small partition tree and its mailboxes, on the C core and on the model."""
import pytest

from ipc_trees import TREE

from pipsim.ipc import setup_topology
from pipsim.kernel import Kernel
from pipsim.kernel.model import Kernel as ModelKernel

# root ── a ── a1 ── a11
#  │      └── a2
#  └── b ── b1 ── b11


@pytest.fixture(params=[Kernel, ModelKernel], ids=["core", "model"])
def kernel(request):
    return request.param()


@pytest.fixture
def topo(kernel):
    return setup_topology(kernel, TREE)
