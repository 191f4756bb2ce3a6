"""`pipsim run --seed N`: the default image's transcript is the same, byte for byte, for the
same N (pipsim.kernel.reproducible: token ids from the seed, a simulated clock); keys are not
the seed's."""
import subprocess
import sys

import pytest

from pipsim.kernel import reproducible
from pipsim.kernel.cli import main
from pipsim.tokens import Issuer, KeyVault, cose, cwt
from pipsim.tokens.keys import HMAC_256_64


def transcript(*flags: str) -> bytes:
    run = subprocess.run([sys.executable, "-m", "pipsim", "run", *flags], capture_output=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr.decode()
    return run.stdout


@pytest.mark.parametrize("arch", ["arm", "x86"])
def test_the_same_seed_prints_the_same_transcript(arch):
    first, again = (transcript("--arch", arch, "--seed", "7") for _ in range(2))
    assert first == again
    assert b"(now 170000000" in first                   # the simulated clock, from its epoch
    other = transcript("--arch", arch, "--seed", "8")
    assert other != first and len(other.splitlines()) == len(first.splitlines())


def test_seeded_ids_and_clock_are_the_seeds_and_keys_are_not():
    def session():
        with reproducible.seeded(3):
            vault = KeyVault()
            vault.generate("k", HMAC_256_64)
            issuer = Issuer(vault, "k", "iss")
            token = issuer.issue("aud", "3/0:r")
            claims = cwt.decode(cose.decode(token).payload)
            return claims.cti, claims.iat, vault.get("k").to_bytes()
    (cti, iat, key), (cti2, iat2, key2) = session(), session()
    assert (cti, iat) == (cti2, iat2) and iat == reproducible.EPOCH
    assert key != key2                                  # key material: os.urandom, always
    assert reproducible.random_bytes(8) != reproducible.random_bytes(8)   # unseeded: random


def test_seed_is_for_the_default_image(capsys, tmp_path):
    assert main(["run", str(tmp_path / "x.elf"), "--seed", "1"]) == 2
    assert "--seed is for the default image" in capsys.readouterr().err
