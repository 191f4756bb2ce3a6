"""Signed images where they are used: boot verifies every firmware image when the manifest
names a trust policy (image.trust), and the owner's create (object 26261) verifies a
created domain's code before anything is made (the issue's attacker: a tampered
store_app.elf was accepted and ran)."""
import dataclasses
import shutil
from pathlib import Path

import pytest

from pipsim.domains.gateway import APP_CONFIG, CREATE, IMAGE, RESTART, Gateway
from pipsim.partitions import boot, load
from pipsim.partitions.spec import ManifestError
from pipsim.tokens.scope import OPERATIONS
from pipsim.trust import image, policy
from pipsim.trust.image import signature_path
from trust_helpers import BUILD, POLICY, copy_image, flip_rodata


def test_the_gateway_manifest_names_the_builds_policy():
    assert load(IMAGE).trust == POLICY.resolve()


@pytest.mark.parametrize("arch", ["arm", "x86"])
def test_the_built_firmware_checks(arch):
    trust = policy.load(POLICY)
    for name, devices in (("temp_driver", ["device:temperature"]), ("lamp_driver", ["device:lamp"]),
                          ("store_app", [])):
        verified = image.verify(BUILD / arch / f"{name}.elf", trust, arch=arch)
        assert verified.metadata.name == name and set(devices) <= set(verified.metadata.permissions)
        assert ("authority" in verified.signers) == bool(devices)


def _with_driver(manifest, driver):
    """The manifest with temp-driver running ``driver`` (same layout)."""
    parts = tuple(dataclasses.replace(p, runs=dataclasses.replace(p.runs, target=str(driver)))
                  if p.name == "temp-driver" else p for p in manifest.partitions)
    return dataclasses.replace(manifest, partitions=parts)


@pytest.mark.parametrize("arch", ["arm", "x86"])
def test_boot_refuses_a_tampered_driver(tmp_path, arch):
    manifest = load(IMAGE, arch)
    driver = copy_image(tmp_path, arch, "temp_driver", signature=True)
    boot(_with_driver(manifest, driver)).kernel           # the copy, intact, boots
    flip_rodata(driver)
    with pytest.raises(ManifestError, match='partition "temp-driver": runs.firmware refused '
                       "by image.trust: digest_mismatch"):
        boot(_with_driver(manifest, driver))


def test_boot_refuses_a_driver_not_signed_for_its_device(tmp_path):
    """lamp_driver's signature requests device:lamp: as the temperature driver it is refused."""
    driver = copy_image(tmp_path, "arm", "lamp_driver", signature=True)
    with pytest.raises(ManifestError, match="not_granted: .* is given device:temperature"):
        boot(_with_driver(load(IMAGE), driver))


def test_boot_refuses_an_unsigned_driver_and_boots_without_a_policy(tmp_path):
    driver = copy_image(tmp_path, "arm", "temp_driver")
    manifest = _with_driver(load(IMAGE), driver)
    with pytest.raises(ManifestError, match="unsigned"):
        boot(manifest)
    assert boot(dataclasses.replace(manifest, trust=None)).kernel.check_invariants() == []


def test_a_bad_trust_field_is_a_manifest_error(tmp_path):
    bad = tmp_path / "gateway.toml"
    bad.write_text(Path(IMAGE).read_text().replace('trust = "{firmware}/trust/policy.toml"',
                                'trust = "none.toml"'))
    with pytest.raises(ManifestError, match='image.trust: no file "none.toml"'):
        load(bad)


# ---- the owner's create, over the runtime's command path -------------------------------
def owner(gw, code, resource, value=None):
    token = gw.token("owner", "owner", f"{resource}:{OPERATIONS[code]}")
    (response,) = gw.submit("owner", gw.command("owner", code, resource, value, token=token))
    return response


def state(gw):
    """What a create may change: the tree, the owner's pool, endpoints, managers, firmware."""
    k, rt = gw.image.kernel, gw.runtime
    return (k.children(k.root), len(rt.components["root"].configuration.allocator()),
            sorted(rt.topology.endpoints), sorted(rt.managers), sorted(rt.firmware),
            owner(gw, "read", "26261/0/11").value, k.check_invariants())


def create_store(gw, name="provider-c"):
    return owner(gw, "write", CREATE, {"name": name, "pages": 48, "key": gw.new_server(name),
                                       "code": {"image": "store", "resource": APP_CONFIG}})


@pytest.fixture
def gw():
    return Gateway()


def _store_copy(gw, tmp_path, signature=True):
    """The owner's "store" code, pointed at a copy of the built image."""
    path = copy_image(tmp_path, gw.image.manifest.arch, "store_app", signature=signature)
    gw.runtime.components["root"].configuration.codes["store"] = str(path)
    return path


@pytest.mark.parametrize("arch", ["arm", "x86"])
def test_a_tampered_store_app_is_refused_and_nothing_is_created(tmp_path, arch):
    gw = Gateway(arch=arch)
    path = _store_copy(gw, tmp_path)
    flip_rodata(path)
    before = state(gw)
    refused = create_store(gw)
    assert (refused.reason, refused.status) == ("unauthorised", 403)
    assert "code 'store': image refused: digest_mismatch" in refused.value
    assert state(gw) == before
    shutil.copy(BUILD / arch / "store_app.elf", path)      # the genuine image: created
    assert create_store(gw).status == 201


@pytest.mark.parametrize("tamper, reason", [
    (lambda path: signature_path(path).unlink(), "unsigned"),
    (lambda path: signature_path(path).write_bytes(signature_path(path).read_bytes()[:-9]),
     "malformed"),
    (lambda path: shutil.copy(BUILD / "arm" / "temp_driver.elf.sig", signature_path(path)),
     "digest_mismatch"),
])
def test_a_store_app_whose_signature_does_not_check_is_refused(gw, tmp_path, tamper, reason):
    path = _store_copy(gw, tmp_path)
    tamper(path)
    before = state(gw)
    refused = create_store(gw)
    assert refused.reason == "unauthorised" and f"image refused: {reason}" in refused.value
    assert state(gw) == before


# ---- the bytes checked are the bytes run: no check-by-path, then load-by-path ----------
def test_an_image_swapped_after_the_owners_check_is_refused_at_load(gw, tmp_path, monkeypatch):
    """The attacker swaps store_app.elf right after the owner's early check of the path: the
    create loads the file once, checks those bytes and runs them, so it is refused."""
    from pipsim.domains.runtime import PartitionHost
    path = _store_copy(gw, tmp_path)
    check = PartitionHost.check_image

    def check_then_swap(host, image):
        check(host, image)
        flip_rodata(path)
    monkeypatch.setattr(PartitionHost, "check_image", check_then_swap)
    before = state(gw)
    refused = create_store(gw)
    assert refused.reason == "failed" and "digest_mismatch" in refused.value
    assert state(gw) == before


@pytest.mark.parametrize("arch", ["arm", "x86"])
def test_a_restart_runs_the_bytes_boot_verified_not_the_file_now(tmp_path, arch):
    """The driver's file is tampered with after boot; the driver faults and the owner
    restarts it: it runs again the image boot read and verified (same measurement)."""
    driver = copy_image(tmp_path, arch, "temp_driver", signature=True)
    gw = Gateway(_with_driver(load(IMAGE, arch), driver))
    measured = gw.image.measurements.state.measured["temp-driver"]["code"]
    flip_rodata(driver)
    manager, booted = gw.image.partitions["sensor-manager"], gw.image.partitions["temp-driver"]
    device = booted.devices["temperature"]
    assert manager.api.remove_vaddr(booted.desc, device)
    token = gw.token("provider-a", "provider-a", "3303/0/5700:r")
    read = gw.command("provider-a", "read", "3303/0/5700", token=token)
    assert gw.submit("provider-a", read)[0].reason == "failed"        # it faulted: halted
    assert owner(gw, "execute", RESTART, "temp-driver").reason == "changed"
    assert gw.image.measurements.state.measured["temp-driver"]["code"] == measured
    gw.sensor.set(0, 2222)
    token = gw.token("provider-a", "provider-a", "3303/0/5700:r")
    read = gw.command("provider-a", "read", "3303/0/5700", token=token)
    assert gw.submit("provider-a", read)[0].value == 2222
