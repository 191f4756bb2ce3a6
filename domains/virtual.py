"""Virtual sensors / actuators and their managers (paper §V.B.3–4).

A ``VirtualManager`` partition of the owner domain serves one driver (its child) to the
virtual devices of other domains: a client may use the operations its channel lists in the
image (endpoint -> operations), nothing else.  It relays requests to the
driver and replies back, keeping who asked in its page store.
"""
from __future__ import annotations

from ipc import Message

from .component import Component
from .drivers import reply


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
            asked = state.pop(msg.get("rid"), None)
            if asked is not None:
                self.pending.save(state)
                self.send(asked[0], dict(msg, rid=asked[1]))
            return
        if msg.get("t") != "req" or src not in self.clients:
            return
        if msg.get("op") not in self.clients[src]:
            self.send(src, reply(msg.get("rid"), "unauthorised"))
            return
        state = self.pending.load()
        rid = state["next"]
        state["next"], state[rid] = rid + 1, [src, msg.get("rid")]
        self.pending.save(state)
        self.send(self.driver, {"t": "req", "rid": rid, "op": msg["op"], "reg": msg.get("reg"),
                                "value": msg.get("value")})
