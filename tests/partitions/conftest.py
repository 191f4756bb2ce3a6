"""A small valid manifest (as parsed TOML) and a helper listing a manifest's errors."""
import copy

import pytest

from partitions import ManifestError, parse

VALID = {
    "image": {"name": "t", "arch": "python", "pages": 512, "table_size": 16, "levels": 3},
    "root": {"domain": "owner"},
    "partition": [
        {"name": "owner", "parent": "root", "pages": 120, "domain": "owner"},
        {"name": "sensor", "parent": "owner", "pages": 20, "domain": "owner"},
        {"name": "provider", "parent": "root", "pages": 40, "domain": "provider"},
    ],
    "device": [{"name": "temperature", "kind": "registers", "owner": "sensor"}],
    "channel": [{"from": "provider", "to": "sensor", "max_size": 64, "operations": ["read"]}],
    "key": [{"kid": "owner-mac", "alg": "HMAC256/64", "holder": "owner", "generate": True}],
}


@pytest.fixture
def valid():
    """A fresh copy of VALID to mutate."""
    return copy.deepcopy(VALID)


@pytest.fixture
def errors(tmp_path):
    """errors(data) -> the ManifestError's lines (fails if the manifest is accepted)."""
    def run(data):
        with pytest.raises(ManifestError) as caught:
            parse(data, tmp_path)
        assert str(caught.value) == "\n".join(caught.value.errors)
        return caught.value.errors
    return run
