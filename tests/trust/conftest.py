"""Fixtures of the trust tests: keys and a trust policy (signed images); roots of trust
(attestation): the software one and a TPM 2.0 on swtpm (started here on loopback, its state
in a temporary directory, stopped after the module)."""
import pytest

from pipsim.tokens.keys import EDDSA, ES256, CoseKey
from pipsim.trust import SoftwareRoot, policy
from outside import skip_unless
from trust_helpers import write_policy


@pytest.fixture
def keys():
    return {"developer": CoseKey.generate(EDDSA, b"dev"),
            "authority": CoseKey.generate(ES256, b"auth"),
            "stranger": CoseKey.generate(EDDSA, b"stranger")}


@pytest.fixture
def policy_file(tmp_path, keys):
    folder = tmp_path / "policy"
    folder.mkdir()
    return write_policy(folder, [(keys["developer"], "developer", None),
                                 (keys["authority"], "authority", ["device:*", "partitions"])])


@pytest.fixture
def trust(policy_file):
    return policy.load(policy_file)


@pytest.fixture(scope="module")
def swtpm():
    skip_unless("swtpm", "tpm2_pytss")
    from pipsim.trust.rot_tpm import Swtpm
    with Swtpm() as simulator:
        yield simulator


@pytest.fixture(params=["software", "tpm"])
def make_root(request):
    """A function making a fresh root of each kind (one TPM connection open at a time)."""
    if request.param == "software":
        yield lambda: SoftwareRoot.generate("test")
        return
    from pipsim.trust.rot_tpm import TpmRoot
    simulator, opened = request.getfixturevalue("swtpm"), []

    def make():
        for root in opened:
            root.close()
        opened[:] = [TpmRoot(simulator.tcti)]
        return opened[0]
    yield make
    for root in opened:
        root.close()
