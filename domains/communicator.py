"""Internal Communicator: the domain's only entry point, a firewall for commands.

Frames from the network are written into the partition's receive page, then read back
and checked in order: size, CBOR shape (``commands.decode``), that the command is for
this device and this domain, and that its (operation, path) is one the Administration
Manager knows — before any token is looked at.  Commands other domains forward over IPC
are admitted only from the partitions listed as ``forwarders`` (the relay's channel policy
checks the channel itself).  A command for one of the small devices the image links to this
domain (``links``, paper §VII) is admitted for forwarding: the device checks its path and
token itself.
"""
from __future__ import annotations

import struct

from .commands import MAX_COMMAND, Command, Refused, decode, from_map

_LEN = struct.Struct("<I")


class InternalCommunicator:
    def __init__(self, api, rx_va: int, device: str, domain: str, knows, forwarders=(),
                 links=()):
        self.api, self.rx_va, self.device = api, rx_va, device
        self.domain, self.knows = domain, knows
        self.forwarders, self.links = frozenset(forwarders), frozenset(links)

    def admit(self, frame: bytes) -> Command:
        """A network frame -> a command worth validating, else Refused."""
        if not isinstance(frame, (bytes, bytearray)) or len(frame) > MAX_COMMAND:
            raise Refused("oversized", f"frames are bytes, at most {MAX_COMMAND}")
        self.api.write(self.rx_va, _LEN.pack(len(frame)) + bytes(frame))
        (length,) = _LEN.unpack(self.api.read(self.rx_va, _LEN.size))
        return self._filter(decode(self.api.read(self.rx_va + _LEN.size, length)))

    def admit_forwarded(self, source: str, command_map) -> Command:
        """A command another domain forwards (Fig. 9), else Refused."""
        if source not in self.forwarders:
            raise Refused("unauthorised", f"{source} may not forward commands here", 403)
        return self._filter(from_map(command_map))

    def _filter(self, command: Command) -> Command:
        if command.device != self.device and command.device not in self.links:
            raise Refused("wrong_device", f"command for device {command.device!r} reached "
                          f"{self.device!r}")
        if command.domain != self.domain:
            raise Refused("wrong_domain", f"command for {command.domain!r} reached {self.domain!r}")
        if command.device == self.device and not self.knows(command.code, command.path):
            raise Refused("unknown_path", f"no {command.code} on {command.resource} here")
        return command
