"""A token issuing service inside a domain on the gateway (paper §VII, Fig. 11, domain 2:
"the authentication and token generation can be done by a service in the domain").

A partition of the domain, next to its manager: it holds, in its own Key Vault (in its
pages), the issuing copy of each of its domain's small devices' keys, and signs tokens for
commands to them.  Its manager routes two resources to it (``virtual``, over IPC, after
the domain's own token was checked: the caller is authenticated by its server):

* ``write <key path>`` value ``{"device", "key"}``: install the device's issuing key
  (a COSE_Key, as the device's enrolment exported it); one key per device, replaced;
* ``execute <token path>`` value: a command as D3.3 §4.2 writes it (``binding.command_map``)
  -> a token for it: audience this domain, scope its one operation on its one path, bound
  to it (``pipsim.tokens.binding``), issuer this partition.

It signs only for this domain, for the devices the image links to it (``links``), with
the operations its channel from the asker lists.  Protocol: the ``VirtualManager``'s
(``{"t": "req", "rid", "op", "reg", "value"}`` -> ``{"t": "rep", "rid", "status",
"reason", "value"}``).
"""
from __future__ import annotations

from pipsim.ipc import Message
from pipsim.tokens import Issuer
from pipsim.tokens.binding import OPERATION_KEYS, digest_of
from pipsim.tokens.errors import PipsimError
from pipsim.tokens.keys import ISSUE
from pipsim.tokens.scope import OPERATIONS

from .component import Component
from .virtual import reply

LIFETIME = 120          # seconds a token it issues is valid


class TokenService(Component):
    def __init__(self, ctx):
        super().__init__(ctx)
        _, self.vault = self.key_vault()
        self.keys = self.store(1)                  # device -> kid of its key here
        self.links = frozenset(self.config["links"])
        self.clients = self.config["clients"]

    def on_message(self, message: Message) -> None:
        msg, src = message.payload, message.src_name
        if not isinstance(msg, dict) or msg.get("t") != "req" or src not in self.clients \
                or type(msg.get("rid")) is not int:
            return
        op, reg, value = msg.get("op"), msg.get("reg"), msg.get("value")
        if op not in self.clients[src]:
            outcome = ("unauthorised", f"{src} may not {op} here")
        elif (op, reg) == ("write", "key"):
            outcome = self._install(value)
        elif (op, reg) == ("execute", "token"):
            outcome = self._issue(value)
        else:
            outcome = ("unknown_path", f"no {op} on {reg!r}")
        self.answer(src, reply(msg["rid"], *outcome))

    def _install(self, value) -> tuple[str, object]:
        if not isinstance(value, dict) or set(value) != {"device", "key"}:
            return "malformed", 'the value is {"device", "key"}'
        device, key = value["device"], value["key"]
        if device not in self.links:
            return "unauthorised", f"device {device!r} is not linked to domain {self.domain}"
        if not isinstance(key, bytes):
            return "malformed", "the key is a COSE_Key's bytes"
        try:
            kid = self.vault.add_cose_key(key, uses={ISSUE}, replace=True).kid
        except (PipsimError, ValueError, TypeError) as error:
            return "malformed", f"not a usable key: {error}"
        keys = self.keys.load()
        keys[device] = kid
        self.keys.save(keys)
        return "changed", None

    def _issue(self, command) -> tuple[str, object]:
        try:
            digest = digest_of(command)
        except (ValueError, TypeError) as error:
            return "malformed", str(error)
        device, op = command["device"], command["operation"]
        if command["domain"] != self.domain:
            return "unauthorised", f"tokens are for domain {self.domain}'s commands"
        kid = self.keys.load().get(device)
        if device not in self.links or kid is None:
            return "unauthorised", f"no key for device {device!r} here"
        letter = OPERATIONS.get(op["code"]) if isinstance(op["code"], str) else None
        path = [op[k] for k in OPERATION_KEYS[:3]]
        if letter is None or not all(type(p) is int and p >= 0 for p in path):
            return "malformed", "the operation is not one of LwM2M's on a path"
        scope = "/".join(map(str, path)) + ":" + letter
        token = Issuer(self.vault, kid, self.name).issue(self.domain, scope, LIFETIME,
                                                         command=digest)
        return "content", token
