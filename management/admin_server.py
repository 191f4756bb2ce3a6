"""``pipsim admin-server``: the admin server of D3.3 §3.2 in one process — its LwM2M server,
where devices register over CoAP + DTLS (``pipsim.management.lwm2m_server``), and its HTTP interface,
where applications submit commands for them (``pipsim.management.admin_http``).

    pipsim admin-server --coap 127.0.0.1:5684 --psk lc1:lc1:123456 \\
                        --bind 127.0.0.1:8444 --tls DIR --ready-file F

``--bind`` / ``--tls`` / ``--insecure-local`` are every management service's
(``pipsim.management.service``); the ready file holds the LwM2M server's URI, then the HTTP URL.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging

from . import admin_http, lwm2m_server, service


async def run(args) -> int:
    listen = service.Listen.from_args(args)
    server = await lwm2m_server.serving(args)
    try:
        with service.stop_signals() as stop:
            async with service.listening(admin_http.application(server),
                                         dataclasses.replace(listen, ready_file=None),
                                         "admin server") as url:
                if listen.ready_file is not None:
                    service.write_ready(listen.ready_file, server.uri, url)
                await stop.wait()
    finally:
        await server.stop()
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("admin-server", help="the admin server: an LwM2M server "
                                   "devices register with, and its HTTP interface (D3.3 §3.2)",
                                   description=__doc__.splitlines()[0])
    lwm2m_server.add_arguments(parser)
    service.add_arguments(parser, admin_http.HTTP_PORT)
    parser.set_defaults(func=_main)


def _main(args) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    lwm2m_server.log.setLevel(logging.INFO)
    admin_http.log.setLevel(logging.INFO)
    # aiocoap warns of every device leaving (its DTLS close_notify, an "unhandled alert")
    logging.getLogger(lwm2m_server.COAP_LOG).setLevel(logging.ERROR)
    return asyncio.run(run(args))
