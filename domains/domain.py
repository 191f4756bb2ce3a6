"""A domain's manager partition: Internal Communicator, Token & Security Validator,
Administration Manager, Configuration Manager and Key Vault, in that partition's pages.

Config (from the runtime): ``audience``, ``issuers`` ({issuer: [kids]}), ``policy``
(security policy, see security.py), ``resources`` (domain resources: path -> initial
value, read / write here), ``virtual`` (path -> {"manager", "reg", "ops"}: virtual
sensors / actuators served by an owner manager over IPC), ``forward`` (path -> {"to",
"ops"}: device resources whose token B goes to the owner domain, Fig. 9),
``forwarders`` (domains that may forward commands here), ``description`` and
``isolation`` (owner: object 26261).  Responses for the network go to ``outgoing``.
"""
from __future__ import annotations

from ipc import IpcError, Message, Refusal
from tokens import Validator

from .admin import AdministrationManager, Resources
from .commands import Command, Refused, Response, request_id
from .communicator import InternalCommunicator
from .component import Component
from .configuration import ConfigurationManager
from .keyvault import page_vault
from .security import SecurityValidator
from .store import PageReplayCache

REPLAY_PAGES = 64     # 8,176 slots: 1,000 live tokens leave a 16-slot probe window free
POOL_PAGES = 40


class DomainManager(Component):
    def __init__(self, ctx):
        super().__init__(ctx)
        cfg = self.config
        self.vault_store = self.store(2)        # the Key Vault's records, in pages
        self.vault = page_vault(self.vault_store)
        replay = PageReplayCache(self.api, self.region(REPLAY_PAGES), REPLAY_PAGES)
        replay.format()
        self.security = SecurityValidator(
            Validator(self.vault, cfg["audience"], cfg["issuers"], replay_cache=replay),
            cfg.get("policy"))
        self.admin = AdministrationManager()
        self.ic = InternalCommunicator(self.api, self.region(1), self.domain, self.admin.knows,
                                       cfg.get("forwarders", ()))
        pool = [self.region(1) for _ in range(POOL_PAGES)] if cfg.get("isolation") else ()
        self.configuration = ConfigurationManager(self.api, self.store(2),
                                                  cfg.get("description", {}), pool)
        if cfg.get("isolation"):
            self.configuration.register(self.admin)
        resources = Resources(self.store(1, dict(cfg.get("resources", {}))))
        for path in cfg.get("resources", {}):
            self.admin.route("read", path, resources.read)
            self.admin.route("write", path, resources.write)
        for path, v in cfg.get("virtual", {}).items():
            self.admin.route(" ".join(v["ops"]), path,
                             lambda c, v=v: self._ask(c, v["manager"], v["reg"]))
        for path, f in cfg.get("forward", {}).items():
            self.admin.route(" ".join(f["ops"]), path, lambda c, f=f: self._forward(c, f["to"]))
        self.pending = self.store(2, {"next": 1})
        self.outgoing: list[Response] = []      # to the network
        self.seen: list[str] = []               # what this domain saw (owner non-interference)

    # ---- commands ----
    def receive_frame(self, frame: bytes) -> None:
        """A management command from the network (Fig. 8 and the first half of Fig. 9)."""
        try:
            command = self.ic.admit(frame)
            self.seen.append(f"{command.code} {command.resource}")
            self.security.check(command)
            answer = self.admin.dispatch(command)
        except Refused as refusal:
            answer = Response(request_id(frame), refusal.status, refusal.reason, refusal.detail)
        if answer is not None:
            self.outgoing.append(answer)

    def on_message(self, message: Message) -> None:
        msg = message.payload
        if not isinstance(msg, dict):
            return
        if msg.get("t") == "rep":
            self._complete(msg)
        elif msg.get("t") == "cmd":
            self._forwarded(message.src_name, msg)

    def on_refusal(self, refusal: Refusal) -> None:
        state = self.pending.load()
        for rid, entry in list(state.items()):
            if rid != "next" and entry["seq"] == [refusal.dst_name, refusal.seq]:
                del state[rid]
                self.pending.save(state)
                self._answer(entry, {"status": 403, "reason": f"ipc_{refusal.reason.name.lower()}",
                                     "value": None})

    def _forwarded(self, source: str, msg: dict) -> None:
        """Second half of Fig. 9: a command with the owner's token B, from another domain."""
        try:
            command = self.ic.admit_forwarded(source, msg.get("cmd"))
            self.seen.append(f"{command.code} {command.resource} for {source}")
            self.security.check(command)
            answer = self.admin.dispatch(command)
        except Refused as refusal:
            answer = Response(None, refusal.status, refusal.reason, refusal.detail)
        if answer is None:      # pending: remember to whom the answer goes
            state = self.pending.load()
            state[state["next"] - 1]["reply"] = [source, msg.get("rid")]
            self.pending.save(state)
        else:
            self.send(source, {"t": "rep", "rid": msg.get("rid"), **_fields(answer)})

    # ---- IPC requests and their answers ----
    def _ask(self, command: Command, manager: str, reg: str) -> None:
        return self._request(command, manager, {"t": "req", "op": command.code, "reg": reg,
                                                "value": command.value})

    def _forward(self, command: Command, dest: str) -> None:
        """Fig. 9: token A passed here; the command goes on to the owner with token B."""
        cmd = command.to_map()
        cmd["domain"], cmd["token"] = self.config["owner_domain"], cmd.pop("tokenB")
        return self._request(command, dest, {"t": "cmd", "cmd": cmd})

    def _request(self, command: Command, dest: str, msg: dict) -> None:
        state = self.pending.load()
        rid = state["next"]
        try:
            seq = self.mailbox.send(dest, dict(msg, rid=rid))
        except IpcError as error:        # outbox full or too big: answer now
            raise Refused("failed", f"cannot reach {dest}: {error}", 503) from None
        state["next"], state[rid] = rid + 1, {"id": command.id, "seq": [dest, seq]}
        self.pending.save(state)

    def _complete(self, msg: dict) -> None:
        state = self.pending.load()
        entry = state.pop(msg.get("rid"), None) if msg.get("rid") != "next" else None
        if entry is not None:
            self.pending.save(state)
            self._answer(entry, msg)

    def _answer(self, entry: dict, msg: dict) -> None:
        status = msg.get("status") if type(msg.get("status")) is int else 500
        if "reply" in entry:
            dest, rid = entry["reply"]
            self.send(dest, {"t": "rep", "rid": rid, "status": status,
                             "reason": msg.get("reason"), "value": msg.get("value")})
        else:
            self.outgoing.append(Response(entry["id"], status, str(msg.get("reason")),
                                          msg.get("value")))


def _fields(answer: Response) -> dict:
    return {"status": answer.status, "reason": answer.reason, "value": answer.value}
