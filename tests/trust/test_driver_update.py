"""The driver update of Fig. 9 (docs/trust.md "Updating a driver"): the maintainer sends a
signed package block by block (LwM2M object 5) with tokens A and B, the owner verifies it and
replaces temp-driver, or refuses it with nothing changed, or rolls back a version that does
not start.  On both architectures, through the gateway's command path."""
import hashlib
import sys

import cbor2
import pytest
from trust_helpers import BUILD, POLICY

from pipsim.domains import update
from pipsim.domains.gateway import (DRIVER_VERSION, PACKAGE, PKG_VERSION, TEMPERATURE, UPDATE,
                             UPDATE_STATE, Gateway)
from pipsim.tokens.keys import EDDSA, CoseKey
from pipsim.tokens.scope import OPERATIONS
from pipsim.trust import image

sys.path.insert(0, str(BUILD.parent / "tools"))
import devtrust  # noqa: E402  (firmware/tools: the build's signing)

ARCHES = ["arm", "x86"]
DRIVER = "temp-driver"
RESULT = "5/0/5"


def maintainer(gw, code, resource, value=None, token_b=True):
    """One command of the maintainer's server (token A, and the owner's token B); its answer."""
    scope = f"{resource}:{OPERATIONS[code]}"
    sent = gw.command("maintainer", code, resource, value,
                      token=gw.token("maintainer", "maintainer", scope),
                      token_b=gw.token("owner", "owner", scope) if token_b else None)
    [answer] = [r for r in gw.submit("maintainer", sent) if r.id == sent.id]
    return answer


def push(gw, data: bytes):
    """Every Package block of ``data``; the last answer, or the first refusal."""
    for block in update.blocks(data):
        answer = maintainer(gw, "write", PACKAGE, block)
        if not answer.accepted:
            return answer
    return answer


def install(gw, data: bytes):
    """Send the package, then execute Update; Update's answer."""
    sent = push(gw, data)
    assert sent.accepted and sent.reason == "changed", sent
    return maintainer(gw, "execute", UPDATE)


def owner_read(gw, resource):
    sent = gw.command("owner", "read", resource,
                      token=gw.token("owner", "owner", f"{resource}:r"))
    [answer] = gw.submit("owner", sent)
    return answer


def temperature(gw):
    sent = gw.command("provider-a", "read", TEMPERATURE,
                      token=gw.token("provider-a", "provider-a", f"{TEMPERATURE}:r"))
    [answer] = gw.submit("provider-a", sent)
    return answer


def state(gw):
    """What would show a change: the driver's partition, endpoint, mailbox, the log length,
    the installed images, object 5's State and Update Result."""
    node = gw.runtime.topology.node(DRIVER)
    return (node.partition, node.id, node.inbox_va, len(gw.image.measurements.events),
            dict(gw.runtime.lifecycle.installed), maintainer(gw, "read", UPDATE_STATE).value,
            maintainer(gw, "read", RESULT).value)


def signed_copy(tmp_path, arch, source, name="temp_driver", version=3,
                permissions=("ipc", "device:temperature")) -> bytes:
    """A copy of the built image ``source`` signed with the build's development keys."""
    target = tmp_path / f"{source}.elf"
    target.write_bytes((BUILD / arch / f"{source}.elf").read_bytes())
    devtrust.sign(POLICY.parent, str(target), name, str(version), arch, *permissions)
    return update.package(target.read_bytes(), image.signature_path(target).read_bytes())


@pytest.fixture(params=ARCHES)
def gw(request):
    gw = Gateway(arch=request.param)
    gw.sensor.set(0, 2150)
    return gw


def test_an_accepted_update_replaces_the_driver_keeping_its_endpoint_and_device(gw):
    kernel, lifecycle = gw.image.kernel, gw.runtime.lifecycle
    old = gw.runtime.topology.node(DRIVER)
    endpoint = old.id
    device_va = gw.image.partitions[DRIVER].devices["temperature"]
    device_pa = kernel.mappings(old.partition)[device_va].pa
    assert owner_read(gw, DRIVER_VERSION).reason == "unknown_path"       # v1 has no register
    events, partitions = len(gw.image.measurements.events), len(kernel.partitions())
    v2 = (BUILD / gw.arch / "temp_driver_v2.elf").read_bytes()

    answer = install(gw, gw.driver_package("temp_driver_v2"))
    assert answer.reason == "changed" and answer.value == {"from": 1, "to": 2}, answer

    new = gw.runtime.topology.node(DRIVER)
    assert new.id == endpoint                                           # its endpoint id
    # the old partition is gone (deleted: the log says so), the new one is its parent's only
    # child, in the same pages (its descriptor may be the same page again)
    assert kernel.children(gw.image.partitions["sensor-manager"].partition) == [new.partition]
    assert len(kernel.partitions()) == partitions
    assert kernel.mappings(new.partition)[device_va].pa == device_pa   # its device page
    assert owner_read(gw, DRIVER_VERSION).value == 2                   # v2 runs
    assert temperature(gw).value == 2150                               # through the endpoint
    assert maintainer(gw, "read", PKG_VERSION).value == "2"
    assert maintainer(gw, "read", UPDATE_STATE).value == 0
    assert maintainer(gw, "read", RESULT).value == 1
    logged = gw.image.measurements.events[events:]
    assert [(e.kind, e.partition) for e in logged] == [
        ("delete", DRIVER), ("code", DRIVER), ("config", DRIVER)]
    assert logged[1].detail == "firmware temp_driver v2"
    assert logged[1].digest == hashlib.sha256(v2).digest()
    assert not gw.runtime.firmware[DRIVER].halted and lifecycle.installed[DRIVER].code == (
        logged[1].detail, logged[1].digest)


def test_the_attestation_names_the_updated_driver_only(gw):
    from pipsim.trust import Verifier
    root = gw.image.measurements.root
    verifier = Verifier(root.kind, root.public_key())
    nonce = verifier.challenge()
    verifier.reference = verifier.verify(gw.runtime.attest(nonce), nonce).values
    assert install(gw, gw.driver_package("temp_driver_v2")).accepted
    nonce = verifier.challenge()
    [difference] = verifier.verify(gw.runtime.attest(nonce), nonce).differences
    assert difference.startswith(f"{DRIVER}: code differs (firmware temp_driver v2 ")


def test_a_downgrade_and_the_same_version_again_are_refused_with_nothing_changed(gw):
    assert install(gw, gw.driver_package("temp_driver_v2")).accepted
    before = state(gw)
    answer = install(gw, gw.driver_package("temp_driver"))
    assert answer.reason == "rollback" and answer.status == 403
    assert "version 1 is older than the installed 2" in answer.value
    answer = install(gw, gw.driver_package("temp_driver_v2"))
    assert answer.reason == "rollback" and "is the installed one" in answer.value
    after = state(gw)
    assert after[:5] == before[:5] and after[5] == 0 and after[6] == 8   # Idle, update failed
    assert owner_read(gw, DRIVER_VERSION).value == 2


def tampered_signature(gw) -> bytes:
    elf, signature = cbor2.loads(gw.driver_package("temp_driver_v2"))
    files = cbor2.loads(signature)
    files["developer"] = files["developer"][:-1] + bytes([files["developer"][-1] ^ 1])
    return update.package(elf, cbor2.dumps(files))


def stranger_signed(gw, tmp_path) -> bytes:
    target = tmp_path / "stranger.elf"
    target.write_bytes((BUILD / gw.arch / "temp_driver_v2.elf").read_bytes())
    image.sign(target, CoseKey.generate(EDDSA, b"firmware-developer-2"), "developer",
               name="temp_driver", version=2, arch=gw.arch,
               permissions=("ipc", "device:temperature"))
    return update.package(target.read_bytes(), image.signature_path(target).read_bytes())


def truncated(gw) -> bytes:
    elf, signature = cbor2.loads(gw.driver_package("temp_driver_v2"))
    return update.package(elf[:len(elf) // 2], signature)


@pytest.mark.parametrize("make, reason", [
    (tampered_signature, "bad_signature"),
    (lambda gw, tmp: gw.driver_package("temp_driver_v2", tamper=True), "digest_mismatch"),
    (lambda gw, tmp: signed_copy(tmp, gw.arch, "lamp_driver", "lamp_driver", 2,
                                 ("ipc", "device:temperature")), "wrong_name"),
    (lambda gw, tmp: signed_copy(tmp, "x86" if gw.arch == "arm" else "arm", "temp_driver_v2"),
     "wrong_arch"),
    (stranger_signed, "unknown_signer"),
    (lambda gw, tmp: signed_copy(tmp, gw.arch, "temp_driver_v2", permissions=("ipc",)),
     "not_granted"),
    (truncated, "digest_mismatch"),
    (lambda gw, tmp: update.package((BUILD / gw.arch / "temp_driver_v2.elf").read_bytes(),
                                    b"\xa0"), "malformed"),
    (lambda gw, tmp: update.package(*[part[:len(part) // 2] if n else part for n, part in
                                      enumerate(cbor2.loads(gw.driver_package(
                                          "temp_driver_v2")))]), "malformed"),
], ids=["forged-signature", "tampered-code", "wrong-name", "other-arch", "unknown-signer",
        "device-not-requested", "truncated-elf", "empty-signature-map",
        "truncated-signature-file"])
def test_a_bad_package_is_refused_at_update_with_nothing_changed(gw, tmp_path, make, reason):
    data = make(gw, tmp_path) if make not in (tampered_signature, truncated) else make(gw)
    before = state(gw)
    answer = install(gw, data)
    assert not answer.accepted and answer.reason == reason, answer
    assert answer.value.startswith(f"{DRIVER}: package refused: {reason}: ")
    after = state(gw)
    assert after[:5] == before[:5] and after[5] == 0 and after[6] in (5, 6)
    assert temperature(gw).value == 2150                    # the runtime keeps running
    assert owner_read(gw, DRIVER_VERSION).reason == "unknown_path"


def test_an_update_needs_the_owners_token_b(gw):
    block = update.blocks(gw.driver_package("temp_driver_v2"))[0]
    answer = maintainer(gw, "write", PACKAGE, block, token_b=False)
    assert answer.reason == "missing_token_b" and answer.status == 401
    assert maintainer(gw, "execute", UPDATE, token_b=False).reason == "missing_token_b"
    assert maintainer(gw, "read", UPDATE_STATE).value == 0          # nothing staged


def test_a_version_that_does_not_start_is_rolled_back(gw, tmp_path):
    """Version 3 is exit_child: its main returns (main(data_va): not 1) before its first
    yield: version 1 runs again, re-verified and re-measured."""
    root = gw.image.measurements.root
    from pipsim.trust import Verifier
    verifier = Verifier(root.kind, root.public_key())
    nonce = verifier.challenge()
    verifier.reference = verifier.verify(gw.runtime.attest(nonce), nonce).values
    endpoint = gw.runtime.topology.node(DRIVER).id
    answer = install(gw, signed_copy(tmp_path, gw.arch, "exit_child"))
    assert answer.reason == "rolled_back" and answer.status == 500, answer
    assert "temp_driver version 1 runs again: the new version did not start" in answer.value
    assert answer.value.endswith("(its main returned 42)")
    assert not gw.runtime.firmware[DRIVER].halted
    assert gw.runtime.topology.node(DRIVER).id == endpoint
    assert temperature(gw).value == 2150 and owner_read(gw, DRIVER_VERSION).reason == (
        "unknown_path")                                              # v1 answers again
    assert maintainer(gw, "read", RESULT).value == 8 and DRIVER not in (
        gw.runtime.lifecycle.installed)
    details = [e.detail for e in gw.image.measurements.events if e.partition == DRIVER
               and e.kind == "code"]
    assert details[-2:] == ["firmware temp_driver v3", "firmware temp_driver.elf"]
    nonce = verifier.challenge()
    assert verifier.verify(gw.runtime.attest(nonce), nonce).differences == []


@pytest.mark.parametrize("value, reason", [
    ("not a block", "malformed"),
    ({"num": 0, "more": True, "data": b"x" * update.BLOCK, "extra": 1}, "malformed"),
    ({"num": 1, "more": True, "data": b"x" * update.BLOCK}, "malformed"),       # out of order
    ({"num": 0, "more": True, "data": b"short"}, "malformed"),                   # not full
    ({"num": 0, "more": False, "data": cbor2.dumps({"elf": b"x"})}, "malformed"),  # no array
    ({"num": 0, "more": False, "data": b"\x82\x41x"}, "malformed"),              # truncated
    ({"num": 0, "more": "yes", "data": b""}, "malformed"),
])
def test_a_malformed_package_block_is_refused_and_the_download_starts_over(gw, value, reason):
    answer = maintainer(gw, "write", PACKAGE, value)
    assert not answer.accepted and answer.reason == reason and answer.status == 400, answer
    assert maintainer(gw, "read", UPDATE_STATE).value == 0
    assert maintainer(gw, "execute", UPDATE).reason == "not_allowed"      # nothing to update


def test_a_package_is_bounded_and_an_empty_block_resets_the_download(gw):
    for n in range(update.MAX_PACKAGE // update.BLOCK):
        assert maintainer(gw, "write", PACKAGE, {"num": n, "more": True,
                                                 "data": bytes(update.BLOCK)}).accepted
    answer = maintainer(gw, "write", PACKAGE, {"num": update.MAX_PACKAGE // update.BLOCK,
                                               "more": False, "data": b"x"})
    assert answer.reason == "oversized" and maintainer(gw, "read", RESULT).value == 2
    first, second, _ = update.blocks(b"x" * 300)
    assert maintainer(gw, "write", PACKAGE, first).accepted
    assert maintainer(gw, "read", UPDATE_STATE).value == 1                   # Downloading
    assert maintainer(gw, "write", PACKAGE, first).accepted                  # starts again
    assert maintainer(gw, "write", PACKAGE, second).accepted
    assert maintainer(gw, "write", PACKAGE, second).reason == "malformed"   # not block 2
    assert maintainer(gw, "write", PACKAGE, first).accepted
    assert maintainer(gw, "write", PACKAGE, {"num": 0, "more": False, "data": b""}).accepted
    assert maintainer(gw, "read", UPDATE_STATE).value == 0


def test_a_version_that_cannot_be_spawned_is_rolled_back(gw, tmp_path, monkeypatch):
    """Version 3 does not fit the driver's pages (its spawn fails half-way): what it made is
    deleted and version 1 is spawned again in all of the driver's pages."""
    from pipsim.domains import lifecycle
    from pipsim.kernel.wrappers import NoFreePages
    data = signed_copy(tmp_path, gw.arch, "temp_driver_v2")
    v3 = cbor2.loads(data)[0]
    real = lifecycle.spawn_firmware

    def spawn(machine, api, alloc, image, plan, devices=()):
        if image == v3:
            alloc.alloc()                   # it took a page, then ran out
            raise NoFreePages("no pages left in the pool")
        return real(machine, api, alloc, image, plan, devices)
    monkeypatch.setattr(lifecycle, "spawn_firmware", spawn)
    partitions = len(gw.image.kernel.partitions())
    answer = install(gw, data)
    assert answer.reason == "rolled_back", answer
    assert answer.value.endswith("(NoFreePages: no pages left in the pool)")
    assert len(gw.image.kernel.partitions()) == partitions
    assert temperature(gw).value == 2150 and not gw.runtime.firmware[DRIVER].halted
    assert gw.image.check_invariants() == []
