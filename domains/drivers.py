"""Python driver partitions: each owns one device page and reads / writes its 32-bit
little-endian registers through the partition's own VA of that page.

IPC requests (from the driver's manager only): ``{"t": "req", "rid", "op": "read" |
"write", "reg": NAME, "value": int}``; replies ``{"t": "rep", "rid", "status", "reason",
"value"}``.  On arch python a device page is a plain page laid out as
``pipkernel.machine.devices.Registers``; ``Hardware`` plays the device's side.
Firmware drivers (C, on the emulated CPU, reaching ``Registers`` models) are a later step.
"""
from __future__ import annotations

from ipc import Message

from .commands import STATUS
from .component import Component


def reply(rid, reason: str, value=None) -> dict:
    return {"t": "rep", "rid": rid, "status": STATUS.get(reason, 403), "reason": reason,
            "value": value}


class Driver(Component):
    """``REGISTERS``: name -> (offset, writable); ``DEVICE``: the device page's name."""

    REGISTERS: dict[str, tuple[int, bool]] = {}
    DEVICE = ""

    def on_message(self, message: Message) -> None:
        req = message.payload
        if message.src_name != self.config["parent"] or not isinstance(req, dict):
            return                        # only the manager drives the device
        self.send(message.src_name, self.handle(req))

    def handle(self, req: dict) -> dict:
        rid, reg = req.get("rid"), self.REGISTERS.get(req.get("reg"))
        if reg is None:
            return reply(rid, "unknown_path")
        va = self.devices[self.DEVICE] + reg[0]
        if req.get("op") == "read":
            return reply(rid, "content", int.from_bytes(self.api.read(va, 4), "little"))
        value = req.get("value")
        if req.get("op") != "write" or not reg[1]:
            return reply(rid, "not_allowed")
        if type(value) is not int or not 0 <= value < 2**32:
            return reply(rid, "malformed")
        self.api.write(va, value.to_bytes(4, "little"))
        return reply(rid, "changed")


class TemperatureDriver(Driver):
    """Register 0: temperature in centi-degrees (read only); 4: sampling period in ms."""

    DEVICE = "temperature"
    REGISTERS = {"value": (0, False), "period": (4, True)}


class LampDriver(Driver):
    """Register 0: lamp on (1) or off (0)."""

    DEVICE = "lamp"
    REGISTERS = {"on": (0, True)}


class Hardware:
    """The device side of a register page on arch python (it writes as the root, which maps
    every device page, as the hardware would change its registers)."""

    def __init__(self, image, device: str):
        self.api, self.va = image.partitions["root"].api, image.partitions["root"].devices[device]

    def set(self, offset: int, value: int) -> None:
        self.api.write(self.va + offset, value.to_bytes(4, "little"))

    def get(self, offset: int) -> int:
        return int.from_bytes(self.api.read(self.va + offset, 4), "little")
