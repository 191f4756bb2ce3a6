"""Requests a component sent to its peers over IPC and awaits the answers to, in its pages.

The store holds ``{"next": id, id: [dest, seq, about]}``: each request's id (its ``rid``
on the wire), where it went, its sequence number there (0 while it waits in the backlog:
``sent`` names it when it leaves), and ``about``, what the asker needs to answer its own
client.  A refusal or an unreachable peer fails the requests its (dest, seq) picks; an
answer counts only from the peer the request went to.
"""
from __future__ import annotations

from collections.abc import Callable

from .store import PageStore


class PendingRequests:
    def __init__(self, store: PageStore, limit: int | None = None):
        """``store``: a fresh page store (formatted here); ``limit``: requests in flight at
        most (``full``)."""
        self.store, self.limit = store, limit
        store.save({"next": 1})

    def full(self) -> bool:
        return self.limit is not None and len(self.store.load()) > self.limit   # "next" too

    def ask(self, component, dest: str, msg: dict, about) -> int | None:
        """Send ``msg`` with a new request id (``rid``) to ``dest`` from ``component``; the
        sequence number (``Component.send``), None if nothing had room (then nothing is
        recorded).  IpcError for a message no outbox would take."""
        state = self.store.load()
        rid = state["next"]
        seq = component.send(dest, dict(msg, rid=rid), tag=rid)
        if seq is not None:
            state["next"], state[rid] = rid + 1, [dest, seq, about]
            self.store.save(state)
        return seq

    def sent(self, rid, dest: str, seq: int) -> None:
        """A backlogged request left (``Component.on_sent``): its refusal will name seq."""
        state = self.store.load()
        if rid in state and rid != "next":
            state[rid][:2] = [dest, seq]
            self.store.save(state)

    def take(self, rid, src: str):
        """The ``about`` of request ``rid`` if ``src`` is the peer it went to (it is
        answered: taken), else None."""
        state = self.store.load()
        entry = state.get(rid) if type(rid) is int else None
        if entry is None or entry[0] != src:
            return None
        del state[rid]
        self.store.save(state)
        return entry[2]

    def take_where(self, which: Callable[[str, int], bool]) -> list:
        """The ``about`` of each request whose (dest, seq) ``which`` picks; taken."""
        state = self.store.load()
        picked = {rid: entry for rid, entry in state.items()
                  if rid != "next" and which(*entry[:2])}
        if picked:
            self.store.save({rid: v for rid, v in state.items() if rid not in picked})
        return [entry[2] for entry in picked.values()]

    def drop_all(self) -> None:
        """Forget every request (answered otherwise); ids go on from where they were, so a
        late answer matches no new request."""
        self.store.save({"next": self.store.load()["next"]})
