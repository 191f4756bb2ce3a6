"""A small valid manifest (as parsed TOML) and a helper listing a manifest's errors."""
import copy

import pytest

from partition_manifests import VALID

from pipsim.partitions import ManifestError, parse


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
