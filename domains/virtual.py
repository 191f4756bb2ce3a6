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

from ipc import Message

from .commands import STATUS
from .component import Component

DRIVER_REASONS = ("content", "changed", "malformed", "unknown_path", "not_allowed")


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
                    reason, value = "failed", f"the driver answered {reason!r}"
                self.answer(asked[0], reply(asked[1], reason, value))
            return
        if msg.get("t") != "req" or src not in self.clients:
            return
        if msg.get("op") not in self.clients[src]:
            self.answer(src, reply(msg.get("rid"), "unauthorised"))
            return
        state = self.pending.load()
        if state.get("down"):
            self.answer(src, reply(msg.get("rid"), "failed", state["down"]))
            return
        rid = state["next"]
        seq = self.send(self.driver, {"t": "req", "rid": rid, "op": msg["op"],
                                      "reg": msg.get("reg"), "value": msg.get("value")}, tag=rid)
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
        if refusal.dst_name != self.driver:
            return                       # an answer to a client that is gone
        state = self.pending.load()
        for rid in [k for k in state if type(k) is int and state[k][2] == refusal.seq]:
            src, their_rid, _ = state.pop(rid)
            self.answer(src, reply(their_rid, "failed",
                                   f"ipc_{refusal.reason.name.lower()} to {self.driver}"))
        self.pending.save(state)

    def on_child_fault(self, child: str, what: str) -> None:
        """The driver is halted: its pending requests, and any later one, fail."""
        state = self.pending.load()
        for rid in [k for k in state if type(k) is int]:
            src, their_rid, _ = state.pop(rid)
            self.answer(src, reply(their_rid, "failed", f"driver {child} halted"))
        state["down"] = f"driver {child} halted"
        self.pending.save(state)

    def on_child_restart(self, child: str) -> None:
        """The driver runs again: requests go to it again."""
        state = self.pending.load()
        state.pop("down", None)
        self.pending.save(state)
