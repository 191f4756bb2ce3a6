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

from ipc import IpcError, Message

from .commands import STATUS
from .component import Component

DRIVER_REASONS = ("content", "changed", "malformed", "unknown_path", "not_allowed")
MAX_PENDING = 64        # requests waiting for the driver: what one page of state holds


def reply(rid, reason: str, value=None) -> dict:
    return {"t": "rep", "rid": rid, "status": STATUS.get(reason, 403), "reason": reason,
            "value": value}


class VirtualManager(Component):
    def __init__(self, ctx):
        super().__init__(ctx)
        self.driver = self.config["children"][0]
        self.clients = {k: v for k, v in self.config["clients"].items() if k != self.driver}
        self.pending = self.store(1, {"next": 1})

    def on_message(self, message: Message) -> None:
        msg, src = message.payload, message.src_name
        if not isinstance(msg, dict):
            return
        if src == self.driver and msg.get("t") == "rep":
            state = self.pending.load()
            asked = state.pop(msg.get("rid"), None) if type(msg.get("rid")) is int else None
            if asked is not None:
                self.pending.save(state)
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
        state = self.pending.load()
        if len(state) > MAX_PENDING:            # "next" and MAX_PENDING requests: its page
            self.answer(src, reply(msg.get("rid"), "busy", "too many requests pending"))
            return
        rid = state["next"]
        try:
            seq = self.send(self.driver, {"t": "req", "rid": rid, "op": msg["op"],
                                          "reg": msg.get("reg"), "value": msg.get("value")},
                            tag=rid)
        except IpcError:                          # too big for the driver's mailbox
            self.answer(src, reply(msg.get("rid"), "failed", "the request does not fit"))
            return
        if seq is None:
            self.answer(src, reply(msg.get("rid"), "busy", "the driver's queue is full"))
            return
        state["next"], state[rid] = rid + 1, [src, msg.get("rid"), seq]
        self.pending.save(state)

    def on_sent(self, tag, dest: str, seq: int) -> None:
        state = self.pending.load()
        if tag in state:                 # its refusal, if any, will name this seq
            state[tag][2] = seq
            self.pending.save(state)

    def on_refusal(self, refusal) -> None:
        """The relay refused a request to the driver: its client gets the reason."""
        if refusal.dst_name == self.driver:      # else an answer to a client that is gone
            self._fail(lambda seq: seq == refusal.seq,
                       f"ipc_{refusal.reason.name.lower()} to {self.driver}")

    def on_unreachable(self, name: str) -> None:
        """The driver is halted (or its domain stopped): its requests in flight fail; later
        ones are refused by the relay until it runs again."""
        if name == self.driver:
            self._fail(lambda seq: True, f"driver {name} unreachable")

    def _fail(self, which, detail: str) -> None:
        """Answer each request to the driver whose sequence number ``which`` picks: failed."""
        state = self.pending.load()
        failed = [rid for rid in state if type(rid) is int and which(state[rid][2])]
        for rid in failed:
            src, their_rid, _ = state.pop(rid)
            self.answer(src, reply(their_rid, "failed", detail))
        if failed:
            self.pending.save(state)
