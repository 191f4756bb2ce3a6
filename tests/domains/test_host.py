"""The host-services protocol (domains/host.py): a component does what only the host can do
through the ``HostServices`` it is given, never through the runtime; the runtime's, bound to
each component, refuses what is not the caller's; a domain's manager registers explicitly."""
import dataclasses
import functools

import pytest

from pipsim import partitions
from pipsim.domains.commands import Command
from pipsim.domains.component import Component, Context
from pipsim.domains.domain import DomainManager
from pipsim.domains.gateway import IMAGE, Gateway
from pipsim.domains.host import HostServices, Manager
from pipsim.domains.lifecycle import Lifecycle
from pipsim.domains.runtime import PartitionHost, Runtime
from pipsim.ipc import setup_topology
from pipsim.kernel import Kernel
from pipsim.kernel.wrappers import free_pages
from pipsim.tokens import Issuer, KeyVault
from pipsim.tokens.keys import HMAC_256_64
from pipsim.trust import SealError

HOST_METHODS = {"register_manager", "adopt", "check_image", "seal", "unseal", "attest",
                "forget", "restart", "update", "running", "set_running", "forward"}


class FakeHost:
    """HostServices for one component, recording what it is asked."""

    def __init__(self):
        self.calls, self.stopped, self.manager = [], set(), None

    def register_manager(self, manager):
        self.manager = manager

    def adopt(self, name, parent_api, desc, pages, component, config, app=None, keys=()):
        self.calls.append(("adopt", name, parent_api, component, app, list(keys)))
        self.stopped.add(name)

    def check_image(self, image):
        self.calls.append(("check_image", image))

    def seal(self, data):
        return None                  # as for an image booted without measurements

    def unseal(self, blob):
        raise SealError("not measured")

    def attest(self, nonce):
        raise ValueError("not measured")

    def forget(self, name):
        self.calls.append(("forget", name))

    def restart(self, name):
        self.calls.append(("restart", name))
        raise ValueError(f"{name} is not halted")

    def update(self, name, elf, signature):
        self.calls.append(("update", name))
        raise ValueError(f"{name} is not a firmware partition")

    def running(self, domain):
        return domain not in self.stopped

    def set_running(self, domain, running):
        self.calls.append(("set_running", domain, running))
        (self.stopped.discard if running else self.stopped.add)(domain)

    def forward(self, device, frame):
        self.calls.append(("forward", device, frame))


def test_the_protocol_names_the_host_only_operations():
    assert {n for n in vars(HostServices) if not n.startswith("_")} == HOST_METHODS
    assert {n for n in dir(PartitionHost) if not n.startswith("_")} == HOST_METHODS
    assert {n for n in dir(FakeHost) if not n.startswith("_")} == HOST_METHODS


@pytest.fixture
def owner():
    """An owner domain manager on a bare kernel, run by a fake host (no runtime at all)."""
    k = Kernel(pages=512)
    topo = setup_topology(k, {"root": {}})
    node, api = topo.node("root"), k.as_partition(k.root)
    mailbox = [node.outbox_va, node.outbox_va + 4096, node.inbox_va, node.inbox_va + 4096]
    free = [va for va in free_pages(api, sorted(k.mappings(k.root))) if va not in mailbox]
    server = KeyVault()
    server.generate("owner-server", HMAC_256_64)
    host = FakeHost()
    config = {"device": "gateway", "audience": "owner",
              "issuers": {"owner-server": ["owner-server"]},
              "isolation": True, "replay_pages": 8,
              "description": {"partitions": {"driver": {"parent": "root", "pages": 4}},
                              "domains": {"tenant": {"pages": 24}}}}
    manager = DomainManager(Context("root", "owner", api, free, topo.mailbox("root"), host,
                                    config=config,
                                    keys=(server.export("owner-server", private=True),)))
    issuer = Issuer(server, "owner-server", "owner-server")
    ids = iter(range(1, 1000))

    def ask(code, resource, value=None):
        letter = "x" if code == "execute" else code[0]
        command = Command(next(ids), "owner", "gateway", code,
                          tuple(map(int, resource.split("/"))), value)
        token = issuer.issue(audience="owner", scope=f"{resource}:{letter}",
                             command=command.digest())
        manager.receive_frame(dataclasses.replace(command, token=token).encode())
        (answer,) = manager.take_answers()
        return answer

    return k, host, manager, ask


def test_a_fake_host_drives_a_domain_manager(owner):
    k, host, manager, ask = owner
    assert host.manager is manager and isinstance(manager, Manager)     # it registered
    listed = ask("read", "26261/0/11").value
    assert listed == {"tenant": {"instance": 1, "pages": 24, "running": True, "created": False}}
    assert ask("write", "26261/0/10", "tenant").accepted                 # stop: the host's flag
    assert host.calls == [("set_running", "tenant", False)]
    assert ask("read", "26261/0/11").value["tenant"]["running"] is False
    restart = ask("execute", "26261/0/12", "driver")
    assert (restart.reason, restart.value) == ("not_allowed", "driver is not halted")
    assert ask("execute", "26261/0/12", "nobody").reason == "not_allowed"   # not asked
    assert host.calls[1:] == [("restart", "driver")]
    key = KeyVault()
    key.generate("new-server", HMAC_256_64)
    cose = key.export("new-server", private=True)
    children = k.children(k.root)
    created = ask("write", "26261/0/7", {"name": "new", "pages": 24, "key": cose})
    assert created.status == 201 and len(k.children(k.root)) == len(children) + 1
    (call,) = host.calls[2:]
    assert call[:2] == ("adopt", "new") and call[2] is manager.api    # its own partition's
    assert call[3] is DomainManager and call[4:] == (None, [cose])
    assert ask("read", "26261/0/11").value["new"]["running"] is False  # created stopped
    deleted = ask("write", "26261/0/8", "new")
    assert deleted.status == 202 and host.calls[-1] == ("forget", "new")
    assert k.children(k.root) == children and k.check_invariants() == []


def reachable(root):
    """Every object reachable from root through public attributes, containers, bound
    methods and partials."""
    seen, todo = {}, [root]
    while todo:
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, (str, bytes, int, float, bool, type(None))):
            continue
        seen[id(obj)] = obj
        if isinstance(obj, dict):
            todo += [*obj.keys(), *obj.values()]
        elif isinstance(obj, (list, tuple, set, frozenset)):
            todo += list(obj)
        elif isinstance(obj, functools.partial):
            todo += [obj.func, *obj.args, *obj.keywords.values()]
        elif hasattr(obj, "__self__") and hasattr(obj, "__func__"):
            todo.append(obj.__self__)
        elif type(obj).__module__.split(".")[0] in ("domains", "ipc", "tokens", "pipkernel"):
            attrs = getattr(obj, "__dict__", {})
            slots = [s for c in type(obj).__mro__ for s in getattr(c, "__slots__", ())]
            todo += [v for n, v in attrs.items() if not n.startswith("_")]
            todo += [getattr(obj, s) for s in slots if not s.startswith("_") and hasattr(obj, s)]
    return seen.values()


def test_a_component_cannot_reach_the_runtime():
    """Through what it holds, a component reaches its host services (bound to it), never the
    runtime, its lifecycle or another component."""
    gw = Gateway()
    rt = gw.runtime
    for name, component in rt.components.items():
        found = list(reachable(component))
        assert not [o for o in found if isinstance(o, (Runtime, Lifecycle))], name
        others = [o for o in found if isinstance(o, Component) and o is not component]
        assert not others, (name, [o.name for o in others])
        hosts = [o for o in found if isinstance(o, PartitionHost)]
        assert all(h._caller == name for h in hosts), name


def test_the_runtime_refuses_what_is_not_the_callers():
    """Provider A's host services: it cannot forget, stop or restart what is not its own,
    nor adopt a partition for another; nothing changes."""
    gw = Gateway()
    rt = gw.runtime
    host = rt.components["provider-a"].configuration.host
    root_api = gw.image.partitions["root"].api
    before = (sorted(rt.components), sorted(rt.topology.endpoints), rt.stopped())
    for call in (lambda: host.forget("provider-b"), lambda: host.set_running("provider-b", False),
                 lambda: host.set_running("provider-a", False), lambda: host.restart("lamp-driver"),
                 lambda: host.adopt("x", root_api, 0, [], DomainManager, {})):
        with pytest.raises(PermissionError):
            call()
    assert (sorted(rt.components), sorted(rt.topology.endpoints), rt.stopped()) == before
    owner = rt.components["root"].configuration.host
    owner.set_running("provider-b", False)                # the owner's to stop
    assert not host.running("provider-b") and rt.stopped() == {"provider-b"}


class NoFrames(Component):
    """Registers as its domain's manager without a manager's methods."""

    def __init__(self, ctx):
        super().__init__(ctx)
        ctx.host.register_manager(self)


class SecondManager(DomainManager):
    """Registers twice: its domain then has a manager already."""

    def __init__(self, ctx):
        super().__init__(ctx)
        ctx.host.register_manager(self)


class Silent(Component):
    """Does not register: no frames reach it."""

    def on_message(self, message):
        pass


def image_with(monkeypatch, name, component):
    image = partitions.boot(partitions.load(IMAGE))
    boot = image.component
    monkeypatch.setattr(image, "component", lambda n: component if n == name else boot(n))
    return image


def test_a_manager_without_a_managers_methods_is_refused_at_start(monkeypatch):
    with pytest.raises(TypeError, match="provider-b: NoFrames cannot be a domain's manager: "
                                        "it has no receive_frame, take_answers, paths, export_key"):
        Runtime(image_with(monkeypatch, "provider-b", NoFrames))


def test_a_domain_has_one_manager(monkeypatch):
    with pytest.raises(ValueError, match="domain provider-b has a manager already"):
        Runtime(image_with(monkeypatch, "provider-b", SecondManager))


def test_a_component_that_does_not_register_gets_no_frames(monkeypatch):
    rt = Runtime(image_with(monkeypatch, "provider-b", Silent))
    assert "provider-b" not in rt.managers and "provider-a" in rt.managers
    refused = rt.submit("provider-b", b"\xa1\x62id\x07")
    assert (refused.id, refused.reason) == (7, "no_such_domain")
