"""Shared fixtures for the tokens tests."""
import pytest

from token_vectors import NOW

from pipsim.tokens import ES256, HMAC_256_64, Issuer, KeyVault, Validator


@pytest.fixture
def vault():
    v = KeyVault()
    v.generate("owner", HMAC_256_64)
    v.generate("owner-es", ES256)
    v.generate("maintainer", HMAC_256_64)
    return v


@pytest.fixture
def issuer(vault):
    return Issuer(vault, kid="owner", issuer="owner")


@pytest.fixture
def validator(vault):
    return Validator(vault, audience="dom1", issuers={"owner": ["owner", "owner-es"], "maintainer": None},
                     boot_time=NOW - 1000)
