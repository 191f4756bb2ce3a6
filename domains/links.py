"""The runtime's links to the house's small devices (paper §VII, Figs. 10–11): ``Links``.

The image declares which of its domains reaches which small device (``[[link]]``, one domain
per device).  A component of a linked domain asks the host to forward a command frame (the
command and its token, as they came: the device validates the token itself) with
``HostServices.forward``; the runtime checks the caller's domain against the image here
(``PermissionError`` otherwise), queues the frame, and at its next round hands it to the
device's transport, which the one who set the house up attached (``attach``): in process,
the device's own runtime; over the network, a CoAP client.  Each answer goes back to the
component that asked (``Component.on_device_answer``).
"""
from __future__ import annotations

from collections.abc import Callable

from .commands import STATUS, Response, request_id

Transport = Callable[[bytes], list[Response]]     # a frame -> the device's answers to it
MAX_QUEUED = 64                                   # frames waiting for the next round


class Links:
    def __init__(self, links):
        """``links``: the image's ``LinkSpec``s (domain, device)."""
        self._domain_of = {link.device: link.domain for link in links}
        self._transports: dict[str, Transport] = {}
        self._queue: list[tuple[str, str, bytes]] = []      # (caller, device, frame)

    def devices(self, domain: str) -> list[str]:
        """The small devices ``domain`` reaches."""
        return sorted(d for d, owner in self._domain_of.items() if owner == domain)

    def attach(self, device: str, transport: Transport) -> None:
        """How frames reach ``device``; ValueError if the image links no domain to it."""
        if device not in self._domain_of:
            raise ValueError(f"the image links no domain to device {device!r}")
        self._transports[device] = transport

    def send(self, domain: str, caller: str, device: str, frame: bytes) -> None:
        """Queue ``frame`` from ``caller`` (of ``domain``) for ``device``; PermissionError
        if ``domain`` is not the one the image links to it, OverflowError if the queue is
        full."""
        if self._domain_of.get(device) != domain:
            raise PermissionError(f"domain {domain} is not linked to device {device!r}")
        if not isinstance(frame, (bytes, bytearray)):
            raise TypeError("a frame is bytes")
        if len(self._queue) >= MAX_QUEUED:
            raise OverflowError(f"{MAX_QUEUED} frames wait already")
        self._queue.append((caller, device, bytes(frame)))

    def deliver(self, may_send: Callable[[str], bool]) -> list[tuple[str, str, Response]]:
        """Send the queued frames of the callers that ``may_send`` (the others' are dropped:
        their domain stopped after it asked): (caller, device, answer) for each answer; a
        device with no transport, or one that gives no answer, is answered for (503)."""
        out, queued, self._queue = [], self._queue, []
        for caller, device, frame in queued:
            if not may_send(caller):
                continue
            transport = self._transports.get(device)
            answers = transport(frame) if transport is not None else []
            if not answers:
                answers = [Response(request_id(frame), STATUS["stopped"], "unreachable",
                                    f"device {device} does not answer")]
            out += [(caller, device, answer) for answer in answers]
        return out
