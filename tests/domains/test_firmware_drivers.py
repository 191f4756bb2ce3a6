"""The gateway's drivers are firmware partitions on the emulated CPU (firmware/samples/drivers):
booted from the manifest under their Python managers, run by them each round, serving requests
over IPC with a C CBOR reader, and contained when they fault or run away."""
import io
import tomllib
from pathlib import Path

import cbor2
import pytest

from pipsim import partitions
from pipsim.domains.gateway import IMAGE, LAMP, RESTART, TEMPERATURE, Gateway, run_default
from pipsim.kernel.machine.spawn import CONTEXT_OFFSET

ARCHES = ["arm", "x86"]


@pytest.fixture(scope="module", params=ARCHES)
def arch(request):
    return request.param


def test_the_default_image_runs_on_both_arches(arch):
    out = io.StringIO()
    assert run_default(out, arch=arch) == 0, out.getvalue()
    text = out.getvalue()
    assert f"gateway on {arch}" in text and "firmware: temp-driver, lamp-driver" in text
    assert "temp-driver (firmware):" in text and "lamp-driver (firmware):" in text
    assert "refused (driver_fault)" in text and "restarts the lamp driver" in text
    assert "halted" not in text.split("kernel invariants")[0].splitlines()[-1]


def test_firmware_partitions_boot_under_their_managers(arch):
    gw = Gateway(arch=arch)
    image, k = gw.image, gw.image.kernel
    m = image.manifest
    for name, manager in (("temp-driver", "sensor-manager"), ("lamp-driver", "actuator-manager")):
        driver, spec = image.partitions[name], m.partition(name)
        assert k.children(image.partitions[manager].partition) == [driver.partition]
        maps = k.mappings(driver.partition)
        image_pages = spec.runs.image_pages
        # its image (code executable, not writable), its VIDT, its pages after the image,
        # its device after its pages: nothing else
        assert set(maps) == set(image_pages) | {k.geometry.vidt_va} | set(driver.pages) | set(
            driver.devices.values())
        assert maps[image_pages[0]].x and not maps[image_pages[0]].w
        assert all(maps[va].w and not maps[va].x for va in driver.pages)
        assert driver.pages[0] == m.plan[name].pages[0] == spec.runs.image_end
        assert len(k.config_pages(driver.partition)) == m.plan[name].kernel
        assert len(k.config_pages(image.partitions[manager].partition)) == m.plan[manager].kernel
        # the manager's VIDT sends everything back to one context in its upper half
        vidt = image.partitions[manager].api.read(k.geometry.vidt_va, 8)
        landing = (k.geometry.vidt_va + CONTEXT_OFFSET).to_bytes(4, "little")
        assert vidt == landing * 2
    assert image.check_invariants() == []


def _ask(gw, payloads):
    """As the sensor manager, send payloads to the temperature driver; its replies."""
    rt = gw.runtime
    mailbox, replies = rt.topology.mailbox("sensor-manager"), []
    for first in range(0, len(payloads), 8):              # an outbox holds 8 messages
        chunk = payloads[first:first + 8]
        for payload in chunk:
            mailbox.send("temp-driver", payload)
        rt.relay.run_until_idle()
        assert rt.firmware["temp-driver"].turn() is None
        rt.relay.run_until_idle()
        replies += [msg.payload for msg in mailbox.receive()]
    return replies


def test_the_driver_serves_its_protocol_and_refuses_bad_requests(arch):
    gw = Gateway(arch=arch)
    gw.sensor.set(0, 2150)
    nested = [0]
    for _ in range(20):
        nested = [nested]
    req = {"t": "req", "op": "read", "reg": "value"}
    cases = [
        (dict(req, rid=1), "content", 2150),
        (dict(req, rid=2, op="write", value=5), "not_allowed", None),
        (dict(req, rid=3, op="write", reg="period", value=2**32), "malformed", None),
        (dict(req, rid=4, op="write", reg="period"), "malformed", None),
        (dict(req, rid=5, reg="humidity"), "unknown_path", None),
        (dict(req, rid=6, op="execute"), "malformed", None),
        (dict(req, rid=7, t="rep"), "malformed", None),
        (dict(req, rid=8, extra=nested), "malformed", None),             # nested too deep
        (dict(req, rid=9, x={"f": 1.5, b"k": cbor2.CBORTag(99, [1])}, pad="p" * 400), "content", 2150),
        (dict(req, rid=10, op="write", reg="period", value=77), "changed", None),
        ([1, 2, 3], "malformed", None),
        (dict(req, rid=-1), "malformed", None),
        (dict(req, rid=2**40), "malformed", None),
    ]
    replies = _ask(gw, [payload for payload, _, _ in cases])
    expected = [{"t": "rep", "rid": p["rid"] if isinstance(p, dict) and 0 <= p["rid"] < 2**32
                 else None, "reason": reason, "value": value} for p, reason, value in cases]
    assert replies == expected
    assert gw.sensor.get(4) == 77 and gw.sensor.get(0) == 2150
    assert gw.runtime.firmware["temp-driver"].halted is None


def _read_temperature(gw):
    token = gw.token("provider-a", "provider-a", f"{TEMPERATURE}:r")
    [response] = gw.submit("provider-a", gw.command("provider-a", "read", TEMPERATURE,
                                                    token=token))
    return response


def _switch_lamp(gw, on):
    token = gw.token("provider-a", "provider-a", f"{LAMP}:w")
    [response] = gw.submit("provider-a", gw.command("provider-a", "write", LAMP, on, token=token))
    return response


def test_a_faulting_driver_is_halted_and_reported_to_its_manager(arch):
    """The manager revokes its driver's device page: the driver's next register access
    faults; the fault goes to the manager, the driver is halted, requests fail, and the
    rest of the device goes on."""
    gw = Gateway(arch=arch)
    gw.sensor.set(0, 1999)
    assert _read_temperature(gw).value == 1999
    manager, driver = gw.image.partitions["sensor-manager"], gw.image.partitions["temp-driver"]
    assert manager.api.remove_vaddr(driver.desc, driver.devices["temperature"])
    failed = _read_temperature(gw)
    assert (failed.accepted, failed.reason) == (False, "failed")
    [report] = gw.runtime.faults
    assert report.startswith("temp-driver: ") and "reported to sensor-manager, halted" in report
    assert f"{driver.devices['temperature']:#010x}" in report
    assert gw.runtime.firmware["temp-driver"].halted
    assert _read_temperature(gw).reason == "failed"                   # it stays halted
    assert _switch_lamp(gw, 1).accepted and gw.lamp.get(0) == 1       # its sibling is unharmed
    assert gw.image.check_invariants() == []


def test_a_runaway_driver_is_cut_at_its_budget():
    """A lamp driver that never yields back (it spins) is stopped after its instruction
    budget, halted and reported; the sensor keeps working."""
    data = tomllib.loads(open(IMAGE).read())
    lamp = next(p for p in data["partition"] if p["name"] == "lamp-driver")
    base = partitions.load(IMAGE).partition("lamp-driver").runs.target
    lamp["runs"] = {"firmware": base.replace("lamp_driver", "attack_victim")}
    del data["image"]["trust"]     # an unsigned image: this manifest checks no signatures
    gw = Gateway(partitions.parse(data, Path(IMAGE).parent))
    response = _switch_lamp(gw, 1)
    assert (response.accepted, response.reason) == (False, "failed")
    assert any(r.startswith("lamp-driver: ran 2000000 instructions without yielding back")
               for r in gw.runtime.faults)
    gw.sensor.set(0, 2024)
    assert _read_temperature(gw).value == 2024
    assert gw.image.check_invariants() == []


def _restart(gw, name):
    token = gw.token("owner", "owner", f"{RESTART}:x")
    [response] = gw.submit("owner", gw.command("owner", "execute", RESTART, name, token=token))
    return response


def _free_pages(gw, name):
    booted = gw.image.partitions[name]
    return sorted(va for va in gw.image.kernel.mappings(booted.partition)
                  if booted.api.translate(va, "w") is not None
                  and not booted.api.mapped_in_child(va))


def test_the_owner_restarts_a_halted_driver(arch):
    """After a fault the owner restarts the driver: its manager deletes it and spawns its
    image afresh in the same pages, with its device; it serves again, every time."""
    gw = Gateway(arch=arch)
    k, rt = gw.image.kernel, gw.runtime
    manager = gw.image.partitions["actuator-manager"]
    free_before = _free_pages(gw, "actuator-manager")
    assert _restart(gw, "lamp-driver").reason == "not_allowed"          # it is not halted
    for round_ in range(2):
        driver = gw.image.partitions["lamp-driver"]
        assert manager.api.remove_vaddr(driver.desc, driver.devices["lamp"])
        assert _switch_lamp(gw, 1).reason == "failed" and rt.firmware["lamp-driver"].halted
        restarted = _restart(gw, "lamp-driver")
        assert (restarted.status, restarted.value) == (204, "lamp-driver")
        assert rt.firmware["lamp-driver"].halted is None
        assert _switch_lamp(gw, round_ % 2).accepted and gw.lamp.get(0) == round_ % 2
        assert k.check_invariants() == []
    assert _free_pages(gw, "actuator-manager") == free_before           # no page lost
    assert _restart(gw, "provider-a-app").reason == "not_allowed"       # not the owner's


def _grandchild(gw):
    """The lamp driver makes a child of its own (through the kernel, as itself) from its
    image pages and its VIDT page: it cannot be yielded to any more, so its next turn halts
    it."""
    k, driver = gw.image.kernel, gw.image.partitions["lamp-driver"]
    pages = driver.spec.runs.image_pages[-4:] + [k.geometry.vidt_va]
    assert driver.api.create_partition(*pages) and len(k.children(driver.partition)) == 1
    assert _switch_lamp(gw, 1).reason == "failed" and gw.runtime.firmware["lamp-driver"].halted


def test_a_driver_that_made_a_grandchild_is_restarted_with_every_page(arch):
    """Restart deletes bottom-up (the grandchild first, by the driver): every page comes
    back, the image spawns again and serves, the manager has the pages it had."""
    gw = Gateway(arch=arch)
    free_before = _free_pages(gw, "actuator-manager")
    _grandchild(gw)
    restarted = _restart(gw, "lamp-driver")
    assert (restarted.status, restarted.value) == (204, "lamp-driver")
    assert _switch_lamp(gw, 1).accepted and gw.lamp.get(0) == 1
    assert _free_pages(gw, "actuator-manager") == free_before
    assert gw.image.check_invariants() == []


def test_a_restart_that_cannot_spawn_is_refused_and_undone(arch, monkeypatch):
    """A respawn that fails (here: the image loader refuses) is refused with the reason; the
    half-made child is deleted, every page is back with the manager, the driver's requests
    are refused, and the rest of the device keeps serving."""
    from pipsim.domains import lifecycle
    from pipsim.kernel.wrappers import PipCallError
    gw = Gateway(arch=arch)
    manager = gw.image.partitions["actuator-manager"].partition
    _grandchild(gw)
    real = lifecycle.spawn_firmware

    def spawn_then_fail(machine, api, alloc, *args):
        real(machine, api, alloc, *args)
        raise PipCallError("alloc", None)

    monkeypatch.setattr(lifecycle, "spawn_firmware", spawn_then_fail)
    refused = _restart(gw, "lamp-driver")
    assert (refused.reason, refused.status) == ("failed", 500) and "alloc" in refused.value
    assert gw.image.kernel.children(manager) == []
    assert _free_pages(gw, "actuator-manager") == sorted(gw.image.kernel.mappings(manager))
    assert _switch_lamp(gw, 0).reason == "failed"
    gw.sensor.set(0, 2048)
    assert _read_temperature(gw).value == 2048
    assert _restart(gw, "lamp-driver").reason == "not_allowed"
    assert gw.image.check_invariants() == []


def test_a_request_the_relay_refuses_is_answered(arch):
    """If the manager's request cannot reach its driver (here: the channel is revoked), its
    client is answered with the relay's reason: nothing is left waiting."""
    gw = Gateway(arch=arch)
    rt = gw.runtime
    rt.policy.revoke("temp-driver")
    rt.lifecycle.relay = type(rt.relay)(rt.topology, rt.policy)
    response = _read_temperature(gw)
    assert (response.reason, response.value) == ("failed", "ipc_unauthorised to temp-driver")
