"""pipsim's pytest plugin (entry point ``pytest11``): the test kit as fixtures
(docs/testing-kit.md).  It is loaded by every pytest run where pipsim is installed, so it
does nothing until a test asks for one of its fixtures: each imports what it needs then.

- ``pip_kernel``: a booted C-core kernel; ``pip_model``: the reference model; their geometry
  and policy from the test's marker ``@pytest.mark.pip_kernel(pages=, table_size=, levels=,
  policy=)`` (pipsim.testing.kernels.DEFAULT_GEOMETRY and "pip" otherwise);
- ``pip_kernel_factory``: ``make(pages=, table_size=, levels=, policy=, impl="c"|"model")``;
- ``booted_image``: ``boot(manifest, base=, arch=, policy=)`` -> a DeviceImage;
- ``pip_machine``: ``load(image, arch="arm", **options)`` -> a Machine with the image loaded.

The three factories are session-scoped (each call makes a fresh object), so hypothesis tests
(``@given``) may use them.
"""
import pytest

MARKER = ("pip_kernel(pages=, table_size=, levels=, policy=): the geometry and policy of the "
          "pip_kernel and pip_model fixtures (pipsim's test kit)")


def pytest_configure(config):
    config.addinivalue_line("markers", MARKER)


def _marked_kernel(request, impl: str):
    from .kernels import KitError, kernel
    marker = request.node.get_closest_marker("pip_kernel")
    if marker is None:
        return kernel(impl=impl)
    if marker.args or "impl" in marker.kwargs:
        raise KitError("@pytest.mark.pip_kernel takes keywords only: pages, table_size, "
                       "levels, policy")
    return kernel(impl=impl, **marker.kwargs)


@pytest.fixture
def pip_kernel(request):
    """A booted C-core kernel (pipsim.kernel.Kernel) of the marked geometry and policy."""
    return _marked_kernel(request, "c")


@pytest.fixture
def pip_model(request):
    """A booted reference model (pipsim.kernel.model.Kernel) of the marked geometry and
    policy."""
    return _marked_kernel(request, "model")


@pytest.fixture(scope="session")
def pip_kernel_factory():
    """pipsim.testing.kernels.kernel: a kernel of any geometry, policy and implementation."""
    from .kernels import kernel
    return kernel


@pytest.fixture(scope="session")
def booted_image():
    """pipsim.testing.images.booted_image: boot a manifest (a path, a dict, a Manifest)."""
    from .images import booted_image as boot
    return boot


@pytest.fixture(scope="session")
def pip_machine():
    """pipsim.testing.images.machine: a machine of an architecture with a firmware image
    (a path or a sample's name) loaded."""
    from .images import machine
    return machine
