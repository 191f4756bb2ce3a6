"""The base of component code that runs *as a partition*.

A component holds only its partition's ``PartitionAPI`` (every read, write and system
call is that partition's), the VAs of its free pages, and its ipc ``Mailbox`` (the only
way it talks to other partitions).  Its state lives in page-backed stores it reserves
with ``region``; what the Python object keeps is configuration (names, VAs).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ipc import Mailbox, Message, OutboxFull, Refusal

from .store import PageStore


@dataclass
class Context:
    """What the runtime gives a component: its partition and its configuration."""

    name: str
    domain: str
    api: object                          # pipkernel PartitionAPI of this partition
    free: list[int]                      # VAs of its own free pages, ascending
    mailbox: Mailbox
    devices: dict[str, int] = field(default_factory=dict)      # device name -> VA here
    config: dict = field(default_factory=dict)                 # from the image / runtime


class Component:
    """Runs as one partition; subclasses handle ``on_message`` (and ``on_refusal``)."""

    def __init__(self, ctx: Context):
        self.name, self.domain, self.api = ctx.name, ctx.domain, ctx.api
        self.mailbox, self.devices, self.config = ctx.mailbox, ctx.devices, ctx.config
        self._free = list(ctx.free)

    def region(self, count: int) -> int:
        """Reserve ``count`` consecutive free pages of this partition; their first VA."""
        for i in range(len(self._free) - count + 1):
            run = self._free[i:i + count]
            if run[-1] - run[0] == (count - 1) * 4096:
                del self._free[i:i + count]
                return run[0]
        raise MemoryError(f"{self.name}: no {count} consecutive free pages")

    def store(self, count: int = 1, value=None) -> PageStore:
        """A fresh page-backed store of ``count`` pages holding ``value`` (default {})."""
        store = PageStore(self.api, self.region(count), count)
        store.format(value)
        return store

    def send(self, dest: str, payload) -> bool:
        """Queue a message; False when the outbox is full (the caller answers 'busy')."""
        try:
            self.mailbox.send(dest, payload)
        except OutboxFull:
            return False
        return True

    def poll(self) -> int:
        """Handle what arrived: refusals of our messages, then messages.  Returns how many."""
        refusals, messages = self.mailbox.refusals(), self.mailbox.receive()
        for refusal in refusals:
            self.on_refusal(refusal)
        for message in messages:
            self.on_message(message)
        return len(refusals) + len(messages)

    def on_message(self, message: Message) -> None:
        raise NotImplementedError

    def on_refusal(self, refusal: Refusal) -> None:
        """The relay refused one of our messages; by default nothing to undo."""

    def on_child_fault(self, child: str, what: str) -> None:
        """A child partition faulted (or ran away) and was contained; by default no more."""
