"""Virtual sensors / actuators and their managers (paper §V.B.3–4).

A ``VirtualManager`` partition of the owner domain serves one driver (its child, a firmware
partition: firmware/samples/drivers) to the virtual devices of other domains: a client may
use the operations its channel lists in the image (endpoint -> operations), nothing else.
It relays requests to the driver and replies back, keeping who asked in its page store.

Driver protocol (CBOR over IPC): ``{"t": "req", "rid", "op": "read" | "write", "reg": NAME,
"value": int}`` -> ``{"t": "rep", "rid", "reason", "value"}``; the manager answers its
client ``{"t": "rep", "rid", "status", "reason", "value"}``.
"""
from __future__ import annotations

from pipsim.ipc import IpcError, Message

from .commands import status_of
from .component import Component
from .requests import PendingRequests

DRIVER_REASONS = ("content", "changed", "malformed", "unknown_path", "not_allowed")
MAX_PENDING = 64        # requests waiting for the driver: what one page of state holds


def reply(rid, reason: str, value=None) -> dict:
    return {"t": "rep", "rid": rid, "status": status_of(reason), "reason": reason,
            "value": value}


class VirtualManager(Component):
    def __init__(self, ctx):
        super().__init__(ctx)
        self.driver = self.config["children"][0]
        self.clients = {k: v for k, v in self.config["clients"].items() if k != self.driver}
        self.pending = PendingRequests(self.store(1), MAX_PENDING)   # about: [client, its rid]

    def on_message(self, message: Message) -> None:
        msg, src = message.payload, message.src_name
        if not isinstance(msg, dict):
            return
        if src == self.driver and msg.get("t") == "rep":
            asked = self.pending.take(msg.get("rid"), src)
            if asked is not None:
                reason = msg.get("reason")
                value = msg.get("value")
                if reason not in DRIVER_REASONS or not (value is None or type(value) is int):
                    reason, value = "failed", "the driver's answer is not valid"
                self.answer(asked[0], reply(asked[1], reason, value))
            return
        if msg.get("t") != "req" or src not in self.clients or type(msg.get("rid")) is not int:
            return
        if msg.get("op") not in self.clients[src]:
            self.answer(src, reply(msg.get("rid"), "unauthorised"))
            return
        if self.pending.full():
            self.answer(src, reply(msg.get("rid"), "busy", "too many requests pending"))
            return
        try:
            seq = self.pending.ask(self, self.driver, {"t": "req", "op": msg["op"],
                                                       "reg": msg.get("reg"),
                                                       "value": msg.get("value")},
                                   [src, msg.get("rid")])
        except IpcError:                          # too big for the driver's mailbox
            self.answer(src, reply(msg.get("rid"), "failed", "the request does not fit"))
            return
        if seq is None:
            self.answer(src, reply(msg.get("rid"), "busy", "the driver's queue is full"))

    def on_sent(self, tag, dest: str, seq: int) -> None:
        self.pending.sent(tag, dest, seq)

    def on_refusal(self, refusal) -> None:
        """The relay refused a request to the driver: its client gets the reason (a refused
        answer to a client that is gone names no request)."""
        self._fail(lambda dest, seq: [dest, seq] == [refusal.dst_name, refusal.seq],
                   f"ipc_{refusal.reason.name.lower()} to {self.driver}")

    def on_unreachable(self, name: str) -> None:
        """The driver is halted (or its domain stopped): its requests in flight fail; later
        ones are refused by the relay until it runs again."""
        self._fail(lambda dest, seq: dest == name, f"driver {name} unreachable")

    def _fail(self, which, detail: str) -> None:
        """Answer each request to the driver ``which`` picks (by dest, seq): failed."""
        for client, their_rid in self.pending.take_where(which):
            self.answer(client, reply(their_rid, "failed", detail))
