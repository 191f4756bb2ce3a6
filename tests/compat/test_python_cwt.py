"""python-cwt (the most used CWT library) beside pipsim, in one environment (it needs
cbor2 < 6: pipsim.kernel.cbor5 decodes there): each reads the other's tokens.
``make test-compat`` installs python-cwt with the lowest cbor2 pipsim allows."""
import time

import pytest

from pipsim.tokens import HMAC_256_64, Issuer, KeyVault, Validator, binding

cwt = pytest.importorskip("cwt", reason="python-cwt is not installed here (make test-compat "
                          "installs it beside pipsim)")
cbor2 = pytest.importorskip("cbor2")

SCOPE = "26261/0/7:w"
COMMAND = binding.digest("dom1", "gateway", "write", (26261, 0, 7), b"on")


@pytest.fixture
def vault():
    keys = KeyVault()
    keys.generate("owner", HMAC_256_64)
    return keys


def python_cwt_key(vault):
    return cwt.COSEKey.new(cbor2.loads(vault.export("owner", private=True)))


def test_python_cwt_decodes_a_token_pipsim_issued(vault):
    token = Issuer(vault, "owner", "owner").issue(audience="dom1", scope=SCOPE, command=COMMAND)
    claims = cwt.decode(token, python_cwt_key(vault))
    assert (claims[1], claims[3], claims[9]) == ("owner", "dom1", SCOPE)
    assert claims[4] - claims[6] == 300


def test_pipsim_validates_a_token_python_cwt_issued(vault):
    now = int(time.time())
    token = cwt.encode({1: "owner", 3: "dom1", 4: now + 60, 6: now, 7: b"\x01" * 8, 9: SCOPE},
                       python_cwt_key(vault))
    claims = Validator(vault, audience="dom1", issuers={"owner"}).validate(
        token, operation="write", resource="26261/0/7")
    assert (claims.iss, claims.aud, claims.scope, claims.cti) == ("owner", "dom1", SCOPE,
                                                                  b"\x01" * 8)
