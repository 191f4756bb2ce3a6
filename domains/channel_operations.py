"""What a Secure Channel service may run (D3.3 §3.5): a management operation of the runtime,
named from a fixed catalogue, never a program.

D3.3's service is "the path to the executable program or script that performs the privileged
operations"; here a hostile caller must never make the device run a program, so a service's
``command`` is ``OPERATION [FIXED WORDS]``, an operation of this catalogue optionally pinned to
its first words (``opmux isrun``, ``driver lamp``), and a run's ``params`` add the rest:

* ``opmux SUB DOMAIN [PARAMS]``: D3.3 §4.6's admin operations (``pipsim.domains.remote.opmux``:
  create DOMAIN IDENT KEY [LPORT] [CODE], delete, run, stop, list, exists, isrun); KEY only
  as hex (a file name would let a caller make the device read its files); CODE names an image
  the owner's configuration lists.
* ``driver DEVICE ACTION [VALUE]``: the owner's drivers (``lamp on|off|read``, ``temperature
  read``, ``period read|set MS``), those the owner domain serves.

Every operation is a D3.3 §4.2 command to the owner domain through the device's one entry
point (``LwM2MClient.handle`` → ``Runtime.submit``), with a token of the owner's server (its
key, enrolled from the owner's manager when the channel starts) for that one resource and
operation, bound to that command, valid ``TOKEN_LIFETIME`` seconds: the owner's Internal
Communicator and Security Validator check it as they check any command.
"""
from __future__ import annotations

from dataclasses import dataclass

import cbor2

from .commands import Command, Response
from .gateway import LAMP, PERIOD, TEMPERATURE, Servers
from .lwm2m import CBOR
from .remote import APP_RESOURCE, PAGES, opmux, owner_ask, secret_key
from .remote import COMMANDS as OPMUX      # D3.3 §4.6's

TOKEN_LIFETIME = 30                     # seconds: a channel token is used at once
MAX_WORDS, MAX_WORD = 16, 128           # a run's command line
NAMES = ("driver", "opmux")
MAX_PERIOD = 3_600_000                  # ms


class InvalidOperation(ValueError):
    """An operation or its parameters are not valid: nothing was sent to the device."""


@dataclass(frozen=True)
class Result:
    """A run's outcome, as an executable's: exit status and output."""

    exit: int
    output: str


class OwnerServer(Servers):
    """The owner's server inside the device: commands go to the device's LwM2M client in
    process (the entry point a network command takes), in their CBOR form."""

    def __init__(self, client, device: str, owner: str, key: bytes):
        super().__init__(device, {owner: key})
        self.client = client

    def submit(self, target: str, command: Command) -> list[Response]:
        reply = self.client.handle("PUT", command.path, command.encode(), CBOR, CBOR)
        answer = cbor2.loads(reply.payload)
        return [Response(answer["id"], answer["status"], answer["reason"], answer["value"])]


# device -> (resource, {action: (operation, value; int: a number given after it)})
DRIVERS = {
    "lamp": (LAMP, {"on": ("write", 1), "off": ("write", 0), "read": ("read", None)}),
    "temperature": (TEMPERATURE, {"read": ("read", None)}),
    "period": (PERIOD, {"read": ("read", None), "set": ("write", int)}),
}


class Operations:
    """The catalogue (``opmux``, ``driver``), run as the owner domain of ``runtime``'s image
    through ``client`` (the device's ``LwM2MClient``)."""

    def __init__(self, runtime, client, image):
        owner = image.manifest.root.domain
        key = next((k for k in image.keys if runtime.lifecycle.domain_of[k.holder] == owner),
                   None)
        if key is None:
            raise ValueError(f"the owner domain {owner!r} has no server key in the image: "
                             "the Secure Channel would have no authority")
        self._server = OwnerServer(client, image.manifest.name, owner,
                                   runtime.enrol(key.holder, key.kid))
        self._ask = owner_ask(self._server, owner, lifetime=TOKEN_LIFETIME)
        served = {"/".join(map(str, path)) for path in runtime.managers[owner].paths()}
        self.devices = {name: entry for name, entry in DRIVERS.items() if entry[0] in served}

    def check(self, command: str) -> tuple[str, ...]:
        """A service's command as words, if the catalogue has it (``InvalidOperation``)."""
        words = tuple(command.split()) if isinstance(command, str) else ()
        if not words or words[0] not in NAMES:
            raise InvalidOperation(f"unknown command {command!r}: a service runs one of "
                                   f"{', '.join(NAMES)} (optionally with its first words)")
        name, fixed = words[0], words[1:]
        limit = {"opmux": 1, "driver": 2}[name]
        if len(fixed) > limit:
            raise InvalidOperation(f"{name} takes at most {limit} fixed words, not {len(fixed)}")
        if name == "opmux" and fixed and fixed[0] not in OPMUX:
            raise InvalidOperation(f"opmux has no {fixed[0]!r}: one of {', '.join(OPMUX)}")
        if name == "driver" and fixed:
            self._driver_action(fixed[0], fixed[1] if len(fixed) > 1 else None)
        return words

    def run(self, command: tuple[str, ...], params: list[str]) -> Result:
        """``command`` (checked) followed by ``params``; ``InvalidOperation`` before anything
        is sent if they do not make an operation."""
        if len(params) > MAX_WORDS or any(len(word) > MAX_WORD for word in params):
            raise InvalidOperation(f"params: at most {MAX_WORDS} words of {MAX_WORD} characters")
        words = [*command[1:], *params]
        return (self._opmux if command[0] == "opmux" else self._driver)(words)

    def _opmux(self, words: list[str]) -> Result:
        if len(words) < 2 or words[0] not in OPMUX:
            raise InvalidOperation(f"opmux params: COMMAND DOMAIN [PARAMS], COMMAND one of "
                                   f"{', '.join(OPMUX)}")
        sub, domain, rest = words[0], words[1], words[2:]
        try:                                      # create's KEY is checked before it is sent
            status, text = opmux(self._ask, sub, domain, rest, PAGES, APP_RESOURCE,
                                 key_of=self._key)
        except ValueError as error:
            raise InvalidOperation(f"opmux {sub}: {error}") from None
        return Result(status, text)

    @staticmethod
    def _key(ident: str, key: str) -> bytes:
        try:
            return secret_key(ident, key)
        except ValueError as error:                # the COSE_Key's own checks too
            raise InvalidOperation(str(error)) from None

    def _driver_action(self, device: str, action: str | None):
        if device not in self.devices:
            raise InvalidOperation(f"no driver {device!r}: one of {', '.join(self.devices)}")
        resource, actions = self.devices[device]
        if action is not None and action not in actions:
            raise InvalidOperation(f"{device} has no action {action!r}: one of "
                                   f"{', '.join(actions)}")
        return resource, actions.get(action)

    def _driver(self, words: list[str]) -> Result:
        if len(words) < 2:
            raise InvalidOperation(f"driver params: DEVICE ACTION [VALUE], DEVICE one of "
                                   f"{', '.join(self.devices)}")
        resource, (code, value) = self._driver_action(words[0], words[1])
        extra = words[2:]
        if value is int:
            number = extra[0] if len(extra) == 1 else ""
            if not (number.isascii() and number.isdigit() and 0 < int(number) <= MAX_PERIOD):
                raise InvalidOperation(f"{words[0]} {words[1]} takes one number in "
                                       f"1..{MAX_PERIOD}")
            value = int(number)
        elif extra:
            raise InvalidOperation(f"{words[0]} {words[1]} takes no value")
        answer = self._ask(code, resource, value)
        if answer["status"] >= 300:
            return Result(1, f"{answer['reason']}: {answer['value']}")
        return Result(0, answer["reason"] if answer["value"] is None else str(answer["value"]))
