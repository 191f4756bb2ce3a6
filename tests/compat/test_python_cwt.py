"""python-cwt (the most used CWT library) and pipsim.tokens read each other's tokens.

python-cwt needs cbor2 < 6 and pipsim cbor2 6.1 or later (docs/install.md "cbor2 and
python-cwt"), so python-cwt runs in an environment of its own: ``make test-compat`` makes one
and names its interpreter in PIPSIM_CWT_PYTHON; without it these tests are skipped."""
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from pipsim.tokens import HMAC_256_64, Issuer, KeyVault, Validator, binding

CWT_PYTHON = os.environ.get("PIPSIM_CWT_PYTHON")
SIDE = Path(__file__).with_name("python_cwt_side.py")
pytestmark = pytest.mark.skipif(not CWT_PYTHON, reason="PIPSIM_CWT_PYTHON (python-cwt's "
                                "environment) not given: make test-compat gives it")
SCOPE = "26261/0/7:w"
COMMAND = binding.digest("dom1", "gateway", "write", (26261, 0, 7), b"on")


def python_cwt(request: dict) -> dict:
    done = subprocess.run([CWT_PYTHON, str(SIDE)], input=json.dumps(request), text=True,
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def vault():
    keys = KeyVault()
    keys.generate("owner", HMAC_256_64)
    return keys


def test_python_cwt_decodes_a_token_pipsim_issued(vault):
    token = Issuer(vault, "owner", "owner").issue(audience="dom1", scope=SCOPE, command=COMMAND)
    claims = python_cwt({"key": vault.export("owner", private=True).hex(), "decode": token.hex()})
    assert (claims["1"], claims["3"], claims["9"]) == ("owner", "dom1", SCOPE)
    assert claims["4"] - claims["6"] == 300


def test_pipsim_validates_a_token_python_cwt_issued(vault):
    now = int(time.time())
    issued = python_cwt({"key": vault.export("owner", private=True).hex(), "issue": {
        1: "owner", 3: "dom1", 4: now + 60, 6: now, 7: {"hex": "0102030405060708"}, 9: SCOPE}})
    claims = Validator(vault, audience="dom1", issuers={"owner"}).validate(
        bytes.fromhex(issued["token"]), operation="write", resource="26261/0/7")
    assert (claims.iss, claims.aud, claims.scope, claims.cti) == ("owner", "dom1", SCOPE,
                                                                  bytes.fromhex("0102030405060708"))
