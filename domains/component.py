"""The base of component code that runs *as a partition*.

A component holds its partition's ``PartitionAPI`` (every read, write and system call is
that partition's), the VAs of its free pages, its ipc ``Mailbox`` (how it talks to other
partitions), and its ``host`` (``pipsim.domains.host.HostServices``: the few things only the host
can do, checked against its place in the tree).  Its state lives in page-backed stores it
reserves with ``region``; what the Python object keeps is configuration (names, VAs).
Messages the outbox has no room for wait in a backlog in its pages and leave, in order, as
room frees up.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pipsim.ipc import IpcError, Mailbox, Message, OutboxFull, Refusal
from pipsim.kernel.abi import PAGE_SIZE
from pipsim.kernel.wrappers import NoFreePages
from pipsim.tokens import KeyVault

from .host import HostServices
from .keyvault import SealedPageKeyStorage
from .store import PageStore, StoreError

BACKLOG_PAGES = 4
BACKLOG_MAX = 32               # messages waiting for outbox room


@dataclass
class Context:
    """What the runtime gives a component: its partition, its configuration, its host."""

    name: str
    domain: str
    api: object                          # pipkernel PartitionAPI of this partition
    free: list[int]                      # VAs of its own free pages, ascending
    mailbox: Mailbox
    host: HostServices                   # bound to this component
    devices: dict[str, int] = field(default_factory=dict)      # device name -> VA here
    config: dict = field(default_factory=dict)                 # from the image / runtime
    keys: tuple = ()                     # to hold: the image's KeySpecs, COSE_Key bytes


class Component:
    """Runs as one partition; subclasses handle ``on_message`` (and ``on_refusal``)."""

    def __init__(self, ctx: Context):
        self.name, self.domain, self.api = ctx.name, ctx.domain, ctx.api
        self.mailbox, self.devices, self.config = ctx.mailbox, ctx.devices, ctx.config
        self.host = ctx.host
        self._free = list(ctx.free)
        self._backlog = self.store(BACKLOG_PAGES, [])
        self._backlogged = False        # whether the backlog's pages hold any message
        self.unanswered = 0             # answers nothing could take (see answer)

    def region(self, count: int) -> int:
        """Reserve ``count`` consecutive free pages of this partition; their first VA."""
        for i in range(len(self._free) - count + 1):
            run = self._free[i:i + count]
            if run[-1] - run[0] == (count - 1) * 4096:
                del self._free[i:i + count]
                return run[0]
        raise NoFreePages(f"{self.name}: no {count} consecutive free pages")

    def store(self, count: int = 1, value=None) -> PageStore:
        """A fresh page-backed store of ``count`` pages holding ``value`` (default {})."""
        store = PageStore(self.api, self.region(count), count)
        store.format(value)
        return store

    def key_vault(self, pages: int = 2) -> tuple[SealedPageKeyStorage, KeyVault]:
        """A new Key Vault of this partition (pipsim.domains.keyvault) in ``pages`` pages: its key
        in use in the last, sealed to this partition's measurements by its host, its
        records in the others; its storage and the vault."""
        va = self.region(pages)
        storage = SealedPageKeyStorage.create(PageStore(self.api, va, pages - 1),
                                              va + (pages - 1) * PAGE_SIZE, self.host)
        return storage, KeyVault(storage)

    def send(self, dest: str, payload, tag=None) -> int | None:
        """Queue a message: its sequence number if it went into the outbox, 0 if it waits in
        the backlog (``on_sent(tag, dest, seq)`` is called when it leaves), None if neither
        has room.  IpcError for a message no outbox would take (unknown endpoint, too big)."""
        if not self._backlogged:
            try:
                return self.mailbox.send(dest, payload)
            except OutboxFull:
                pass
        backlog = self._backlog.load()
        if len(backlog) >= BACKLOG_MAX:
            return None
        try:
            self._backlog.save(backlog + [[dest, payload, tag]])
        except StoreError:
            return None
        self._backlogged = True
        return 0

    def answer(self, dest: str, payload) -> None:
        """Send an answer; one that neither the outbox nor the backlog can take, or that no
        outbox would (too big: it echoes what the asker sent), is counted in ``unanswered``
        (the load test and the benchmark check it stays 0)."""
        try:
            sent = self.send(dest, payload)
        except IpcError:
            sent = None
        if sent is None:
            self.unanswered += 1

    def _flush(self) -> None:
        """Move what the outbox has room for from the backlog, in order."""
        backlog, sent = self._backlog.load(), 0
        for dest, payload, tag in backlog:
            try:
                seq = self.mailbox.send(dest, payload)
            except OutboxFull:
                break
            sent += 1
            self.on_sent(tag, dest, seq)
        self._backlog.save(backlog[sent:])
        self._backlogged = sent < len(backlog)

    def on_sent(self, tag, dest: str, seq: int) -> None:
        """A backlogged message went into the outbox with sequence number seq."""

    def poll(self) -> int:
        """Send what waits in the backlog, then handle what arrived: refusals of our
        messages, then messages, each taken from the inbox once handled (a handler that
        raises leaves the rest there: the relay refuses them while the domain is stopped).
        Returns how many (nothing is read but the pending counts when nothing is waiting)."""
        if self._backlogged:
            self._flush()
        if not self.mailbox.waiting():
            return 0
        refusals = self.mailbox.refusals()
        for refusal in refusals:
            self.on_refusal(refusal)
        return len(refusals) + self.mailbox.handle(self.on_message)

    def on_message(self, message: Message) -> None:
        raise NotImplementedError

    def on_refusal(self, refusal: Refusal) -> None:
        """The relay refused one of our messages; by default nothing to undo."""

    def on_child_fault(self, child: str, what: str) -> None:
        """A child partition faulted (or ran away) and was contained; by default no more."""

    def on_unreachable(self, name: str) -> None:
        """A partition we have a channel to takes nothing now (its domain stopped, it is
        halted, or its mailbox is broken: the runtime's faults say why): what we asked it
        will not be answered; by default nothing was asked."""

    def on_device_answer(self, device: str, response) -> None:
        """A small device answered a frame we forwarded (``HostServices.forward``): a
        ``Response``; by default nothing was forwarded."""

    def on_start(self) -> None:
        """Our domain runs again after a stop; what we had in flight was answered when it
        stopped (by the runtime, and by peers told we were unreachable); by default no more."""
