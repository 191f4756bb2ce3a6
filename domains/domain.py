"""A domain's manager partition: Internal Communicator, Token & Security Validator,
Administration Manager, Configuration Manager and Key Vault, in that partition's pages.

Config (the manifest's ``config`` table, checked by ``check_config``): ``audience``,
``issuers`` ({issuer: [kids]}), ``policy`` (security policy, see security.py),
``resources`` (domain resources: path -> initial value, read / write here), ``virtual``
(path -> {"manager", "reg", "ops"}: virtual sensors / actuators served by an owner manager
over IPC), ``forward`` (path -> {"to", "ops"}: device resources whose token B goes to the
owner domain ``owner_domain``, Fig. 9), ``forwarders`` (domains that may forward commands
here), ``isolation`` (owner: object 26261), ``attestation`` (the root's manager: object
26263, remote attestation, domains/attestation.py), ``codes`` (owner: firmware images a created
domain may run), ``update`` (owner: the firmware partition object 5 updates, update.py),
``replay_pages`` (the replay cache's, default 64), ``entry`` (a small
device's network port, Fig. 12: the partition its commands come in through, over IPC;
the manager then does not register with the host); the runtime adds ``description`` and
``links`` (the house's small devices the image links to this domain: a network command for
one is forwarded to it with its token, through the host, paper §VII).  It registers as its
domain's manager with the host (``pipsim.domains.host.Manager``): frames come in through
``receive_frame``, answers go out through ``take_answers``.
"""
from __future__ import annotations

import re
from functools import partial

from pipsim.ipc import IpcError, Message, Refusal
from pipsim.tokens import Validator
from pipsim.tokens.keys import VERIFY, algorithm
from pipsim.tokens.scope import OPERATIONS

from . import attestation
from .admin import AdministrationManager, Resources
from .commands import Command, Refused, Response, request_id, status_of
from .communicator import InternalCommunicator
from .component import Component
from .configuration import ConfigurationManager
from .requests import PendingRequests
from .security import RULES, SecurityValidator
from .store import PageReplayCache
from .update import STAGING_PAGES, FirmwareUpdate

REPLAY_PAGES = 64     # 8,191 live tokens (PageReplayCache.capacity)
POOL_PAGES = 96      # the owner's, for domains it creates (object 26261)
CONFIG_KEYS = ("audience", "issuers", "policy", "resources", "virtual", "forward", "forwarders",
               "owner_domain", "isolation", "attestation", "replay_pages", "codes", "entry",
               "update")
_PATH = re.compile(r"\d{1,5}(/\d{1,5}){1,3}\Z")        # object/instance/resource[/instance]


def _route(value, target: str, partitions, *texts: str) -> str | None:
    """A route table {target: partition, "ops": [...], texts...}: None or what is wrong."""
    keys = {target, "ops", *texts}
    if not isinstance(value, dict) or set(value) != keys:
        return f"must be a table with exactly {', '.join(sorted(keys))}"
    if value[target] not in partitions:
        return f'{target}: "{value[target]}" is not a partition'
    ops = value["ops"]
    if not isinstance(ops, list) or not ops or len(set(ops)) != len(ops) or not set(ops) <= set(
            OPERATIONS):
        return f"ops: must be a non-empty array of distinct operations from {', '.join(OPERATIONS)}"
    if any(not isinstance(value[t], str) for t in texts):
        return f"{', '.join(texts)}: must be a string"
    return None


class DomainManager(Component):
    @classmethod
    def check_config(cls, config: dict, partitions: set[str]) -> list[str]:
        """What is wrong with a manifest's config for a domain manager: "key: reason" lines."""
        problems = [f"{key}: unknown key" for key in config if key not in CONFIG_KEYS]

        def need(key, ok: bool, what: str) -> None:
            if not ok:
                problems.append(f"{key}: {what}")

        need("audience", isinstance(config.get("audience"), str), "must be a string (the audience "
             "of the domain's tokens)")
        issuers = config.get("issuers")
        need("issuers", isinstance(issuers, dict) and bool(issuers) and all(
            isinstance(kids, list) and kids and all(isinstance(k, str) for k in kids)
            for kids in issuers.values()), "must be a table: issuer = [key ids]")
        checks = {"policy": lambda v: None if v in RULES else f"must be one of {', '.join(RULES)}",
                  "resources": lambda v: None,
                  "virtual": lambda v: _route(v, "manager", partitions, "reg"),
                  "forward": lambda v: _route(v, "to", partitions)}
        for key, check in checks.items():
            table = config.get(key, {})
            if not isinstance(table, dict):
                problems.append(f"{key}: must be a table keyed by LwM2M paths")
                continue
            for path, value in table.items():
                why = "not an LwM2M path (object/instance/resource)" if not _PATH.match(
                    path) else check(value)
                need(f'{key}."{path}"', why is None, why)
        forwarders = config.get("forwarders", [])
        need("forwarders", isinstance(forwarders, list) and all(
            isinstance(f, str) for f in forwarders), "must be an array of domain names")
        need("owner_domain", isinstance(config.get("owner_domain", ""), str) and (
            "owner_domain" in config or not config.get("forward")),
            "must be a string, the domain forwarded commands go to (needed with forward)")
        need("isolation", isinstance(config.get("isolation", False), bool), "must be a boolean")
        need("attestation", isinstance(config.get("attestation", False), bool),
             "must be a boolean")
        if "entry" in config:
            need("entry", config["entry"] in partitions,
                 "must be a partition (the small device's network port)")
        if "update" in config:
            need("update", config["update"] in partitions,
                 "must be a partition (the firmware partition object 5 updates)")
        codes = config.get("codes", {})
        need("codes", isinstance(codes, dict) and all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in codes.items()),
            "must be a table: name = firmware image path (relative to the image's manifest)")
        pages = config.get("replay_pages", REPLAY_PAGES)
        need("replay_pages", type(pages) is int and 1 <= pages <= REPLAY_PAGES,
             f"must be an integer in [1, {REPLAY_PAGES}]")
        return problems

    def __init__(self, ctx):
        super().__init__(ctx)
        cfg = self.config
        self.vault_storage, self.vault = self.key_vault()     # its Key Vault, sealed
        for key in ctx.keys:     # the image's to generate, or a created domain's server key
            if isinstance(key, bytes):
                self.vault.add_cose_key(key, uses={VERIFY})
            else:
                self.vault.generate(key.kid, algorithm(key.alg), key.use)
        replay_pages = cfg.get("replay_pages", REPLAY_PAGES)
        replay = PageReplayCache(self.api, self.region(replay_pages), replay_pages)
        replay.format()
        self.security = SecurityValidator(
            Validator(self.vault, cfg["audience"], cfg["issuers"], replay_cache=replay),
            cfg.get("policy"))
        self.admin = AdministrationManager()
        entry = [cfg["entry"]] if "entry" in cfg else []
        self.ic = InternalCommunicator(self.api, self.region(1), cfg["device"], self.domain,
                                       self.admin.knows, [*cfg.get("forwarders", ()), *entry],
                                       cfg.get("links", ()))
        # command id -> the small device it went to (a domain with devices linked to it)
        self.forwarded = self.store(1) if self.ic.links else None
        pool = [self.region(1) for _ in range(POOL_PAGES)] if cfg.get("isolation") else ()
        self.configuration = ConfigurationManager(self.api, self.store(2),
                                                  cfg.get("description", {}), ctx.host,
                                                  type(self), pool, cfg.get("codes"))
        if cfg.get("isolation"):
            self.configuration.register(self.admin)
        if cfg.get("attestation"):
            attestation.register(self.admin, ctx.host)
        if "update" in cfg:
            FirmwareUpdate(self.api, self.region(STAGING_PAGES), self.store(1), ctx.host,
                           cfg["update"]).register(self.admin)
        resources = Resources(self.store(1, dict(cfg.get("resources", {}))))
        for path in cfg.get("resources", {}):
            self.admin.route("read", path, resources.read)
            self.admin.route("write", path, resources.write)
        for path, v in cfg.get("virtual", {}).items():
            self.admin.route(" ".join(v["ops"]), path,
                             partial(self._ask, manager=v["manager"], reg=v["reg"]))
        for path, f in cfg.get("forward", {}).items():
            self.admin.route(" ".join(f["ops"]), path, partial(self._forward, dest=f["to"]))
        self.pending = PendingRequests(self.store(2))   # about: {"id"[, "reply"]}
        self._replying_to = None                # [domain, rid] of the forwarded command
        self._answers: list[Response] = []      # to the network (take_answers)
        self.seen: list[str] = []               # what this domain saw (owner non-interference)
        if entry:       # its port answers the host's paths (Manager.paths) in its stead
            self.send(entry[0], {"t": "paths", "paths": sorted(map(list, self.admin.paths()))})
        else:
            ctx.host.register_manager(self)

    # ---- the host's (pipsim.domains.host.Manager) ----
    def receive_frame(self, frame: bytes) -> None:
        """A management command from the network (Fig. 8 and the first half of Fig. 9):
        the Internal Communicator admits it, the Token & Security Validator checks it, the
        Administration Manager runs its handler (``admin.route``)."""
        try:
            command = self.ic.admit(frame)
            self.seen.append(f"{command.code} {command.resource}")
            if command.device != self.config["device"]:
                answer = self._to_device(command, frame)
            else:
                self.security.check(command)
                answer = self.admin.dispatch(command)
        except Refused as refusal:
            answer = Response(request_id(frame), refusal.status, refusal.reason, refusal.detail)
        if answer is not None:
            self._answers.append(answer)

    def _to_device(self, command: Command, frame: bytes) -> None:
        """Figs. 10–11: the command and its token go on, as they came, to the small device
        the image links here (it validates the token, bound to it, itself); its answer is
        this command's (``on_device_answer``)."""
        forwarded = self.forwarded.load()
        if command.id in forwarded:
            raise Refused("busy", f"command {command.id} is already forwarded", 503)
        try:
            self.host.forward(command.device, bytes(frame))
        except OverflowError as error:
            raise Refused("busy", str(error), 503) from None
        forwarded[command.id] = command.device
        self.forwarded.save(forwarded)

    def on_device_answer(self, device: str, response: Response) -> None:
        """A small device's answer counts only for a command forwarded to that device."""
        forwarded = self.forwarded.load() if self.forwarded is not None else {}
        if forwarded.get(response.id) == device:
            del forwarded[response.id]
            self.forwarded.save(forwarded)
            self._answers.append(response)

    def take_answers(self) -> list[Response]:
        answers, self._answers = self._answers, []
        return answers

    def paths(self) -> set[tuple[int, ...]]:
        return self.admin.paths()

    def export_key(self, kid: str) -> bytes:
        return self.vault.export(kid, private=True)

    def on_message(self, message: Message) -> None:
        msg = message.payload
        if not isinstance(msg, dict):
            return
        if msg.get("t") == "rep":
            self._complete(message.src_name, msg)
        elif msg.get("t") == "cmd":
            self._forwarded(message.src_name, msg)

    def on_refusal(self, refusal: Refusal) -> None:
        self._fail(lambda dest, seq: [dest, seq] == [refusal.dst_name, refusal.seq],
                   {"status": 403, "reason": f"ipc_{refusal.reason.name.lower()}", "value": None})

    def on_unreachable(self, name: str) -> None:
        """What this domain asked ``name`` (a manager, its application) fails."""
        self._fail(lambda dest, seq: dest == name,
                   {"status": status_of("failed"), "reason": "failed",
                    "value": f"{name} unreachable"})

    def on_start(self) -> None:
        """Running again after a stop: the requests it had in flight were answered when it
        stopped (its network commands by the runtime, its forwarders' by themselves); their
        late answers must not match new requests, so request ids go on from where they were."""
        self.pending.drop_all()
        if self.forwarded is not None:
            self.forwarded.save({})

    def _fail(self, which, msg: dict) -> None:
        """Answer with msg every request in flight whose (destination, seq) ``which`` picks."""
        for about in self.pending.take_where(which):
            self._answer(about, msg)

    def _forwarded(self, source: str, msg: dict) -> None:
        """Second half of Fig. 9: a command with the owner's token B, from another domain
        (one whose request id is not an integer could not be answered: it is ignored).  A
        request its handler sends remembers to whom the answer goes (``_request``)."""
        if type(msg.get("rid")) is not int:
            return
        self._replying_to = [source, msg.get("rid")]
        try:
            command = self.ic.admit_forwarded(source, msg.get("cmd"))
            self.seen.append(f"{command.code} {command.resource} for {source}")
            self.security.check(command)
            answer = self.admin.dispatch(command)
        except Refused as refusal:
            answer = Response(None, refusal.status, refusal.reason, refusal.detail)
        finally:
            self._replying_to = None
        if answer is not None:
            self.answer(source, {"t": "rep", "rid": msg.get("rid"), **_fields(answer)})

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
        about = {"id": command.id}
        if self._replying_to is not None:
            about["reply"] = self._replying_to
        try:
            seq = self.pending.ask(self, dest, msg, about)
        except IpcError as error:        # too big, or no such endpoint: answer now
            raise Refused("failed", f"cannot reach {dest}: {error}", 503) from None
        if seq is None:
            raise Refused("busy", f"cannot reach {dest} now: outbox and backlog full", 503)

    def on_sent(self, tag, dest: str, seq: int) -> None:
        self.pending.sent(tag, dest, seq)

    def _complete(self, src: str, msg: dict) -> None:
        """An answer to request rid, from the peer that request went to (anyone else's
        answer to it is ignored)."""
        about = self.pending.take(msg.get("rid"), src)
        if about is not None:
            self._answer(about, msg)

    def _answer(self, about: dict, msg: dict) -> None:
        status, reason = msg.get("status"), msg.get("reason")
        if not isinstance(reason, str):
            reason = "failed"
        if type(status) is not int:       # a firmware application's reply names its reason
            status = status_of(reason)
        if "reply" in about:
            dest, rid = about["reply"]
            self.answer(dest, {"t": "rep", "rid": rid, "status": status, "reason": reason,
                               "value": msg.get("value")})
        else:
            self._answers.append(Response(about["id"], status, reason, msg.get("value")))


def _fields(answer: Response) -> dict:
    return {"status": answer.status, "reason": answer.reason, "value": answer.value}
