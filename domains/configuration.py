"""Configuration Manager: the domain's partitions, their code and authorised channels,
and (in the owner domain) LwM2M object 26261, isolation management (D3.3 §4.2, opmux):

    write 26261/0/7  {"name": N, "pages": P, "key": K[, "resources": {path: value}]}
                     create domain N (opmux create DOMAIN IDENT KEY ... CODE): a child
                     partition with P pages running a domain manager, whose tokens are
                     verified with the COSE_Key K (its kid names the domain's server) and
                     which serves the given domain resources; created stopped
    write 26261/0/8  "N"                       delete it (deletePartition)
    write 26261/0/9  "N" / 26261/0/10 "N"      start / stop it (the runtime's scheduling flag)
    read  26261/0/11                           list domains: {name: {"running", "pages", ...}}

Every change is made with this partition's own system calls (``pipkernel.wrappers``)
from the pool of pages it reserved; the description and flags live in its page store.  The
runtime (``scheduler``) runs a created domain's manager in the new partition; a create that
cannot complete deletes what it made and is refused.
"""
from __future__ import annotations

import re

from partitions.memory import CHILD_VA_START
from pipkernel.abi import PAGE_SIZE
from pipkernel.wrappers import PageAllocator, PipCallError, create_child, map_range
from tokens import VaultError
from tokens.keys import VERIFY, CoseKey

from .admin import AdministrationManager, respond
from .commands import Command, Refused, Response
from .store import PageStore, StoreError

MIN_PAGES, MAX_PAGES = 24, 64     # a created domain's manager needs 24 (8 of replay cache)
CREATED_REPLAY_PAGES = 8
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


class ConfigurationManager:
    def __init__(self, api, store: PageStore, description: dict, pool=(), scheduler=None):
        """``description``: {"partitions": {name: {...}}, "channels": [...], "domains":
        {name: {"pages": n}}} (the child domains this one manages); ``pool``: VAs of its
        pages it may build new partitions from; ``scheduler``: the runtime (adopt, forget)."""
        self.api, self.store, self.pool, self.scheduler = api, store, list(pool), scheduler
        domains = {name: dict(d, running=True, created=False)
                   for name, d in description.get("domains", {}).items()}
        store.save({"partitions": description.get("partitions", {}),
                    "channels": description.get("channels", []), "domains": domains})

    def register(self, admin: AdministrationManager) -> None:
        admin.route("write", "26261/0/7", self.create)
        admin.route("write", "26261/0/8", self.delete)
        admin.route("write", "26261/0/9", lambda c: self._flag(c, True))
        admin.route("write", "26261/0/10", lambda c: self._flag(c, False))
        admin.route("read", "26261/0/11", self.list)

    def running(self, name: str) -> bool:
        return self.store.load()["domains"].get(name, {}).get("running", True)

    def stopped(self) -> set[str]:
        """The domains whose running flag is off."""
        return {n for n, d in self.store.load()["domains"].items() if not d.get("running", True)}

    def stop(self, name: str) -> None:
        state = self.store.load()
        state["domains"].setdefault(name, {})["running"] = False
        self.store.save(state)

    def list(self, command: Command) -> Response:
        return respond(command, "content", self.store.load()["domains"])

    def create(self, command: Command) -> Response:
        from .domain import DomainManager                 # which imports this module
        value, state = command.value, self.store.load()
        if (not isinstance(value, dict) or not {"name", "pages", "key"} <= set(value)
                <= {"name", "pages", "key", "resources"}
                or not isinstance(value["name"], str) or not _NAME.fullmatch(value["name"])
                or type(value["pages"]) is not int
                or not MIN_PAGES <= value["pages"] <= MAX_PAGES
                or not isinstance(value["key"], bytes)):
            raise Refused("malformed", f'create needs {{"name": NAME, "pages": {MIN_PAGES}..'
                          f'{MAX_PAGES}, "key": COSE_Key bytes[, "resources": {{path: value}}]}}')
        name, pages = value["name"], value["pages"]
        if name in state["domains"] or name in state["partitions"]:
            raise Refused("not_allowed", f"{name} already exists", 409)
        if self.scheduler is None:
            raise Refused("not_allowed", "nothing here runs created domains")
        try:
            key = CoseKey.from_bytes(value["key"], uses={VERIFY})
            issuer = key.kid.decode()
        except (VaultError, UnicodeDecodeError) as error:
            raise Refused("malformed", f"key: {error}") from None
        config = {"audience": name, "issuers": {issuer: [issuer]},
                  "resources": value.get("resources", {}), "replay_pages": CREATED_REPLAY_PAGES}
        problems = DomainManager.check_config(config, set())
        if problems or not _NAME.fullmatch(issuer):
            raise Refused("malformed", "; ".join(problems) or f"key: kid {issuer!r} is not a name")
        desc = self._build(name, pages)
        try:
            manager = self.scheduler.adopt(name, self.api, desc, [
                CHILD_VA_START + i * PAGE_SIZE for i in range(pages)], DomainManager, config)
        except (MemoryError, StoreError) as error:
            self.api.delete_partition(desc)
            raise Refused("failed", f"cannot run domain {name} in {pages} pages: {error}") from None
        manager.vault.add_cose_key(value["key"], uses={VERIFY})   # parsed above; a fresh vault
        state["domains"][name] = {"pages": pages, "desc": desc, "running": False,
                                  "created": True}
        self.store.save(state)
        return respond(command, "created", name)

    def _build(self, name: str, pages: int) -> int:
        """A child partition with `pages` pages from the pool; its descriptor's VA."""
        alloc, desc = self.allocator(), None
        try:
            desc = create_child(self.api, alloc)
            map_range(self.api, alloc, desc, CHILD_VA_START, pages)
        except PipCallError as error:
            if desc is not None:
                self.api.delete_partition(desc)
            raise Refused("failed", f"cannot create {name}: {error}") from None
        return desc

    def delete(self, command: Command) -> Response:
        state = self.store.load()
        entry = state["domains"].get(_name(command))
        if entry is None or not entry.get("created"):
            raise Refused("not_allowed", f"{command.value!r} is not a domain created here")
        if not self.api.delete_partition(entry["desc"]):
            raise Refused("failed", f"deletePartition: {self.api.kernel.last_error}")
        self.scheduler.forget(command.value)
        del state["domains"][command.value]
        self.store.save(state)
        return respond(command, "deleted", command.value)

    def _flag(self, command: Command, running: bool) -> Response:
        state = self.store.load()
        if _name(command) not in state["domains"]:
            raise Refused("not_allowed", f"no domain {command.value!r}")
        state["domains"][command.value]["running"] = running
        self.store.save(state)
        return respond(command, "changed")

    def allocator(self) -> PageAllocator:
        """The pool pages that are still this partition's to give: accessible, in no child."""
        return PageAllocator(va for va in self.pool if self.api.translate(va, "w") is not None
                             and not self.api.mapped_in_child(va))


def _name(command: Command) -> str:
    if not isinstance(command.value, str):
        raise Refused("malformed", "the value must be a domain name")
    return command.value
