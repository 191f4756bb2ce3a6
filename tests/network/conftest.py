"""A running device on loopback (``pipsim serve``; the helpers: tests/coapnet.py)."""
import pytest

from coapnet import Device


@pytest.fixture(scope="module")
def device(tmp_path_factory):
    served = Device(tmp_path_factory.mktemp("device"))
    yield served
    served.stop()
