"""Configuration Manager: the domain's partitions, their code and authorised channels,
and (in the owner domain) LwM2M object 26261, isolation management (D3.3 §4.2, opmux):

    write 26261/0/7  {"name": N, "pages": P, "key": K[, "resources": {path: value}]
                      [, "code": {"image": I, "resource": path}]}
                     create domain N (opmux create DOMAIN IDENT KEY ... CODE): a child
                     partition with P pages running a domain manager, whose tokens are
                     verified with the COSE_Key K (its kid names the domain's server) and
                     which serves the given domain resources; with code, the domain runs
                     the firmware image the owner's config lists as I ("codes"), once it
                     checks against the image's trust policy (docs/trust.md), in a child
                     partition of its own ("N-app"), which serves the resource path (read,
                     write; an unsigned 32-bit value); created stopped
    write 26261/0/8  "N"                       delete it (deletePartition)
    write 26261/0/9  "N" / 26261/0/10 "N"      start / stop it (the host's running flag)
    read  26261/0/11                           refresh: {name: {"instance", "identity",
                                               "pages", "running", "created"[, "code"]}}
    execute 26261/0/12 "P"                     restart P, a halted firmware partition of this
                                               domain (its parent spawns its image afresh)

and one instance n >= 1 of object 26261 per domain it manages (D3.3 §4.2's resources): read
26261/n/0 App Name, /1 Identity (its server's key id), /4 Code file name, /5 Created? (opmux
``exists``: 0), /6 Running? (opmux ``isrun``: 1 or 0); /2 Access key is write-only (its
reading is refused), /3 Local Port has no meaning here (domains talk over IPC mailboxes, not
ports: no such resource); write (or execute) 26261/n/8 delete, /9 start, /10 stop it.

Every change is made with this partition's own system calls (``pipsim.kernel.wrappers``)
from the pool of pages it reserved; the description lives in its page store.  What only the
host can do it asks of its ``host`` (``pipsim.domains.host.HostServices``): run a created domain's
manager in the new partition (``adopt``), stop running it (``forget``), restart a firmware
partition, keep the running flags.  A create that cannot complete deletes what it made and
is refused; a delete that deletePartition would refuse changes nothing.
"""
from __future__ import annotations

import re

from pipsim.kernel.abi import PAGE_SIZE
from pipsim.kernel.layout import CHILD_VA_START, child_vas
from pipsim.kernel.wrappers import (NoFreePages, PageAllocator, PipCallError, create_child,
                                free_pages, map_page, map_range)
from pipsim.tokens import VaultError
from pipsim.tokens.keys import VERIFY, CoseKey
from pipsim.trust import ImageRefused, PolicyError

from .admin import AdministrationManager, respond
from .commands import Command, Refused, Response
from .host import HostServices
from .store import PageStore

MIN_PAGES, MAX_PAGES = 24, 64     # a created domain's manager needs 24 (8 of replay cache)
CREATED_REPLAY_PAGES = 8
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


class ConfigurationManager:
    def __init__(self, api, store: PageStore, description: dict, host: HostServices,
                 manager: type, pool=(), codes=None):
        """``description``: {"partitions": {name: {...}}, "channels": [...], "domains":
        {name: {"pages": n}}} (the child domains this one manages); ``host``: the caller's
        host services; ``manager``: the component class a created domain runs (its
        creator's: ``check_config`` checks its configuration); ``pool``: VAs of its pages it
        may build new partitions from; ``codes``: {name: firmware image} a created domain
        may run."""
        self.api, self.store, self.host, self.manager = api, store, host, manager
        self.pool, self.codes = list(pool), dict(codes or {})
        self.admin: AdministrationManager | None = None
        domains = {name: dict(d, created=False, instance=n)
                   for n, (name, d) in enumerate(description.get("domains", {}).items(), 1)}
        store.save({"partitions": description.get("partitions", {}),
                    "channels": description.get("channels", []), "domains": domains})

    def register(self, admin: AdministrationManager) -> None:
        self.admin = admin
        admin.route("write", "26261/0/7", self.create)
        admin.route("write", "26261/0/8", self.delete)
        admin.route("write", "26261/0/9", self.start)
        admin.route("write", "26261/0/10", self.stop)
        admin.route("read", "26261/0/11", self.list)
        admin.route("execute", "26261/0/12", self.restart)
        for entry in self.store.load()["domains"].values():
            self._route_instance(entry["instance"])

    def _route_instance(self, n: int) -> None:
        for resource in INSTANCE_READS:
            self.admin.route("read", f"26261/{n}/{resource}", self.read_instance)
        for resource in INSTANCE_WRITES:
            self.admin.route("write execute", f"26261/{n}/{resource}", self.write_instance)

    def list(self, command: Command) -> Response:
        """{domain: {"instance", "identity", "pages"[, "desc"][, "code"], "running",
        "created"}}."""
        domains = {name: {**{k: v for k, v in d.items() if k != "created"},
                          "running": self.host.running(name), "created": d["created"]}
                   for name, d in self.store.load()["domains"].items()}
        return respond(command, "content", domains)

    def _instance(self, command: Command) -> tuple[str, dict]:
        """The domain whose object-26261 instance the command names."""
        n = command.path[1]
        found = next(((name, d) for name, d in self.store.load()["domains"].items()
                      if d["instance"] == n), None)
        if found is None:
            raise Refused("unknown_path", f"no domain has instance {n} of object 26261")
        return found

    def read_instance(self, command: Command) -> Response:
        name, entry = self._instance(command)
        resource = command.path[2]
        if resource == ACCESS_KEY:
            raise Refused("not_allowed", "the access key is write-only", 405)
        value = {0: name, 1: entry.get("identity"), 4: entry.get("code"),
                 5: EXISTS, 6: int(self.host.running(name))}[resource]
        return respond(command, "content", value)

    def write_instance(self, command: Command) -> Response:
        name, _ = self._instance(command)
        named = Command(command.id, command.domain, command.device, command.code,
                        command.path, name, command.token, command.token_b)
        return INSTANCE_WRITES[command.path[2]](self, named)

    def create(self, command: Command) -> Response:
        value, state = command.value, self.store.load()
        if (not isinstance(value, dict) or not {"name", "pages", "key"} <= set(value)
                <= {"name", "pages", "key", "resources", "code"}
                or not isinstance(value["name"], str) or not _NAME.fullmatch(value["name"])
                or type(value["pages"]) is not int
                or not MIN_PAGES <= value["pages"] <= MAX_PAGES
                or not isinstance(value["key"], bytes)):
            raise Refused("malformed", f'create needs {{"name": NAME, "pages": {MIN_PAGES}..'
                          f'{MAX_PAGES}, "key": COSE_Key bytes[, "resources": {{path: value}}]'
                          '[, "code": {"image": NAME, "resource": path}]}')
        name, pages = value["name"], value["pages"]
        if name in state["domains"] or name in state["partitions"]:
            raise Refused("not_allowed", f"{name} already exists", 409)
        try:
            key = CoseKey.from_bytes(value["key"], uses={VERIFY})
            issuer = key.kid.decode()
        except (VaultError, UnicodeDecodeError) as error:
            raise Refused("malformed", f"key: {error}") from None
        config = {"audience": name, "issuers": {issuer: [issuer]},
                  "resources": value.get("resources", {}), "replay_pages": CREATED_REPLAY_PAGES}
        app = self._app(name, value.get("code"), config)
        problems = self.manager.check_config(config, {app[0]} if app else set())
        if problems or not _NAME.fullmatch(issuer):
            raise Refused("malformed", "; ".join(problems) or f"key: kid {issuer!r} is not a name")
        desc = self._build(name, pages, vidt=app is not None)
        try:                              # its server's key (parsed above) into its vault
            self.host.adopt(name, self.api, desc, child_vas(self.api.kernel.geometry, pages),
                            self.manager, config, app, keys=[value["key"]])
        except Exception as error:        # adopt left nothing registered: the partition goes too
            self.api.delete_partition(desc)
            raise Refused("failed", f"cannot run domain {name} in {pages} pages: {error}") from None
        instance = 1 + max((d["instance"] for d in state["domains"].values()), default=0)
        state["domains"][name] = {"instance": instance, "identity": issuer, "pages": pages,
                                  "desc": desc, "created": True,
                                  **({"code": value["code"]["image"]} if app else {})}
        self.store.save(state)
        self._route_instance(instance)
        return respond(command, "created", name)

    def _app(self, name: str, code, config: dict) -> tuple[str, str] | None:
        """The created domain's application: (its partition's name, its image), routed in
        config; None without code."""
        if code is None:
            return None
        if not isinstance(code, dict) or set(code) != {"image", "resource"}:
            raise Refused("malformed", 'code must be {"image": NAME, "resource": path}')
        if code["image"] not in self.codes:
            raise Refused("not_allowed", f"code {code['image']!r} is not one of "
                          f"{', '.join(sorted(self.codes)) or 'none'}")
        try:                              # before anything is made (docs/trust.md)
            self.host.check_image(self.codes[code["image"]])
        except ImageRefused as error:     # not there: the device's failure; else refused
            raise Refused("failed" if error.reason == "unreadable" else "unauthorised",
                          f"code {code['image']!r}: image refused: {error}") from None
        except PolicyError as error:
            raise Refused("failed", f"code {code['image']!r}: {error}") from None
        if code["resource"] in config["resources"]:
            raise Refused("malformed", f"{code['resource']} is both a resource and the code's")
        app = f"{name}-app"
        config["virtual"] = {code["resource"]: {"manager": app, "reg": "value",
                                                "ops": ["read", "write"]}}
        return app, self.codes[code["image"]]

    def _build(self, name: str, pages: int, vidt: bool) -> int:
        """A child partition with `pages` pages from the pool (and a VIDT page, for one that
        runs firmware children); its descriptor's VA."""
        alloc, desc = self.allocator(), None
        try:
            desc = create_child(self.api, alloc)
            # R W X, as partitions/boot.py lends a Python partition: its application's code
            map_range(self.api, alloc, desc, CHILD_VA_START, pages, e=True)
            if vidt:
                map_page(self.api, alloc, desc, alloc.alloc(), self.api.kernel.geometry.vidt_va)
        except (PipCallError, NoFreePages) as error:
            if desc is not None:
                self.api.delete_partition(desc)
            raise Refused("failed", f"cannot create {name}: {error}") from None
        return desc

    def delete(self, command: Command) -> Response:
        """Its children first (``forget``: each by its parent), then the domain's partition.
        What deletePartition checks, that the descriptor is mapped here and names a child,
        is checked first (countToMap checks the same and changes nothing): a delete it would
        refuse is refused with nothing changed."""
        state, name = self.store.load(), _name(command)
        entry = state["domains"].get(name)
        if entry is None or not entry.get("created"):
            raise Refused("not_allowed", f"{name!r} is not a domain created here")
        self.api.count_to_map(entry["desc"], CHILD_VA_START)
        error = self.api.kernel.last_error
        if error is not None:
            raise Refused("failed", f"{name}: deletePartition would be refused "
                          f"({error.name}): nothing changed")
        self.host.forget(name)                        # its own children go first
        in_use = set(self.pool) - set(free_pages(self.api, self.pool))
        deleted = self.api.delete_partition(entry["desc"])
        del state["domains"][name]                    # it runs no more either way
        self.store.save(state)
        for va in sorted(in_use.intersection(free_pages(self.api, self.pool))):
            self.api.write(va, bytes(PAGE_SIZE))      # Pip gives them back uncleared: scrub
        if not deleted:                               # an inconsistent kernel only
            raise Refused("failed", f"{name} stopped, but deletePartition refused "
                          f"({self.api.kernel.last_error.name}): its pages stay out of use")
        return respond(command, "deleted", name)

    def restart(self, command: Command) -> Response:
        name = _name(command)
        if name not in self.store.load()["partitions"]:
            raise Refused("not_allowed", f"{name!r} is not a partition of this domain")
        try:
            self.host.restart(name)
        except ValueError as error:
            raise Refused("not_allowed", str(error)) from None
        except RuntimeError as error:
            raise Refused("failed", str(error)) from None
        return respond(command, "changed", name)

    def start(self, command: Command) -> Response:
        return self._flag(command, True)

    def stop(self, command: Command) -> Response:
        return self._flag(command, False)

    def _flag(self, command: Command, running: bool) -> Response:
        if _name(command) not in self.store.load()["domains"]:
            raise Refused("not_allowed", f"no domain {command.value!r}")
        self.host.set_running(command.value, running)
        return respond(command, "changed")

    def allocator(self) -> PageAllocator:
        """The pool pages that are still this partition's to give: accessible, in no child."""
        return PageAllocator(free_pages(self.api, self.pool))


def _name(command: Command) -> str:
    if not isinstance(command.value, str):
        raise Refused("malformed", "the value must be a domain name")
    return command.value


ACCESS_KEY, EXISTS = 2, 0               # opmux exists: 0 exists (an instance is listed only then)
INSTANCE_READS = (0, 1, ACCESS_KEY, 4, 5, 6)
INSTANCE_WRITES = {8: ConfigurationManager.delete, 9: ConfigurationManager.start,
                   10: ConfigurationManager.stop}
