"""The paper's house (§VII, Figs. 10–12): the gateway and two small devices, each device
an image of its own with one domain, reached only through its domain on the gateway.

* the sensor (domains/sensor.toml) is provider A's: its tokens come from provider A's server
  off the device (the cloud), which holds the issuing copy of the key the sensor generated;
* the lamp (domains/lamp.toml) is provider B's: its tokens come from provider B's token
  service *inside its domain on the gateway* (provider-b-app, domains/token_service.py),
  which holds the issuing copy of the lamp's key in its own Key Vault.

The gateway's provider domains forward the commands for their devices with their tokens
(``HostServices.forward``; the image's ``[[link]]`` says which domain reaches which device
and the runtime enforces it), and each device validates its token, bound to the command
with the device's name, itself.  In process, each device is a runtime of its own, and the
gateway's runtime's link to it (``Links.attach``) is that runtime.  docs/house.md.

    from pipsim.domains.house import House, run_default
    run_default(sys.stdout)          # the gateway's transcript, then the house's
"""
from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

from pipsim import partitions
from pipsim.kernel import MemoryFault
from pipsim.tokens import binding
from pipsim.trust import measured

from . import gateway
from .commands import Command, Refused, Response, decode
from .gateway import APP_CONFIG, LAMP, PERIOD, START, TEMPERATURE, Gateway, Step
from .remote import CoapClient, RemoteError
from .runtime import Runtime

HERE = os.path.dirname(__file__)
DEVICES = {"sensor": os.path.join(HERE, "sensor.toml"), "lamp": os.path.join(HERE, "lamp.toml")}
TOKEN, DEVICE_KEY = "26262/0/1", "26262/0/2"     # provider B's token service (gateway.toml)


class SmallDevice:
    """A small device booted in this process: its image, its runtime, its one domain."""

    inside = True             # its hardware and partitions are at hand

    def __init__(self, manifest: str, arch: str | None = None, policy: str | None = None,
                 mode: str | None = None):
        manifest = partitions.load(manifest, arch, policy, mode)
        self.image = partitions.boot(manifest, measured(manifest.name))
        self.runtime = Runtime(self.image)
        self.runtime.run()                 # what its components say at boot
        [self.domain] = self.runtime.managers
        self.name = self.image.manifest.name

    def issuing_key(self) -> bytes:
        """Enrolment: the issuing copy of the one key the device generated at boot."""
        [key] = self.image.keys
        return self.runtime.enrol(key.holder, key.kid)

    def receive(self, frame: bytes) -> list[Response]:
        """A frame from the link (the gateway's runtime): to its domain, run until idle,
        its answers (a transport for ``Links.attach``)."""
        refused = self.runtime.submit(self.domain, frame)
        self.runtime.run()
        return [refused] if refused else self.runtime.collect()


class RemoteDevice:
    """A small device ``pipsim serve`` serves, reached over CoAP + DTLS-PSK: the gateway's
    link to it is a CoAP client (``remote.CoapClient``); its issuing key is the file its
    ``--export-keys`` wrote (DIR/<domain>.cose)."""

    inside = False

    def __init__(self, name: str, uri: str, psk: tuple[str, str], keys: Path,
                 timeout: float = 10):
        self.name, self.uri = name, uri
        [self.key_file] = sorted(Path(keys).glob("*.cose"))
        self.domain = self.key_file.stem
        self.client = CoapClient(uri, psk, timeout)

    def issuing_key(self) -> bytes:
        return self.key_file.read_bytes()

    def receive(self, frame: bytes) -> list[Response]:
        """The frame (a command the gateway's domain admitted) as a PUT on its resource;
        no answer if the device gives none."""
        try:
            return self.client.send(decode(frame).resource, frame)
        except (Refused, RemoteError):
            return []

    def close(self) -> None:
        self.client.close()


class House:
    """The gateway, its small devices linked to it (in process unless ``devices`` are
    given: {name: a device with ``receive`` and ``issuing_key``}), and the enrolments."""

    def __init__(self, arch: str | None = None, policy: str | None = None, devices=None,
                 mode: str | None = None):
        self.gateway = Gateway(arch=arch, policy=policy, mode=mode)
        self.devices = devices or {name: SmallDevice(path, arch, policy, mode)
                                   for name, path in DEVICES.items()}
        self.inside = all(device.inside for device in self.devices.values())
        for name, device in self.devices.items():
            self.gateway.runtime.links.attach(name, device.receive)
        # the sensor's key: its issuing copy to provider A's server, in the cloud
        self.gateway.add_server("sensor-server", self.devices["sensor"].issuing_key())
        # the lamp's: to provider B, which installs it in its token service on the gateway
        self.lamp_key = self.devices["lamp"].issuing_key()

    def submit(self, domain: str, command: Command) -> Response | None:
        """A command to the gateway's ``domain`` (whatever device it names): its answer."""
        wanted = command.id
        return next((r for r in self.gateway.submit(domain, command) if r.id == wanted), None)

    def token_from_service(self, command: Command) -> Response | None:
        """Provider B's server, authenticated by its own token, has its token service on
        the gateway sign a token for ``command`` (one for its lamp)."""
        gw = self.gateway
        asked = binding.command_map(command.domain, command.device, command.code, command.path,
                                    command.value)
        return self.submit("provider-b", gw.command(
            "provider-b", "execute", TOKEN, asked,
            token=gw.token("provider-b", "provider-b", f"{TOKEN}:x")))


def house_session(house: House) -> list[tuple[Step, bool, str]]:
    """The house's scripted session: (what happened, whether it was expected, its reason).
    With devices on the network (``house.inside`` false) the steps that need a device's
    inside are left out: its registers, its compromised network port."""
    gw, out = house.gateway, []
    sensor, lamp = house.devices["sensor"], house.devices["lamp"]
    t = gw.token

    def record(who, what, got: Response | None, accept: bool, reason: str):
        if got is None:
            step = Step(who, what, False, "no_response")
        else:
            shown = f" = {got.value!r}" if got.accepted and got.value is not None else ""
            step = Step(who, what + shown, got.accepted, got.reason,
                        "" if got.accepted else str(got.value or ""))
        out.append((step, step.accepted == accept and step.reason == reason, reason))

    def observe(device_of, register: str, offset: int, expected: int):
        if not house.inside:
            return
        device = device_of()
        got = device.get(offset)
        out.append((Step(device.name, f"register {register} = {got}", got == expected,
                         "hardware"), got == expected, "hardware"))

    def to_lamp(on: int, accept=True, reason="changed", what=None) -> Command:
        """Provider B's server: a token from its token service, then the command with it."""
        command = gw.command("provider-b", "write", LAMP, on, device="lamp")
        issued = house.token_from_service(command)
        record("provider-b server", f"has its token service sign a token for lamp on={on}",
               dataclasses.replace(issued, value=f"{len(issued.value)} bytes")
               if issued and issued.accepted else issued, True, "content")
        command = dataclasses.replace(command, token=issued.value if issued else b"")
        record("provider-b server", what or f"switches the lamp {'on' if on else 'off'} "
               "(forwarded by domain provider-b)", house.submit("provider-b", command), accept,
               reason)
        return command

    if house.inside:
        sensor.image.devices["temperature"].set(0, 1875)
    record("provider-a server (cloud)", "reads the sensor's temperature (forwarded by domain "
           "provider-a, the cloud's token checked by the sensor)", house.submit(
               "provider-a", gw.command("provider-a", "read", TEMPERATURE, device="sensor",
                                        token=t("sensor-server", "provider-a",
                                                f"{TEMPERATURE}:r"))), True, "content")
    record("provider-a server (cloud)", "sets the sensor's sampling period to 1000 ms",
           house.submit("provider-a", gw.command(
               "provider-a", "write", PERIOD, 1000, device="sensor",
               token=t("sensor-server", "provider-a", f"{PERIOD}:w"))), True, "changed")
    observe(lambda: sensor.image.devices["temperature"], "period", 4, 1000)
    record("provider-b server", "installs the lamp's key in its token service on the gateway",
           house.submit("provider-b", gw.command(
               "provider-b", "write", DEVICE_KEY, {"device": "lamp", "key": house.lamp_key},
               token=t("provider-b", "provider-b", f"{DEVICE_KEY}:w"))), True, "changed")
    to_lamp(1)
    observe(lambda: lamp.image.devices["lamp"], "on", 0, 1)
    # refusals, and containment
    on = gw.command("provider-b", "write", LAMP, 1, device="lamp")
    record("provider-b server", "has its token service sign a token for the sensor "
           "(provider A's)", house.token_from_service(dataclasses.replace(
               on, device="sensor", path=gateway.path(TEMPERATURE), code="read", value=None)),
           False, "unauthorised")
    record("provider-b server", "sends the lamp a token it signed itself, not its service",
           house.submit("provider-b", dataclasses.replace(on, token=gw.sign(
               t("provider-b", "provider-b", f"{LAMP}:w"), on))), False, "unknown_key")
    captured = to_lamp(0)
    record("attacker", "sends that captured lamp command with its value changed to 1",
           house.submit("provider-b", dataclasses.replace(
               gw.command("provider-b", "write", LAMP, 1, device="lamp"),
               token=captured.token)), False, "command_mismatch")
    observe(lambda: lamp.image.devices["lamp"], "on", 0, 0)
    record("provider-a server (cloud)", "sends a command for provider B's lamp to domain "
           "provider-a", house.submit("provider-a", gw.command(
               "provider-a", "write", LAMP, 1, device="lamp",
               token=t("sensor-server", "provider-a", f"{LAMP}:w"))), False, "wrong_device")
    out += compromised_domain(house)
    record("owner server", "starts domain provider-a again", house.submit("owner", gw.command(
        "owner", "write", START, "provider-a", token=t("owner", "owner", f"{START}:w"))),
        True, "changed")
    if house.inside:
        out += compromised_port(house)
        record("provider-a server (cloud)", "reads the sensor's temperature after that",
               house.submit("provider-a", gw.command(
                   "provider-a", "read", TEMPERATURE, device="sensor",
                   token=t("sensor-server", "provider-a", f"{TEMPERATURE}:r"))), False,
               "stopped")
    record("provider-a server", "reads its app setting on the gateway", house.submit(
        "provider-a", gw.command("provider-a", "read", APP_CONFIG,
                                 token=t("provider-a", "provider-a", f"{APP_CONFIG}:r"))),
        True, "content")
    to_lamp(1, what="switches the lamp on (another device: unaffected)")
    observe(lambda: lamp.image.devices["lamp"], "on", 0, 1)
    return out


def compromised_domain(house: House) -> list[tuple[Step, bool, str]]:
    """Provider A's domain on the gateway is compromised and asks the host to forward a
    command (with a token its server could sign) to provider B's lamp: the runtime refuses
    (the image links the lamp to provider-b only) and contains the domain."""
    gw, rt = house.gateway, house.gateway.runtime
    command = gw.command("provider-b", "write", LAMP, 1, device="lamp",
                         token=gw.token("sensor-server", "provider-b", f"{LAMP}:w"))
    failure = rt.run_as("provider-a", lambda c: c.host.forward("lamp", command.encode()))
    rt.run()
    refused = isinstance(failure, PermissionError) and not rt.running("provider-a")
    return [(Step("provider-a (compromised)", "asks the host to forward a command to provider "
                  "B's lamp", False, "not_linked" if refused else "forwarded",
                  str(failure or "")), refused, "not_linked")]


def compromised_port(house: House) -> list[tuple[Step, bool, str]]:
    """The sensor's network port is compromised and reads the application's key vault
    page: a memory fault, contained to the sensor (its one domain stops)."""
    sensor = house.devices["sensor"]
    rt = sensor.runtime
    vault_va = rt.components["root"].vault_storage.store.va
    fault = rt.run_as("net", lambda c: c.api.read(vault_va, 16))
    contained = isinstance(fault, MemoryFault) and not rt.running("net")
    return [(Step("sensor net (compromised)", f"reads the application's key vault page "
                  f"(VA {vault_va:#x})", False, "memory_fault", rt.faults[-1] if rt.faults
                  else ""), contained, "memory_fault")]


def run_default(out=None, arch: str | None = None, policy: str | None = None,
                mode: str | None = None) -> int:
    """The gateway's transcript (``gateway.run_default``), then the house's; 0 if all went
    as expected."""
    out = out or sys.stdout
    status = gateway.run_default(out, arch, policy, mode)
    house = House(arch, policy, mode=mode)
    print("\nthe house (paper §VII): gateway + "
          + ", ".join(f"{d.name} ({len(d.image.partitions)} partitions, domain {d.domain})"
                      for d in house.devices.values())
          + "; links: " + ", ".join(f"{link.domain} -> {link.device}"
                                    for link in house.gateway.image.manifest.links), file=out)
    ok = gateway.transcript(house_session(house), out)
    images = [house.gateway.image] + [d.image for d in house.devices.values()]
    broken = {image.manifest.name: problems for image in images
              if (problems := image.check_invariants() + image.kernel.check_extra_properties())}
    print(f"kernel invariants and properties after the house's session (gateway, "
          f"{', '.join(house.devices)}): {broken or 'all hold'}", file=out)
    return status or (0 if ok and not broken else 1)


def run_network(out, devices: dict[str, RemoteDevice]) -> int:
    """The house's session with its devices on the network; 0 if all went as expected."""
    try:
        house = House(devices=devices)
        print("the house (paper §VII) over the network: in-process gateway, "
              + ", ".join(f"{d.name} at {d.uri} (domain {d.domain})" for d in devices.values()),
              file=out)
        return 0 if gateway.transcript(house_session(house), out) else 1
    finally:
        for device in devices.values():
            device.close()


def register(subparsers) -> None:
    from pipsim.kernel.coaps import psk_arg
    parser = subparsers.add_parser(
        "house", help="the paper's house (§VII): the gateway and its small devices",
        description="The gateway forwarding commands with their tokens to its small devices "
        "(docs/house.md): in process, or with each device a running pipsim serve "
        "(domains/lamp.toml, domains/sensor.toml; give both with --psk).")
    for name in DEVICES:
        parser.add_argument(f"--{name}", nargs=2, metavar=("URI", "KEYS"),
                            help=f"the {name}'s coaps://HOST:PORT and the folder its pipsim "
                            "serve --export-keys wrote")
    parser.add_argument("--psk", type=psk_arg, help="IDENTITY:KEY of the gateway's client")
    parser.set_defaults(func=_main)


def _main(args) -> int:
    given = {name: getattr(args, name) for name in DEVICES if getattr(args, name)}
    if not given:
        if args.psk:
            raise ValueError("--psk is for devices on the network (--lamp, --sensor)")
        house = House()
        return 0 if gateway.transcript(house_session(house), sys.stdout) else 1
    if set(given) != set(DEVICES) or not args.psk:
        raise ValueError(f"on the network: give {', '.join('--' + n for n in DEVICES)} "
                         "and --psk")
    return run_network(sys.stdout, {name: RemoteDevice(name, uri, args.psk, Path(keys))
                                    for name, (uri, keys) in given.items()})


if __name__ == "__main__":
    sys.exit(run_default())
