"""A small device's network port (paper Fig. 12): the partition the network's bytes reach.

Network drivers are an entry point for attacks, so on a small device they are isolated from
the drivers and the application: the ``NetworkPort`` is the domain's registered manager for
the host (``pipsim.domains.host.Manager``), decodes each frame (``commands.decode``: the parser
hostile bytes meet first) and passes the command to the application, its parent (a
``DomainManager`` with ``entry`` naming this partition), over IPC as a forwarded command;
the application's answer is the frame's.  It holds no key: a compromised port can send the
application only what the network could, and faults only its own domain (the device's).
"""
from __future__ import annotations

from pipsim.ipc import IpcError, Message

from .commands import Refused, Response, decode, request_id, status_of
from .component import Component
from .requests import PendingRequests

MAX_PENDING = 64        # commands waiting for the application: one page of state


class NetworkPort(Component):
    def __init__(self, ctx):
        super().__init__(ctx)
        self.app = self.config["parent"]
        self.pending = PendingRequests(self.store(1), MAX_PENDING)   # about: the command id
        self._answers: list[Response] = []
        self._paths = self.store(1, [])         # the application's, once it told them
        ctx.host.register_manager(self)

    # ---- the host's (pipsim.domains.host.Manager) ----
    def receive_frame(self, frame: bytes) -> None:
        try:
            command = decode(frame)
            if self.pending.full():
                raise Refused("busy", "too many commands pending", 503)
            try:
                seq = self.pending.ask(self, self.app, {"t": "cmd", "cmd": command.to_map()},
                                       command.id)
            except IpcError as error:
                raise Refused("failed", f"cannot reach {self.app}: {error}", 503) from None
            if seq is None:
                raise Refused("busy", f"cannot reach {self.app} now", 503)
        except Refused as refusal:
            self._answers.append(Response(request_id(frame), refusal.status, refusal.reason,
                                          refusal.detail))

    def take_answers(self) -> list[Response]:
        answers, self._answers = self._answers, []
        return answers

    def paths(self) -> set[tuple[int, ...]]:
        """The paths the application serves, as it told them (none before its first round)."""
        return {tuple(path) for path in self._paths.load()}

    def export_key(self, kid: str) -> bytes:
        raise ValueError("a network port holds no key (its application does)")

    # ---- the application's answers ----
    def on_message(self, message: Message) -> None:
        msg = message.payload
        if not isinstance(msg, dict) or message.src_name != self.app:
            return
        if msg.get("t") == "paths" and isinstance(msg.get("paths"), list):
            self._paths.save([p for p in msg["paths"] if isinstance(p, list) and all(
                type(i) is int for i in p)])
        elif msg.get("t") == "rep":
            command_id = self.pending.take(msg.get("rid"), message.src_name)
            if command_id is not None:
                reason = msg.get("reason") if isinstance(msg.get("reason"), str) else "failed"
                status = msg.get("status")
                self._answers.append(Response(command_id, status if type(status) is int
                                              else status_of(reason), reason, msg.get("value")))

    def on_sent(self, tag, dest: str, seq: int) -> None:
        self.pending.sent(tag, dest, seq)

    def on_refusal(self, refusal) -> None:
        self._fail(lambda dest, seq: [dest, seq] == [refusal.dst_name, refusal.seq],
                   f"ipc_{refusal.reason.name.lower()}")

    def on_unreachable(self, name: str) -> None:
        self._fail(lambda dest, seq: dest == name, f"{name} unreachable")

    def on_start(self) -> None:
        self.pending.drop_all()

    def _fail(self, which, detail: str) -> None:
        for command_id in self.pending.take_where(which):
            self._answers.append(Response(command_id, status_of("failed"), "failed", detail))
