"""The admin server's HTTP interface (D3.3 §3.1–3.2): where an application server submits a
command for a registered device, which the LwM2M server relays to the device's client.

    GET  /verify                         200 text/plain "Admin Server RESTApi successfully started"
    GET  /devices                        200 {"devices": [registration, ...]}
    GET  /devices/{endpoint}             200 registration | 404 {"error"}
    POST /devices/{endpoint}/commands    the D3.3 §4.2 request {"id", "value": "<command JSON>"}
         200 {"endpoint", "coap": "2.04", "answer": <the device's JSON answer>}
         400 {"error": "Invalid command request", "detail"}   not D3.3's shape (read as the
                                                              device reads it), or for another device
         415 neither application/json nor application/cbor
         404 {"error": "Unknown device", "detail"}             no such registration
         504 {"error": "Device unreachable", "detail"}         no answer within the relay timeout

The command is relayed as D3.3 §3.2 says, a PUT of the same JSON on the resource its
operation names; the device checks its token (the admin server holds no key and cannot
change a command without the device refusing it: pipsim.tokens.binding).  A device's refusal is
still a relay that worked: HTTP 200 with the device's CoAP code (4.01, 4.03, ...) and answer.
Callers are authenticated as every management service's are (``pipsim.management.service``).

A relayed command's answer (200, 504) has a ``Server-Timing`` header (W3C Server Timing):
``device;dur=D, relay;dur=R``, in milliseconds, D the wait for the device's answer (the CoAP
leg), R the rest of the handler (reading and checking the request, answering).
"""
from __future__ import annotations

import json
import logging
import time

from aiohttp import web

from pipsim.domains.commands import Command, Refused, from_map
from pipsim.domains.lwm2m import CBOR, JSON, decode_request

from . import service
from .lwm2m_server import AdminServer, DeviceUnreachable, UnknownDevice

log = logging.getLogger("pipsim.admin_server")
HTTP_PORT = 8444
SERVICE_OK = "Admin Server RESTApi successfully started"
MAX_BODY = 8192
_SERVER = web.AppKey("server", AdminServer)


def _error(status: int, error: str, detail: str) -> web.Response:
    return web.json_response({"error": error, "detail": detail}, status=status)


async def verify(request: web.Request) -> web.Response:
    return web.Response(text=SERVICE_OK)


async def devices(request: web.Request) -> web.Response:
    return web.json_response({"devices": request.app[_SERVER].devices()})


async def device(request: web.Request) -> web.Response:
    found = request.app[_SERVER].device(request.match_info["endpoint"])
    if found is None:
        return _error(404, "Unknown device", f"no device registered as "
                      f"{request.match_info['endpoint']!r}")
    return web.json_response(found)


FORMATS = {"application/json": JSON, "application/cbor": CBOR}   # RFC 7252 §12.3, RFC 8949 §9.5


def command_of(body: bytes, content_format: int, endpoint: str) -> Command:
    """The command of a D3.3 §4.2 request, read as the device reads it
    (``pipsim.domains.lwm2m.decode_request``), and for ``endpoint``; Refused otherwise."""
    command = from_map(decode_request(body, content_format))
    if command.device != endpoint:
        raise Refused("wrong_device", f"the command is for device {command.device!r}, "
                      f"not {endpoint!r}")
    return command


def _timed(response: web.Response, started: float, device: float) -> web.Response:
    """``response`` with its Server-Timing: ``device`` seconds waiting for the device, the
    rest since ``started`` the relay's own."""
    relay = time.perf_counter() - started - device
    response.headers["Server-Timing"] = (f"device;dur={device * 1e3:.3f}, "
                                         f"relay;dur={relay * 1e3:.3f}")
    return response


async def submit(request: web.Request) -> web.Response:
    started = time.perf_counter()
    endpoint = request.match_info["endpoint"]
    content_format = FORMATS.get(request.content_type)
    if content_format is None:
        return _error(415, "Unsupported media type", "send application/json (D3.3 §4.2) or "
                      "application/cbor")
    body = await request.read()
    try:
        command = command_of(body, content_format, endpoint)
    except Refused as exc:
        return _error(400, "Invalid command request", str(exc))
    path = "/" + "/".join(map(str, command.path))
    log.info("%s -> %s PUT %s", service.caller(request), endpoint, path)
    sent = time.perf_counter()
    try:
        reply = await request.app[_SERVER].send(endpoint, "PUT", path, body, content_format,
                                                JSON)
    except UnknownDevice as exc:
        return _error(404, "Unknown device", str(exc))
    except DeviceUnreachable as exc:
        return _timed(_error(504, "Device unreachable", str(exc)), started,
                      time.perf_counter() - sent)
    device = time.perf_counter() - sent
    try:
        answer = json.loads(reply.payload) if reply.payload else None
    except ValueError:
        answer = reply.payload.decode(errors="replace")
    return _timed(web.json_response({"endpoint": endpoint, "answer": answer,
                                     "coap": f"{reply.code // 100}.{reply.code % 100:02d}"}),
                  started, device)


def application(server: AdminServer) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)
    app[_SERVER] = server
    app.router.add_get("/verify", verify)
    app.router.add_get("/devices", devices)
    app.router.add_get("/devices/{endpoint}", device)
    app.router.add_post("/devices/{endpoint}/commands", submit)
    return app
