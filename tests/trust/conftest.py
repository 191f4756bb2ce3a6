"""Keys and a trust policy for the trust tests."""
import pytest

from tokens.keys import EDDSA, ES256, CoseKey
from trust import policy
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
