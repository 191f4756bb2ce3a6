"""The house of the paper's §VII (domains/house.py): the gateway's provider domains forward
commands with their tokens to their own small devices only; each device validates its
token; a compromised gateway domain or device network port is contained."""
from __future__ import annotations

import dataclasses
import io
import os
import tomllib

import pytest

from pipsim import partitions
from pipsim.domains.commands import Response
from pipsim.domains.gateway import APP_CONFIG, IMAGE, LAMP, PERIOD, TEMPERATURE
from pipsim.domains.house import DEVICE_KEY, TOKEN, House, house_session, run_default
from pipsim.domains.links import Links
from pipsim.partitions.spec import LinkSpec, ManifestError


@pytest.fixture(params=["arm", "x86"])
def house(request):
    """The house on each architecture: its containment claims are checked on both."""
    return House(arch=request.param)


def lamp_on(house):
    return house.devices["lamp"].image.devices["lamp"].get(0)


def install_lamp_key(house):
    gw = house.gateway
    answer = house.submit("provider-b", gw.command(
        "provider-b", "write", DEVICE_KEY, {"device": "lamp", "key": house.lamp_key},
        token=gw.token("provider-b", "provider-b", f"{DEVICE_KEY}:w")))
    assert answer.reason == "changed", answer


def sensor_read(house, **kw):
    gw = house.gateway
    return gw.command("provider-a", "read", TEMPERATURE, device="sensor",
                      token=gw.token("sensor-server", "provider-a", f"{TEMPERATURE}:r"), **kw)


def test_run_default_prints_the_gateway_then_the_house():
    out = io.StringIO()
    assert run_default(out) == 0, out.getvalue()
    text = out.getvalue()
    assert text.startswith("device image gateway on arm")
    assert "the house (paper §VII)" in text and "UNEXPECTED" not in text
    assert "provider-a -> sensor, provider-b -> lamp" in text


def test_the_session_meets_every_expectation(house):
    steps = house_session(house)
    assert all(expected for _, expected, _ in steps), [s for s, e, _ in steps if not e]
    reasons = {reason for _, _, reason in steps}
    assert {"not_linked", "memory_fault", "command_mismatch", "unknown_key",
            "wrong_device"} <= reasons


def test_the_cloud_token_is_checked_by_the_sensor_not_the_gateway(house):
    """Provider A's gateway domain forwards the command as it came; the sensor validates."""
    gw = house.gateway
    sensor = house.devices["sensor"]
    sensor.image.devices["temperature"].set(0, 2000)
    assert house.submit("provider-a", sensor_read(house)).value == 2000
    good = sensor_read(house)
    forged = dataclasses.replace(good, token=good.token[:-1] + bytes([good.token[-1] ^ 1]))
    assert house.submit("provider-a", forged).reason == "bad_signature"
    # a token of provider A's gateway server (not the sensor's) is not the sensor's
    other = gw.command("provider-a", "write", PERIOD, 5, device="sensor",
                       token=gw.token("provider-a", "provider-a", f"{PERIOD}:w"))
    assert house.submit("provider-a", other).reason == "unknown_key"
    assert sensor.image.devices["temperature"].get(4) != 5
    # bound to the device: the same command signed for the gateway does not pass
    for_gateway = sensor_read(house)
    resigned = gw.sign(gw.token("sensor-server", "provider-a", f"{TEMPERATURE}:r"),
                       dataclasses.replace(for_gateway, device="gateway"))
    assert house.submit("provider-a", dataclasses.replace(
        for_gateway, token=resigned)).reason == "command_mismatch"


def test_a_gateway_domain_reaches_no_other_domains_device(house):
    """Through the network: its Internal Communicator refuses; the lamp sees nothing."""
    gw = house.gateway
    install_lamp_key(house)
    command = gw.command("provider-a", "write", LAMP, 1, device="lamp",
                        token=gw.token("sensor-server", "provider-a", f"{LAMP}:w"))
    assert house.submit("provider-a", command).reason == "wrong_device"
    assert lamp_on(house) == 0
    assert house.devices["lamp"].runtime.components["root"].seen == []


@pytest.mark.parametrize("attacker", ["provider-a", "maintainer", "root"])
def test_the_runtime_refuses_a_forward_to_a_device_not_the_callers(house, attacker):
    """A compromised domain asks the host itself, with a valid lamp token: refused by the
    runtime (PermissionError, the domain contained); nothing reaches the lamp."""
    gw, rt = house.gateway, house.gateway.runtime
    install_lamp_key(house)
    command = gw.command("provider-b", "write", LAMP, 1, device="lamp")
    token = house.token_from_service(command).value
    frame = dataclasses.replace(command, token=token).encode()
    failure = rt.run_as(attacker, lambda c: c.host.forward("lamp", frame))
    rt.run()
    assert isinstance(failure, PermissionError), failure
    assert not rt.running(attacker)
    assert lamp_on(house) == 0
    assert house.devices["lamp"].runtime.components["root"].seen == []
    # the lamp's own domain still reaches it with that very token
    assert house.submit("provider-b", dataclasses.replace(command, token=token)).reason == \
        "changed"
    assert lamp_on(house) == 1


def test_a_forward_from_a_domain_that_then_faults_never_leaves(house):
    """Provider B's manager queues a valid lamp command, then faults in the same
    activation: its domain is stopped, and the queued frame is dropped, not sent."""
    gw, rt = house.gateway, house.gateway.runtime
    install_lamp_key(house)
    command = gw.command("provider-b", "write", LAMP, 1, device="lamp")
    frame = dataclasses.replace(command, token=house.token_from_service(command).value).encode()

    def forward_then_fault(component):
        component.host.forward("lamp", frame)
        raise RuntimeError("compromised after it asked")
    assert isinstance(rt.run_as("provider-b", forward_then_fault), RuntimeError)
    rt.run()
    assert not rt.running("provider-b")
    assert lamp_on(house) == 0
    assert house.devices["lamp"].runtime.components["root"].seen == []


def test_the_token_service_signs_only_for_its_domains_devices(house):
    gw = house.gateway
    install_lamp_key(house)
    for device, domain in (("sensor", "provider-b"), ("gateway", "provider-b"),
                           ("lamp", "provider-a")):
        command = gw.command(domain, "write", LAMP, 1, device=device)
        answer = house.token_from_service(command)
        assert answer.reason == "unauthorised", (device, domain, answer)
    # installing a key for a device not linked to provider B is refused
    sensor_key = house.devices["sensor"].runtime.enrol("root", "sensor-server")
    answer = house.submit("provider-b", gw.command(
        "provider-b", "write", DEVICE_KEY, {"device": "sensor", "key": sensor_key},
        token=gw.token("provider-b", "provider-b", f"{DEVICE_KEY}:w")))
    assert answer.reason == "unauthorised"
    # without provider B's server's token, nobody gets a lamp token
    asked = gw.command("provider-b", "execute", TOKEN, {"x": 1},
                       token=gw.token("provider-a", "provider-a", f"{TOKEN}:x"))
    assert house.submit("provider-b", asked).reason == "unknown_key"


def test_a_lamp_token_is_for_its_one_command(house):
    gw = house.gateway
    install_lamp_key(house)
    command = gw.command("provider-b", "write", LAMP, 1, device="lamp")
    token = house.token_from_service(command).value
    changed = gw.command("provider-b", "write", LAMP, 0, device="lamp", token=token)
    assert house.submit("provider-b", changed).reason == "command_mismatch"
    sent = dataclasses.replace(command, token=token)
    assert house.submit("provider-b", sent).reason == "changed"
    assert house.submit("provider-b", sent).reason == "replayed"


def test_a_compromised_device_port_is_contained_to_its_device(house):
    """The sensor's network port faults on the application's key vault page: the sensor's
    one domain stops; the gateway and the lamp go on."""
    gw, sensor = house.gateway, house.devices["sensor"]
    install_lamp_key(house)
    vault_va = sensor.runtime.components["root"].vault_storage.store.va
    fault = sensor.runtime.run_as("net", lambda c: c.api.read(vault_va, 16))
    assert fault is not None and not sensor.runtime.running("root")
    assert house.submit("provider-a", sensor_read(house)).reason == "stopped"
    assert gw.runtime.running("provider-a") and not gw.runtime.faults
    assert house.submit("provider-a", gw.command(
        "provider-a", "read", APP_CONFIG,
        token=gw.token("provider-a", "provider-a", f"{APP_CONFIG}:r"))).value == "comfort"
    command = gw.command("provider-b", "write", LAMP, 1, device="lamp")
    token = house.token_from_service(command).value
    assert house.submit("provider-b", dataclasses.replace(command, token=token)).reason == \
        "changed"


def test_a_hostile_device_cannot_answer_for_other_commands(house):
    """A sensor that answers ids it was not asked (provider B's lamp command's, in flight
    in the same round, among them) is heard only for its own command, by the domain that
    asked it: the lamp's answer is the lamp's."""
    gw, rt = house.gateway, house.gateway.runtime
    install_lamp_key(house)
    lamp_cmd = gw.command("provider-b", "write", LAMP, 1, device="lamp")
    lamp_cmd = dataclasses.replace(lamp_cmd, token=house.token_from_service(lamp_cmd).value)
    read = sensor_read(house)
    spoofed = [Response(lamp_cmd.id, 401, "bad_signature", "spoofed"),
               Response(read.id, 205, "content", -40),
               Response(read.id + 100, 205, "content", "spoofed")]
    rt.links.attach("sensor", lambda frame: spoofed)
    assert rt.submit("provider-a", read.encode()) is None
    assert rt.submit("provider-b", lamp_cmd.encode()) is None
    rt.run()
    answers = sorted((a.id, a.reason, a.value) for a in rt.collect())
    assert answers == sorted([(read.id, "content", -40), (lamp_cmd.id, "changed", None)])
    assert lamp_on(house) == 1


def test_a_hostile_port_is_answered_only_through_the_application(house):
    """Everything the sensor's port sends the application goes through the forwarded-command
    check: a command with no valid token changes nothing."""
    sensor = house.devices["sensor"]
    forged = sensor_read(house)
    forged = dataclasses.replace(forged, code="write", path=(3303, 0, 5900), value=1)
    rt = sensor.runtime
    rt.run_as("net", lambda c: c.send("root", {"t": "cmd", "rid": 7, "cmd": forged.to_map()}))
    rt.run()
    assert sensor.image.devices["temperature"].get(4) != 1
    assert rt.running("root")


# ---- the image's [[link]] ----
def manifest_with(links: str):
    with open(IMAGE, "rb") as f:
        data = tomllib.load(f)
    data["link"] = data["link"] + tomllib.loads(links)["link"]
    return partitions.parse(data, os.path.dirname(IMAGE))


@pytest.mark.parametrize("links, why", [
    ('[[link]]\ndomain = "provider-z"\ndevice = "tv"\n', '"provider-z" is not a domain'),
    ('[[link]]\ndomain = "provider-a"\ndevice = "gateway"\n', "this image itself"),
    ('[[link]]\ndomain = "provider-b"\ndevice = "sensor"\n', "already linked"),
    ('[[link]]\ndomain = "provider-b"\ndevice = "tv"\nport = 1\n', "port"),
])
def test_a_bad_link_is_refused_naming_it(links, why):
    with pytest.raises(ManifestError) as error:
        manifest_with(links)
    assert why in str(error.value)


def test_links_refuse_what_the_image_does_not_say():
    links = Links([LinkSpec("provider-b", "lamp")])
    with pytest.raises(ValueError):
        links.attach("tv", lambda frame: [])
    with pytest.raises(PermissionError):
        links.send("provider-a", "provider-a", "lamp", b"\xa0")
    links.send("provider-b", "provider-b", "lamp", b"\xa1\x62id\x05")   # nothing attached
    links.send("provider-b", "stopped-one", "lamp", b"\xa1\x62id\x06")
    [(caller, device, answer)] = links.deliver(lambda caller: caller != "stopped-one")
    assert (caller, device, answer.id, answer.status) == ("provider-b", "lamp", 5, 503)
    assert links.devices("provider-b") == ["lamp"] and links.devices("provider-a") == []


def test_enrol_exports_only_a_key_the_image_has_the_holder_generate(house):
    rt = house.devices["lamp"].runtime
    with pytest.raises(ValueError):
        rt.enrol("net", "lamp-issuer")
    with pytest.raises(ValueError):
        rt.enrol("root", "other")
