"""The default device image, domains/gateway.toml: the paper's smart-home gateway, and a
scripted management session printing who did what and whether it was accepted.

    from pipsim.domains.gateway import Gateway, run_default
    run_default(sys.stdout)          # 0 when every expectation held
"""
from __future__ import annotations

import abc
import dataclasses
import os
import sys
from dataclasses import dataclass, field

from pipsim import partitions
from pipsim.ipc import Reason
from pipsim.kernel import MemoryFault, elf
from pipsim.kernel.sdk.layout import build_dir
from pipsim.tokens import Issuer, KeyVault
from pipsim.tokens.keys import HMAC_256_64, ISSUE
from pipsim.tokens.scope import OPERATIONS
from pipsim.trust import ReferenceValues, Verifier, measured
from pipsim.trust.image import signature_path

from . import update
from .commands import Command, Response
from .runtime import Runtime

IMAGE = os.path.join(os.path.dirname(__file__), "gateway.toml")   # package data
TEMPERATURE, PERIOD, LAMP, PACKAGE_URL, APP_CONFIG = (
    "3303/0/5700", "3303/0/5900", "3311/0/5850", "5/0/1", "32769/0/1")
PACKAGE, UPDATE, UPDATE_STATE, PKG_VERSION = "5/0/0", "5/0/2", "5/0/3", "5/0/7"   # object 5
DRIVER_VERSION = "26264/0/0"           # the temperature driver's version register (v2 on)
CREATE, DELETE, START, LIST, RESTART = ("26261/0/7", "26261/0/8", "26261/0/9", "26261/0/11",
                                        "26261/0/12")


def path(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("/"))


@dataclass(frozen=True)
class Grant:
    """What a domain's server agrees to: a token for ``audience`` granting ``scope``, signed
    once the command it is for is known (``Gateway.command`` binds it: pipsim.tokens.binding)."""

    server: str
    audience: str
    scope: str
    options: dict = field(default_factory=dict)     # Issuer.issue's: lifetime, now, ...


class Servers(abc.ABC):
    """The domains' off-device servers, each with its key: they grant tokens and sign them
    over the commands they send to the device ``device`` (``submit``: a subclass's)."""

    inside = False            # whether the device's inside (hardware, partitions) is at hand
    sensor = lamp = None      # the hardware's side of its devices, when it is
    arch = "arm"              # the device's machine: what its firmware updates are built for

    def __init__(self, device: str, keys: dict[str, bytes]):
        """``keys``: {domain: its server's COSE_Key (with its secret)}."""
        self.device, self.issuers, self._next_id = device, {}, 0
        for domain, key in keys.items():
            self.add_server(domain, key)

    def add_server(self, name: str, key: bytes) -> None:
        """A server ``name`` issuing with ``key`` (a COSE_Key with its secret, as a device's
        enrolment exported it), its issuer named after the key."""
        vault = KeyVault()
        kid = vault.add_cose_key(key, uses={ISSUE}).kid
        self.issuers[name] = Issuer(vault, kid, kid.decode())

    def new_server(self, domain: str) -> bytes:
        """A server for a domain the owner will create: its key, generated off the device;
        the COSE_Key (with its secret) the create command carries to the device."""
        vault = KeyVault()
        vault.generate(f"{domain}-server", HMAC_256_64)
        self.issuers[domain] = Issuer(vault, f"{domain}-server", f"{domain}-server")
        return vault.export(f"{domain}-server", private=True)

    def token(self, server: str, audience: str, scope: str, **kw) -> Grant:
        """``server``'s grant of a token (issued for a command by ``command``)."""
        return Grant(server, audience, scope, kw)

    def sign(self, grant: Grant, command: Command, domain: str | None = None) -> bytes:
        """The token ``grant`` describes, bound to ``command`` as ``domain`` receives it."""
        return self.issuers[grant.server].issue(audience=grant.audience, scope=grant.scope,
                                                command=command.digest(domain), **grant.options)

    def command(self, domain: str, code: str, resource: str, value=None,
                token: Grant | bytes = b"", token_b: Grant | bytes | None = None,
                device: str | None = None) -> Command:
        """A command for this device (or ``device``); a ``Grant`` becomes a token bound to it
        (token B: to the command as its grant's audience, the owner domain, receives it),
        bytes are sent as they are (a captured or forged token)."""
        self._next_id += 1
        command = Command(self._next_id, domain, device or self.device, code, path(resource),
                          value)
        if isinstance(token, Grant):
            token = self.sign(token, command)
        if isinstance(token_b, Grant):
            token_b = self.sign(token_b, command, token_b.audience)
        return dataclasses.replace(command, token=token, token_b=token_b)

    def driver_package(self, image: str, tamper: bool = False) -> bytes:
        """The maintainer's package (pipsim.domains.update) of the firmware build's signed
        ``image`` for this device's arch; ``tamper``: one byte of its code flipped."""
        elf_file = build_dir() / self.arch / f"{image}.elf"     # gateway.toml's {firmware}
        code = bytearray(elf_file.read_bytes())
        if tamper:
            code[elf.read(bytes(code)).segments[0].offset] ^= 1
        return update.package(bytes(code), signature_path(elf_file).read_bytes())

    @abc.abstractmethod
    def submit(self, target: str, command: Command | bytes) -> list[Response]:
        """Send a command (or raw bytes) to ``target``'s domain; its answers."""


class Gateway(Servers):
    """The booted image, its runtime, and each domain's (off-device) server with its key."""

    inside = True

    def __init__(self, manifest: str | partitions.Manifest = IMAGE, arch: str | None = None,
                 policy: str | None = None, mode: str | None = None):
        """manifest: a path or a loaded Manifest; arch: "arm" (the manifest's) or "x86";
        policy: the kernel's, mode: the machine's (default: the manifest's)."""
        if not isinstance(manifest, partitions.Manifest):
            manifest = partitions.load(manifest, arch, policy, mode)
        self.image = partitions.boot(manifest, measured(manifest.name))
        self.arch = manifest.arch
        self.runtime = Runtime(self.image)
        self.sensor = self.image.devices["temperature"]      # the hardware's side
        self.lamp = self.image.devices["lamp"]
        # enrolment: each server gets its key's issuing copy
        super().__init__(manifest.name, {
            self.runtime.lifecycle.domain_of[key.holder]: self.runtime.enrol(key.holder, key.kid)
            for key in self.image.keys})

    def submit(self, target: str, command: Command | bytes) -> list[Response]:
        """Send a command (or raw bytes) to ``target``'s manager, run until idle, responses."""
        frame = command.encode() if isinstance(command, Command) else command
        refused = self.runtime.submit(target, frame)
        self.runtime.run()
        return [refused] if refused else self.runtime.collect()


@dataclass
class Step:
    who: str
    what: str
    accepted: bool
    reason: str
    detail: str = ""


def session(gw: Servers) -> list[tuple[Step, bool, str]]:
    """The scripted session: (what happened, whether it was expected, expected reason).
    Played from outside the device (``gw.inside`` false: over the network), the steps that
    need its inside are left out: the hardware's registers, the compromised partition, the
    faulty driver and its restart."""
    out = []

    def cmd(who, target, c, accept, reason, what):
        responses = gw.submit(target, c)
        wanted = (c.id if isinstance(c, Command) else None, None)
        got = next((r for r in responses if r.id in wanted), None)
        if got is None:
            step = Step(who, what, False, "no_response")
        else:
            shown = f" = {got.value!r}" if got.accepted and got.value is not None else ""
            step = Step(who, what + shown,
                        got.accepted, got.reason, "" if got.accepted else str(got.value or ""))
        out.append((step, step.accepted == accept and step.reason == reason, reason))

    def observe(device, register: str, offset: int, expected: int):
        if not gw.inside:
            return
        got = device.get(offset)
        out.append((Step(device.name, f"register {register} = {got}", got == expected, "hardware"),
                    got == expected, "hardware"))

    def switch_lamp(on: int, what: str) -> Command:
        sent = gw.command("provider-a", "write", LAMP, on,
                          token=t("provider-a", "provider-a", f"{LAMP}:w"))
        cmd("provider-a server", "provider-a", sent, True, "changed", what)
        observe(gw.lamp, "on", 0, on)
        return sent

    if gw.inside:
        gw.sensor.set(0, 2150)
    t = gw.token
    first_read = gw.command("provider-a", "read", TEMPERATURE,
                            token=t("provider-a", "provider-a", f"{TEMPERATURE}:r {LAMP}:rw"))
    a_read = first_read.token
    cmd("provider-a server", "provider-a", first_read,
        True, "content", "reads the temperature (virtual sensor)")
    switch_lamp(1, "switches the lamp on (virtual actuator)")
    cmd("maintainer server", "maintainer",
        gw.command("maintainer", "write", PACKAGE_URL, "https://maintainer.example/sensor-1.1.bin",
                   token=t("maintainer", "maintainer", f"{PACKAGE_URL}:w")),
        True, "changed", "sets its package URL (domain resource, Fig. 8)")
    cmd("maintainer server", "maintainer",
        gw.command("maintainer", "write", PERIOD, 500,
                   token=t("maintainer", "maintainer", f"{PERIOD}:w"),
                   token_b=t("owner", "owner", f"{PERIOD}:w")),
        True, "changed", "sets the sensor driver's sampling period to 500 ms with tokens A and B (Fig. 9)")
    observe(gw.sensor, "period", 4, 500)
    driver_update(gw, cmd)
    created_domain(gw, cmd)
    # refusals
    cmd("attacker", "provider-a", gw.command("provider-a", "read", TEMPERATURE,
                                             token=a_read[:-1] + bytes([a_read[-1] ^ 1])),
        False, "bad_signature", "reads the temperature with a forged token")
    cmd("provider-a server", "provider-a", gw.command(
        "provider-a", "read", TEMPERATURE, token=t("provider-a", "provider-a", f"{TEMPERATURE}:r",
                                                   now=1_000_000, lifetime=60)),
        False, "expired", "reads the temperature with an expired token")
    cmd("attacker", "provider-a", gw.command("provider-a", "read", TEMPERATURE, token=a_read),
        False, "replayed", "replays provider A's earlier token")
    cmd("attacker", "provider-a", gw.command("provider-a", "read", TEMPERATURE, token=a_read,
                                             device="gateway-2"),
        False, "wrong_device", "sends provider A's command to another device")
    cmd("provider-a server", "provider-a", gw.command(
        "provider-a", "read", TEMPERATURE, token=t("provider-a", "provider-b", f"{TEMPERATURE}:r")),
        False, "wrong_audience", "sends provider A a token made out to provider B")
    cmd("provider-a server", "provider-a", gw.command(
        "provider-a", "write", LAMP, 0, token=t("provider-a", "provider-a", f"{TEMPERATURE}:r")),
        False, "out_of_scope", "switches the lamp with a read-only temperature token")
    cmd("provider-a server", "provider-b", gw.command(
        "provider-b", "write", APP_CONFIG, "pwned", token=t("provider-a", "provider-b", f"{APP_CONFIG}:w")),
        False, "unknown_key", "writes provider B's app configuration")
    cmd("maintainer server", "maintainer", gw.command(
        "maintainer", "write", PERIOD, 1, token=t("maintainer", "maintainer", f"{PERIOD}:w")),
        False, "missing_token_b", "sets the sampling period without the owner's token B")
    cmd("maintainer server", "maintainer", gw.command(
        "maintainer", "write", PERIOD, 1, token=t("maintainer", "maintainer", f"{PERIOD}:w"),
        token_b=t("maintainer", "owner", f"{PERIOD}:w")),
        False, "unknown_key", "sets the sampling period with a token B it made itself")
    cmd("network", "provider-a", b"\xa1\x62id\xff", False, "malformed", "sends a malformed CBOR frame")
    if gw.inside:
        out += compromised(gw)
        out += faulty_driver(gw)
        cmd("owner server", "owner", gw.command("owner", "execute", RESTART, "lamp-driver",
                                                token=t("owner", "owner", f"{RESTART}:x")),
            True, "changed", "restarts the lamp driver (its manager spawns its image afresh)")
    off = switch_lamp(0, "switches the lamp off")
    cmd("attacker", "provider-a", gw.command("provider-a", "write", LAMP, 1, token=off.token),
        False, "command_mismatch", "sends that captured command with its value changed to 1")
    observe(gw.lamp, "on", 0, 0)
    return out


def driver_update(gw: Servers, cmd) -> None:
    """Fig. 9: the maintainer updates the temperature driver (object 5, token A from its
    server and the owner's token B on each command; docs/trust.md "Updating a driver"): the
    signed version 2 is installed and runs; a tampered package and a downgrade to version 1
    are refused at Update, with nothing changed."""
    def maintainer(code: str, resource: str, value=None) -> Command:
        scope = f"{resource}:{OPERATIONS[code]}"
        return gw.command("maintainer", code, resource, value,
                          token=gw.token("maintainer", "maintainer", scope),
                          token_b=gw.token("owner", "owner", scope))

    def push(data: bytes, what: str) -> None:
        """Every block of a package; the step is the last one's (or a refused one's)."""
        *first, last = update.blocks(data)
        for block in first:
            sent = maintainer("write", PACKAGE, block)
            answers = [r for r in gw.submit("maintainer", sent) if r.id == sent.id]
            if not (answers and answers[0].accepted):
                break
        else:
            sent = maintainer("write", PACKAGE, last)
        cmd("maintainer server", "maintainer", sent, True, "changed",
            f"{what}: {len(data)} bytes in {len(first) + 1} Package blocks of {update.BLOCK}")

    def install(accept: bool, reason: str, what: str) -> None:
        cmd("maintainer server", "maintainer", maintainer("execute", UPDATE), accept, reason,
            f"executes Update: {what}")

    push(gw.driver_package("temp_driver_v2"), "sends the signed temperature driver v2")
    install(True, "changed", "the owner verifies it, replaces temp-driver, which starts")
    cmd("owner server", "owner", gw.command("owner", "read", DRIVER_VERSION,
                                            token=gw.token("owner", "owner", f"{DRIVER_VERSION}:r")),
        True, "content", "reads the driver's version register (version 1 has none)")
    cmd("provider-a server", "provider-a", gw.command(
        "provider-a", "read", TEMPERATURE, token=gw.token("provider-a", "provider-a",
                                                          f"{TEMPERATURE}:r")),
        True, "content", "reads the temperature through the new driver (same endpoint)")
    push(gw.driver_package("temp_driver_v2", tamper=True),
         "sends driver v2 with one byte of its code flipped")
    install(False, "digest_mismatch", "refused, v2 keeps running")
    push(gw.driver_package("temp_driver"), "sends the signed driver v1 (a downgrade)")
    install(False, "rollback", "refused (rollback protection)")
    cmd("maintainer server", "maintainer", maintainer("read", PKG_VERSION), True, "content",
        "reads PkgVersion (5/0/7)")


def created_domain(gw: Gateway, cmd) -> None:
    """Object 26261 as D3.3's opmux: the owner creates a domain for a new provider (its
    partition, manager and server key), starts it, the provider uses it, the owner deletes it."""
    key = gw.new_server("provider-c")

    def owner(code, resource, value, accept, reason, what):
        token = gw.token("owner", "owner", f"{resource}:{code[0]}")
        cmd("owner server", "owner", gw.command("owner", code, resource, value, token=token),
            accept, reason, what)

    def provider(code, value, accept, reason, what):
        token = gw.token("provider-c", "provider-c", f"{APP_CONFIG}:{code[0]}")
        cmd("provider-c server", "provider-c", gw.command("provider-c", code, APP_CONFIG, value,
                                                          token=token), accept, reason, what)

    owner("write", CREATE, {"name": "provider-c", "pages": 48, "key": key,
                            "code": {"image": "store", "resource": APP_CONFIG}}, True, "created",
          "creates domain provider-c: a partition running its manager with its server's key, "
          "and a child running its firmware application (opmux CODE)")
    provider("write", 7, False, "stopped", "writes its app setting before it starts")
    owner("write", START, "provider-c", True, "changed", "starts domain provider-c")
    provider("write", 7, True, "changed", "writes its app setting (kept by its firmware)")
    provider("read", None, True, "content", "reads it back")
    owner("read", LIST, None, True, "content", "lists the domains")
    owner("write", DELETE, "provider-c", True, "deleted",
          "deletes domain provider-c (deletePartition: its subtree's pages come back)")
    provider("read", None, False, "no_such_domain", "reads its app setting after that")


def compromised(gw: Gateway) -> list[tuple[Step, bool, str]]:
    """Provider B's partition is compromised and attacks its sibling, provider A."""
    rt, out = gw.runtime, []
    rt.run_as("provider-b", lambda c: c.mailbox.send("provider-a", {"t": "rep", "rid": 1,
                                                                     "status": 205}))
    rt.relay.run_until_idle()
    refusals = rt.run_as("provider-b", lambda c: c.mailbox.refusals())
    refused = [r.reason for r in refusals] == [Reason.UNAUTHORISED]
    out.append((Step("provider-b (compromised)", "sends a message to provider-a on no channel",
                     not refused, "ipc_unauthorised" if refused else "delivered"), refused,
                "ipc_unauthorised"))
    victim = gw.image.partitions["provider-a"]
    vault_va = rt.components["provider-a"].vault_storage.store.va
    pa = gw.image.kernel.mappings(victim.partition)[vault_va].pa
    root_va = next(va for va, m in gw.image.kernel.mappings(gw.image.kernel.root).items() if m.pa == pa)
    fault = rt.run_as("provider-b", lambda c: c.api.read(root_va, 16))
    contained = isinstance(fault, MemoryFault) and not rt.running("provider-b")
    out.append((Step("provider-b (compromised)", f"reads provider-a's key vault page (VA {root_va:#x})",
                     False, "memory_fault", rt.faults[-1] if rt.faults else ""), contained, "memory_fault"))
    return out


def faulty_driver(gw: Gateway) -> list[tuple[Step, bool, str]]:
    """The lamp driver loses its device page (its manager revokes it, as after a hardware
    fault): its next register access faults, on the CPU, into its manager."""
    manager, driver = gw.image.partitions["actuator-manager"], gw.image.partitions["lamp-driver"]
    manager.api.remove_vaddr(driver.desc, driver.devices["lamp"])
    token = gw.token("provider-a", "provider-a", f"{LAMP}:w")
    [response] = gw.submit("provider-a", gw.command("provider-a", "write", LAMP, 0, token=token))
    report = next((f for f in gw.runtime.faults if f.startswith("lamp-driver:")), "")
    contained = (response.reason == "failed" and gw.runtime.firmware["lamp-driver"].halted
                 is not None and "reported to actuator-manager" in report)
    return [(Step("lamp-driver (firmware)", "touches its revoked device page (provider A's "
                  "lamp command fails)", False,
                  "driver_fault" if contained else response.reason, report), contained,
             "driver_fault")]


def transcript(steps, out) -> bool:
    """Print the session's steps, one a line; whether every one went as expected."""
    ok = True
    for step, expected, reason in steps:
        verdict = ("observed" if step.reason == "hardware" else
                   "accepted" if step.accepted else f"refused ({step.reason})")
        mark = "ok " if expected else "UNEXPECTED"
        print(f"{mark} {step.who:<26} {step.what}: {verdict}"
              + (f" - {step.detail}" if step.detail else ""), file=out)
        ok &= expected
    return ok


def run_default(out=None, arch: str | None = None, policy: str | None = None,
                mode: str | None = None) -> int:
    """Boot the gateway, run the session, print the transcript; 0 if all went as expected."""
    out = out or sys.stdout
    gw = Gateway(arch=arch, policy=policy, mode=mode)
    image = gw.image
    print(f"device image {image.manifest.name} on {image.manifest.arch} ({image.manifest.mode} "
          f"mode), kernel policy {image.manifest.policy}: "
          f"{len(image.partitions)} partitions, domains {', '.join(sorted(gw.runtime.managers))}; "
          f"firmware: {', '.join(gw.runtime.firmware)}", file=out)
    root = image.measurements.root                 # its key enrolled at manufacture
    verifier = Verifier(root.kind, root.public_key())
    nonce = verifier.challenge()                   # reference values: this known-good boot
    verifier.reference = verifier.verify(gw.runtime.attest(nonce), nonce).values
    ok = transcript(session(gw), out)
    nonce = verifier.challenge()
    appraisal = verifier.verify(gw.runtime.attest(nonce), nonce)
    updated = updated_reference(verifier.reference, gw.runtime.lifecycle.installed)
    unexplained = updated.differences(appraisal.values)
    print(f"attestation (docs/attestation.md): a fresh nonce, the quote verified ({root.kind} "
          f"root of trust, {len(image.measurements.events)} events replayed); since boot: "
          f"{'; '.join(appraisal.differences) or 'no partition changed'}; against the boot's "
          "reference values with each update's code (the SHA-256 of the package verified): "
          f"{'; '.join(unexplained) or 'no partition differs'}", file=out)
    stats = image.machine.partition_stats()
    for name, firmware in gw.runtime.firmware.items():
        s = stats.get(firmware.pd, {})
        ran = (f"{s.get('instructions', 0)} instructions" if image.manifest.mode == "exact"
               else f"{s.get('host_ns', 0) / 1e6:.1f} ms")
        print(f"{name} (firmware): {firmware.turns} turns, "
              f"{ran}, {s.get('syscalls', 0)} system calls"
              + (f", halted: {firmware.halted}" if firmware.halted else ""), file=out)
    invariants, extra = image.check_invariants(), image.kernel.check_extra_properties()
    print(f"kernel invariants after the session: {invariants or 'all hold'}", file=out)
    print(f"properties beyond Pip's (docs/kernel.md §10): {extra or 'all hold'}", file=out)
    return 0 if ok and not unexplained and not invariants and not extra else 1


def updated_reference(reference: ReferenceValues, installed: dict) -> ReferenceValues:
    """The reference values a verifier expects once the updates ``installed`` (partition ->
    ``pipsim.domains.lifecycle.Installed``) are: their code is the package's, the rest as at boot."""
    return dataclasses.replace(reference, partitions={
        name: (dataclasses.replace(known, code=installed[name].code) if name in installed
               else known) for name, known in reference.partitions.items()})


if __name__ == "__main__":
    sys.exit(run_default())
