"""Load with faults injected (on arm and x86): components that raise, fault on memory or loop,
drivers that fault or run away, a created domain's firmware application that faults, and
mailboxes the relay faults on (a domain's, its application's), at random points of a stream of
commands from every domain, while the owner restarts what stopped.  Each fault is contained
to its domain and reported, the rest keeps serving, and every command is answered exactly
once.  The default profile sends 800 commands per architecture; HYPOTHESIS_PROFILE=deep
(make test-deep) 20,000."""
import os
import random
from collections import Counter
from unittest import mock

import pytest
from hostile import arm, faults, loops, raises
from lending import lend_mailbox

from pipsim.domains import firmware
from pipsim.domains.gateway import (APP_CONFIG, CREATE, DELETE, LAMP, LIST, PACKAGE_URL, PERIOD, RESTART,
                             START, TEMPERATURE, Gateway)
from pipsim.tokens.scope import OPERATIONS

COMMANDS = 20_000 if os.environ.get("HYPOTHESIS_PROFILE") == "deep" else 800
DYN = "dyn"                                 # the domain the owner creates (and recreates)
FAULTS = ("raise", "memory", "loop", "driver", "runaway", "app", "mailbox", "app-mailbox")


class Load:
    def __init__(self, arch: str, seed: int):
        self.gw = gw = Gateway(arch=arch)
        self.rt, self.rng = gw.runtime, random.Random(seed)
        self.rt.budget = 5_000                # a looping component is cut quickly
        gw.sensor.set(0, 2150)
        self.sent, self.answers = {}, Counter()
        self.fired, self.injected = [], Counter()
        self.doomed = set()          # firmware given a fault that has not halted it yet
        self.submit("owner", "write", CREATE, self.dyn_value())
        self.submit("owner", "write", START, DYN)
        self.settle()

    def dyn_value(self) -> dict:
        return {"name": DYN, "pages": 48, "key": self.gw.new_server(DYN),
                "code": {"image": "store", "resource": APP_CONFIG}}

    def submit(self, who, code, resource, value=None):
        """Send one command; the refusal if the runtime refused it at once."""
        gw = self.gw
        token = gw.token(who, who, f"{resource}:{OPERATIONS[code]}")
        token_b = gw.token("owner", "owner", f"{resource}:w") if resource == PERIOD else None
        command = gw.command(who, code, resource, value, token=token, token_b=token_b)
        self.sent[command.id] = who
        refused = self.rt.submit(who, command.encode())
        if refused is not None:
            self.answers[refused.id] += 1
        return refused

    def traffic(self):
        who, rng = self.rng.choice(["provider-a", "provider-b", "maintainer", DYN]), self.rng
        if who == "provider-a":
            self.submit(who, *rng.choice([("read", TEMPERATURE), ("write", LAMP, 1),
                                          ("write", APP_CONFIG, "x")]))
        elif who == "provider-b":
            self.submit(who, *rng.choice([("read", TEMPERATURE), ("write", APP_CONFIG, "y")]))
        elif who == "maintainer":
            self.submit(who, *rng.choice([("write", PACKAGE_URL, "u"), ("write", PERIOD, 100)]))
        else:
            self.submit(who, *rng.choice([("read", APP_CONFIG), ("write", APP_CONFIG, 7)]))

    def inject(self, kind: str) -> bool:
        """Arm or cause one fault of that kind; whether there was something to do it to."""
        rt, rng = self.rt, self.rng
        if kind in ("raise", "memory", "loop"):
            target = rt.components[rng.choice(["provider-a", "provider-b", "maintainer", DYN])]
            method = rng.choice(["on_message", "receive_frame"])
            if method in target.__dict__:                 # armed already
                return False
            arm(target, method, {"raise": raises, "memory": faults, "loop": loops}[kind],
                self.fired)
        elif kind in ("driver", "runaway"):
            name, device = rng.choice([("temp-driver", "temperature"), ("lamp-driver", "lamp")])
            if name in self.doomed or rt.firmware[name].halted:
                return False
            self.doomed.add(name)
            if kind == "driver":                          # its manager revokes its device
                manager, driver = (self.gw.image.partitions[n]
                                   for n in (rt.lifecycle.parent_of[name], name))
                assert manager.api.remove_vaddr(driver.desc, driver.devices[device])
                self.fired.append(name)
            else:
                self.run_away(rt.firmware[name])
        elif kind == "app":                               # its manager revokes a page of it
            app = rt.topology.node(f"{DYN}-app").partition
            if f"{DYN}-app" in self.doomed or rt.firmware[f"{DYN}-app"].halted:
                return False
            self.doomed.add(f"{DYN}-app")
            manager = rt.kernel.as_partition(rt.topology.node(DYN).partition)
            desc = next(va for va, m in rt.kernel.mappings(manager.partition).items()
                        if m.pa == app.pd * 4096)
            page = next(va for va, m in rt.kernel.mappings(app).items() if m.w)
            assert manager.remove_vaddr(desc, page)
            self.fired.append(f"{DYN}-app")
        else:                       # (not while the application waits for its fault)
            name = DYN if kind == "mailbox" else f"{DYN}-app"
            if rt.topology.node(name).broken or f"{DYN}-app" in self.doomed:
                return False
            lend_mailbox(rt.topology, name)
            self.fired.append(name)
        self.injected[kind] += 1
        return True

    def run_away(self, driver):
        """The driver's next turn with work runs past its instruction budget (as a driver that
        spins does), cut at 300 instructions."""
        real = driver.turn

        def turn():
            if not driver.due():
                return None
            del driver.turn
            self.fired.append(driver.name)
            with mock.patch.object(firmware, "BUDGET", 300):
                return real()

        driver.turn = turn

    def repair(self) -> list:
        """The owner restarts what stopped: image drivers, stopped domains; a created domain
        whose application or mailbox is gone is deleted and created again."""
        rt = self.rt
        self.doomed = {name for name in self.doomed if not rt.firmware[name].halted}
        if (rt.topology.node(DYN).broken or rt.topology.node(f"{DYN}-app").broken
                or rt.firmware[f"{DYN}-app"].halted):
            self.submit("owner", "write", DELETE, DYN)
            self.submit("owner", "write", CREATE, self.dyn_value())
        for name in ("temp-driver", "lamp-driver"):
            if rt.firmware[name].halted:
                self.submit("owner", "execute", RESTART, name)
        for domain in sorted(rt.stopped()):
            self.submit("owner", "write", START, domain)
        return self.settle()

    def settle(self) -> list:
        """Run until idle; the answers collected."""
        while self.rt.step():
            pass
        responses = self.rt.collect()
        self.answers.update(response.id for response in responses)
        return responses

    def run(self):
        """Batches of 1 to 24 commands; before one in three, the next fault (each kind in
        turn, in a random order each round)."""
        kinds = []
        while len(self.sent) < COMMANDS:
            for _ in range(self.rng.randint(1, 24)):
                self.traffic()
            if self.rng.random() < 1 / 3:
                kinds = kinds or self.rng.sample(FAULTS, len(FAULTS))
                self.inject(kinds.pop())
            self.settle()
            self.repair()


    def finish(self):
        """Disarm what never fired; then, twice, every driver and the application get a
        request (a page revoked from one faults now) and the owner restarts what stopped."""
        for part in [*self.rt.components.values(), *self.rt.firmware.values()]:
            for method in ("on_message", "receive_frame", "turn"):
                part.__dict__.pop(method, None)
        for _ in range(2):
            self.submit("owner", "read", TEMPERATURE)
            self.submit("owner", "write", LAMP, 0)
            self.submit(DYN, "read", APP_CONFIG)
            self.settle()
            self.repair()


@pytest.mark.parametrize("arch", ["arm", "x86"])
def test_every_command_is_answered_once_whatever_faults(arch):
    load = Load(arch, seed={"arm": 1, "x86": 2}[arch])
    load.run()
    load.finish()
    rt = load.rt
    assert load.answers == Counter(dict.fromkeys(load.sent, 1))          # exactly once each
    assert all(c.unanswered == 0 for c in rt.components.values())
    assert set(load.injected) == set(FAULTS)                             # each kind, at least once
    reports = Counter(report.split(":")[0] for report in rt.faults)
    assert all(reports[name] >= count for name, count in Counter(load.fired).items()), (
        load.fired, rt.faults)
    assert rt.kernel.check_invariants() == []
    # everything that stopped was restarted: every domain serves again
    assert not rt.stopped()
    final = [load.submit(*command) for command in [
        ("provider-a", "read", TEMPERATURE), ("provider-a", "write", LAMP, 0),
        ("provider-b", "write", APP_CONFIG, "z"), ("maintainer", "write", PERIOD, 250),
        (DYN, "write", APP_CONFIG, 9), ("owner", "read", LIST)]]
    final = [r for r in final if r is not None] + load.settle()
    assert len(final) == 6 and all(r.accepted for r in final), final
    assert load.gw.lamp.get(0) == 0 and load.gw.sensor.get(4) == 250
    assert load.answers == Counter(dict.fromkeys(load.sent, 1))
