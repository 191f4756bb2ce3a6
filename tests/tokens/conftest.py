"""Shared fixtures and published test vectors for the tokens tests."""
import pytest

from tokens import ES256, HMAC_256_64, Issuer, KeyVault, Validator

NOW = 1_800_000_000

# RFC 8392 Appendix A (CWT).  A.2.2's published hex ends in 03 0a (alg 10, AES-CCM-16-64-128),
# while its diagnostic notation (and the A.4 token) say alg 4, HMAC 256/64.
RFC8392_A1_CLAIMS = bytes.fromhex(
    "a70175636f61703a2f2f61732e6578616d706c652e636f6d02656572696b77037818636f61703a2f2f6c696768"
    "742e6578616d706c652e636f6d041a5612aeb0051a5610d9f0061a5610d9f007420b71")
RFC8392_A2_2_KEY = bytes.fromhex(
    "a4205820403697de87af64611c1d32a05dab0fe1fcb715a86ab435f1ec99192d795693880104024c53796d6d65"
    "74726963323536030a")
RFC8392_A2_3_KEY = bytes.fromhex(
    "a72358206c1382765aec5358f117733d281c1c7bdc39884d04a45a1e6c67c858bc206c1922582060f7f1a780d8"
    "a783bfb7a2dd6b2796e8128dbbcef9d3d168db9529971a36e7b9215820143329cce7868e416927599cf65a34f3"
    "ce2ffda55a7eca69ed8919a394d42f0f2001010202524173796d6d657472696345434453413235360326")
RFC8392_A3_SIGNED = bytes.fromhex(
    "d28443a10126a104524173796d6d657472696345434453413235365850a70175636f61703a2f2f61732e657861"
    "6d706c652e636f6d02656572696b77037818636f61703a2f2f6c696768742e6578616d706c652e636f6d041a56"
    "12aeb0051a5610d9f0061a5610d9f007420b7158405427c1ff28d23fbad1f29c4c7c6a555e601d6fa29f9179bc"
    "3d7438bacaca5acd08c8d4d4f96131680c429a01f85951ecee743a52b9b63632c57209120e1c9e30")
RFC8392_A4_MACED = bytes.fromhex(
    "d83dd18443a10104a1044c53796d6d65747269633235365850a70175636f61703a2f2f61732e6578616d706c65"
    "2e636f6d02656572696b77037818636f61703a2f2f6c696768742e6578616d706c652e636f6d041a5612aeb005"
    "1a5610d9f0061a5610d9f007420b7148093101ef6d789200")


def rfc8392_hmac_key_bytes() -> bytes:
    """A.2.2 with the alg its diagnostic notation gives (4, HMAC 256/64) in place of the hex's 10."""
    assert RFC8392_A2_2_KEY.endswith(b"\x03\x0a")
    return RFC8392_A2_2_KEY[:-1] + b"\x04"


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


def issue(issuer, **kw):
    kw.setdefault("audience", "dom1")
    kw.setdefault("scope", "26261/0/7:w 3303/0:r")
    kw.setdefault("now", NOW)
    return issuer.issue(**kw)
