"""Both roots of trust: the register, sealing bound to it, refusals of foreign blobs."""
import hashlib

import pytest

from pipsim.trust import SealError
from pipsim.trust.measure import ZERO, extend


def test_the_register_is_a_pcr_extend_chain(make_root):
    root = make_root()
    assert root.register() == ZERO
    digest = hashlib.sha256(b"event").digest()
    root.extend(digest)
    assert root.register() == extend(ZERO, digest)


def test_sealed_data_unseals_while_the_measurements_hold(make_root):
    root = make_root()
    root.extend(hashlib.sha256(b"boot").digest())
    blob = root.seal(b"vault key " * 30)           # more than a TPM seals by itself
    assert b"vault key" not in blob
    assert root.unseal(blob) == b"vault key " * 30


def test_unseal_is_refused_after_a_measurement_changes(make_root):
    root = make_root()
    blob = root.seal(b"secret")
    root.extend(hashlib.sha256(b"a changed partition").digest())
    with pytest.raises(SealError, match="does not unseal"):
        root.unseal(blob)


def test_damaged_or_foreign_blobs_are_refused(make_root):
    root = make_root()
    blob = root.seal(b"secret")
    with pytest.raises(SealError):
        root.unseal(blob[:-1] + bytes([blob[-1] ^ 1]))
    with pytest.raises(SealError):
        root.unseal(b"\x01\x02")
    other = make_root()            # a TPM: another connection, the same device, same register
    if other.kind == "software":   # another device: another secret
        with pytest.raises(SealError, match="another device"):
            other.unseal(blob)


def test_sealed_to_a_partition_register_unseals_with_that_register_only(make_root):
    root = make_root()
    good, changed = hashlib.sha256(b"good code").digest(), hashlib.sha256(b"new code").digest()
    blob = root.seal(b"vault key", good)
    root.extend(hashlib.sha256(b"another partition made").digest())   # the tree moves on
    assert root.unseal(blob, good) == b"vault key"
    with pytest.raises(SealError, match="does not unseal"):
        root.unseal(blob, changed)
    with pytest.raises(SealError):                 # not sealed to the tree register either
        root.unseal(blob)
    with pytest.raises(ValueError, match="32 bytes"):
        root.seal(b"x", b"short")
