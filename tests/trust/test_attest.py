"""Remote attestation with either root of trust: evidence, the verifier's checks, the
refusals (each with its reason), reference values naming what differs."""
import dataclasses
import shutil

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from elftools.elf.elffile import ELFFile
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from pipsim import partitions
from pipsim.domains.gateway import IMAGE
from pipsim.tokens.keys import EDDSA, CoseKey
from pipsim.trust import AttestationError, Attester, ReferenceValues, SoftwareRoot, Verifier, measured


def software():
    return SoftwareRoot.generate("gateway")


def boot(root, manifest=None):
    measurements = measured("gateway", root)
    partitions.boot(manifest or partitions.load(IMAGE), measurements)
    return Attester("gateway", measurements), measurements


def appraise(root, attester, reference=None, key=None):
    verifier = Verifier(root.kind, key or root.public_key(), reference)
    nonce = verifier.challenge()
    return verifier.verify(attester.attest(nonce), nonce)


def refusal(call) -> str:
    with pytest.raises(AttestationError) as error:
        call()
    return error.value.reason


def test_evidence_verifies_and_replays_to_the_quoted_register(make_root):
    root = make_root()
    attester, measurements = boot(root)
    assert root.register() == measurements.state.tree
    appraisal = appraise(root, attester)
    assert appraisal.ok and set(appraisal.values.partitions) == set(measurements.state.registers)
    assert appraisal.values.partitions["lamp-driver"].parent == "actuator-manager"
    assert appraisal.values.partitions["lamp-driver"].code[0] == "firmware lamp_driver.elf"


def test_a_good_boot_matches_its_recorded_reference_values(make_root):
    root = make_root()
    reference = appraise(root, boot(root)[0]).values
    reference = ReferenceValues.from_json(reference.to_json())
    root = make_root()
    assert appraise(root, boot(root)[0], reference).differences == []


def flipped(tmp_path, path):
    """A copy of an ELF with one byte of its .rodata (else .text) flipped."""
    copy = tmp_path / path.rsplit("/", 1)[-1]
    shutil.copy(path, copy)
    with open(path, "rb") as f:
        elf = ELFFile(f)
        section = elf.get_section_by_name(".rodata") or elf.get_section_by_name(".text")
        offset = section["sh_offset"]
    data = bytearray(copy.read_bytes())
    data[offset] ^= 0x01
    copy.write_bytes(data)
    return copy


def replaced(manifest, name, **changes):
    return dataclasses.replace(manifest, partitions=tuple(
        dataclasses.replace(p, **changes) if p.name == name else p for p in manifest.partitions))


@pytest.mark.parametrize("arch", ["arm", "x86"])
def test_a_driver_with_one_byte_flipped_is_named(tmp_path, arch):
    root = software()
    manifest = partitions.load(IMAGE, arch)
    reference = appraise(root, boot(root, manifest)[0]).values
    driver = manifest.partition("temp-driver")
    tampered = replaced(manifest, "temp-driver", runs=dataclasses.replace(
        driver.runs, target=str(flipped(tmp_path, driver.runs.target))))
    # signatures not checked (a device without image.trust, or a signing key lost): what
    # boot lets through, the verifier must still name
    tampered = dataclasses.replace(tampered, trust=None)
    root = software()
    differences = appraise(root, boot(root, tampered)[0], reference).differences
    assert len(differences) == 1
    assert differences[0].startswith("temp-driver: code differs (firmware temp_driver.elf")


def test_a_changed_configuration_is_named():
    root = software()
    manifest = partitions.load(IMAGE)
    reference = appraise(root, boot(root, manifest)[0]).values
    spec = manifest.partition("maintainer")
    changed = replaced(manifest, "maintainer",
                       config={**spec.config, "owner_domain": "provider-a"})
    root = software()
    assert appraise(root, boot(root, changed)[0], reference).differences == [
        "maintainer: configuration differs"]


def test_a_changed_tree_shape_is_named(make_root):
    root = make_root()
    attester, measurements = boot(root)
    reference = appraise(root, attester).values
    measurements.deleted("provider-b")                        # and provider-b-app with it
    measurements.created("provider-c", "root", ("python x:Y", bytes(32)), {})
    differences = appraise(root, attester, reference).differences
    assert sorted(differences) == ["provider-b-app: missing (expected under provider-b)",
                                   "provider-b: missing (expected under root)",
                                   "provider-c: added (under root)"]
    moved = dataclasses.replace(reference, partitions={
        **reference.partitions, "provider-a": dataclasses.replace(
            reference.partitions["provider-a"], parent="maintainer")})
    assert "provider-a: moved (under root, expected under maintainer)" in \
        appraise(root, attester, moved).differences


def test_nonces_are_fresh_and_single_use(make_root):
    root = make_root()
    attester, _ = boot(root)
    verifier = Verifier(root.kind, root.public_key())
    first, second = verifier.challenge(), verifier.challenge()
    evidence = attester.attest(first)
    assert verifier.verify(evidence, first).ok
    assert refusal(lambda: verifier.verify(evidence, first)) == "nonce_reused"
    assert refusal(lambda: verifier.verify(evidence, second)) == "nonce_mismatch"   # replayed
    assert refusal(lambda: verifier.verify(evidence, second)) == "nonce_reused"     # used up
    assert refusal(lambda: verifier.verify(evidence, bytes(32))) == "nonce_unknown"
    assert refusal(lambda: attester.attest(first)) == "nonce_reused"     # the device's side
    assert refusal(lambda: attester.attest(b"short")) == "nonce_invalid"


def test_a_quote_from_another_key_is_refused(make_root):
    root = make_root()
    attester, _ = boot(root)
    if root.kind == "software":
        key = CoseKey.generate(EDDSA, b"gateway/attestation").public_key()
    else:                                  # the TPM's key is P-256 ECDSA
        key = ec.generate_private_key(ec.SECP256R1()).public_key()
    assert refusal(lambda: appraise(root, attester, key=key)) == "bad_signature"


def evidence_of(root):
    attester, _ = boot(root)
    verifier = Verifier(root.kind, root.public_key())
    nonce = verifier.challenge()
    return verifier, nonce, attester.attest(nonce)


def test_truncated_and_corrupted_evidence_is_refused(make_root):
    root = make_root()
    verifier, nonce, evidence = evidence_of(root)
    cases = {"truncated": evidence[:-10], "not cbor": b"\xff" * 40, "empty": b""}
    for what, bad in cases.items():
        nonce = verifier.challenge()
        assert refusal(lambda: verifier.verify(bad, nonce)) == "malformed", what
    item = cbor2.loads(evidence)
    quote = bytearray(item["quote"])
    quote[-5] ^= 0x40                                 # a byte of the signature
    nonce = verifier.challenge()
    bad = cbor2.dumps({**item, "quote": bytes(quote)})
    assert refusal(lambda: verifier.verify(bad, nonce)) == "bad_signature"


def test_a_forged_log_is_refused(make_root):
    root = make_root()
    attester, _ = boot(root)
    verifier = Verifier(root.kind, root.public_key())
    nonce = verifier.challenge()
    item = cbor2.loads(attester.attest(nonce))
    log = item["claims"]["log"]
    digest = bytearray(log[24 % len(log)][4])
    digest[0] ^= 1
    log[24 % len(log)][4] = bytes(digest)              # a measurement changed afterwards
    assert refusal(lambda: verifier.verify(cbor2.dumps(item), nonce)) == "log_mismatch"
    nonce = verifier.challenge()
    item = cbor2.loads(attester.attest(nonce))
    item["claims"]["log"].pop(0)                        # the root's creation dropped
    assert refusal(lambda: verifier.verify(cbor2.dumps(item), nonce)) == "log_invalid"
    nonce = verifier.challenge()
    item = cbor2.loads(attester.attest(nonce))
    item["claims"]["shape"]["temp-driver"] = "root"     # a shape the log does not give
    assert refusal(lambda: verifier.verify(cbor2.dumps(item), nonce)) == "log_mismatch"


def test_evidence_of_the_other_root_kind_is_refused(make_root):
    root = make_root()
    _, nonce, evidence = evidence_of(root)
    other = "tpm" if root.kind == "software" else "software"
    key = CoseKey.generate(EDDSA, b"x").public_key() if other == "software" else None
    verifier = Verifier(other, key)
    nonce = verifier.challenge()
    item = cbor2.loads(evidence)
    assert refusal(lambda: verifier.verify(evidence, nonce)) == "unknown_root"
    assert item["root"] == root.kind



@pytest.fixture(scope="module")
def booted_software():
    root = software()
    return root, boot(root)[0]


@given(flips=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 7)), min_size=1,
                      max_size=3))
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_flipped_bit_of_the_evidence_is_refused_with_a_reason(booted_software, flips):
    root, attester = booted_software
    verifier = Verifier(root.kind, root.public_key())
    nonce = verifier.challenge()
    original = attester.attest(nonce)
    evidence = bytearray(original)
    for where, bit in flips:
        evidence[where % len(evidence)] ^= 1 << bit
    assume(bytes(evidence) != original)
    with pytest.raises(AttestationError):
        verifier.verify(bytes(evidence), nonce)
