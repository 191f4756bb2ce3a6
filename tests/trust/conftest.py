"""Roots of trust for the attestation tests: the software one and a TPM 2.0 on swtpm (started
here on loopback, its state in a temporary directory, stopped after the module)."""
import pytest

from trust import SoftwareRoot


@pytest.fixture(scope="module")
def swtpm():
    from trust.rot_tpm import Swtpm
    with Swtpm() as simulator:
        yield simulator


@pytest.fixture(params=["software", "tpm"])
def make_root(request):
    """A function making a fresh root of each kind (one TPM connection open at a time)."""
    if request.param == "software":
        yield lambda: SoftwareRoot.generate("test")
        return
    from trust.rot_tpm import TpmRoot
    simulator, opened = request.getfixturevalue("swtpm"), []

    def make():
        for root in opened:
            root.close()
        opened[:] = [TpmRoot(simulator.tcti)]
        return opened[0]
    yield make
    for root in opened:
        root.close()
