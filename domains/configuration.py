"""Configuration Manager: the domain's partitions, their code and authorised channels,
and (in the owner domain) LwM2M object 26261, isolation management (D3.3 §4.2, opmux):

    write 26261/0/7  {"name": N, "pages": P}   create domain N: a child partition with P pages
    write 26261/0/8  "N"                       delete it (deletePartition)
    write 26261/0/9  "N" / 26261/0/10 "N"      start / stop it (the runtime's scheduling flag)
    read  26261/0/11                           list domains: {name: {"running", "pages", ...}}

Every change is made with this partition's own system calls (``pipkernel.wrappers``)
from the pool of pages it reserved; the description and flags live in its page store.
"""
from __future__ import annotations

import re

from partitions.memory import CHILD_VA_START
from pipkernel.wrappers import PageAllocator, PipCallError, create_child, map_range

from .admin import AdministrationManager, respond
from .commands import Command, Refused, Response
from .store import PageStore

MAX_PAGES = 32
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


class ConfigurationManager:
    def __init__(self, api, store: PageStore, description: dict, pool=()):
        """``description``: {"partitions": {name: {...}}, "channels": [...], "domains":
        {name: {"pages": n}}} (the child domains this one manages); ``pool``: VAs of its
        pages it may build new partitions from."""
        self.api, self.store, self.pool = api, store, list(pool)
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
        value, state = command.value, self.store.load()
        if (not isinstance(value, dict) or set(value) != {"name", "pages"}
                or not isinstance(value["name"], str) or not _NAME.fullmatch(value["name"])
                or type(value["pages"]) is not int or not 1 <= value["pages"] <= MAX_PAGES):
            raise Refused("malformed", f'create needs {{"name": NAME, "pages": 1..{MAX_PAGES}}}')
        name = value["name"]
        if name in state["domains"] or name in state["partitions"]:
            raise Refused("not_allowed", f"{name} already exists", 409)
        alloc = self.allocator()
        try:
            desc = create_child(self.api, alloc)
            map_range(self.api, alloc, desc, CHILD_VA_START, value["pages"])
        except PipCallError as error:
            raise Refused("failed", f"cannot create {name}: {error}") from None
        state["domains"][name] = {"pages": value["pages"], "desc": desc, "running": False,
                                  "created": True}
        self.store.save(state)
        return respond(command, "created", name)

    def delete(self, command: Command) -> Response:
        state = self.store.load()
        entry = state["domains"].get(_name(command))
        if entry is None or not entry.get("created"):
            raise Refused("not_allowed", f"{command.value!r} is not a domain created here")
        if not self.api.delete_partition(entry["desc"]):
            raise Refused("failed", f"deletePartition: {self.api.kernel.last_error}")
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
