"""CoAP over DTLS-PSK with aiocoap, shared by the device (``pipsim.domains.serve``) and the admin
server (``pipsim.management.lwm2m_server``): the PSK table as aiocoap credentials, the bounded DTLS
server, the identity a peer authenticated with, and the command-line forms of both.
"""
from __future__ import annotations

import argparse
import sys

import aiocoap
from aiocoap.credentials import CredentialsMap
from aiocoap.numbers.codes import Code
from aiocoap.transports import tinydtls_server

from .needs import require

MAX_PEERS = 256                          # DTLS peers (source addresses) kept at once
_CLAIM = ":"                             # an identity's credentials entry: ":" + identity


def code_of(status: int) -> Code:
    """The CoAP code "c.dd" of a status written as c*100 + dd (205 → 2.05)."""
    return Code((status // 100) << 5 | status % 100)


def status_of(code: Code) -> int:
    """The other way: 2.05 → 205."""
    return (code >> 5) * 100 + (code & 0x1F)


def credentials(psks) -> CredentialsMap:
    """aiocoap's server credentials for (identity, key) pairs."""
    creds = CredentialsMap()
    creds.load_from_dict({_CLAIM + identity: {"dtls": {"psk": {"ascii": key},
                                                       "client-identity": {"ascii": identity}}}
                          for identity, key in psks})
    return creds


def psk_identity(remote) -> str | None:
    """The PSK identity the peer of a request authenticated with (``credentials``' entry
    aiocoap reports as its claim), None over plain CoAP."""
    for claim in getattr(remote, "authenticated_claims", ()):
        if isinstance(claim, str) and claim.startswith(_CLAIM):
            return claim[len(_CLAIM):]
    return None


class _Peer(tinydtls_server._AddressDTLS):
    """aiocoap's DTLS peer, knowing the socket and source address it belongs to."""

    def __init__(self, protocol, address):
        super().__init__(protocol, address)
        self.server_socket, self.address = protocol, address


class _BoundedPeers(tinydtls_server._DatagramServerSocketSimpleDTLS):
    """aiocoap's DTLS server socket keeps a DTLS state for every source address that sent it
    a datagram, without bound (its ``_maybe_purge_sockets`` is never called by the DTLS
    variant): a handshake flood from many source ports would grow it without end.  Here at
    most ``MAX_PEERS``, the least recently active dropped first (it may handshake again)."""

    _Address = _Peer
    max_sockets = MAX_PEERS

    def datagram_received(self, data, sockaddr):
        if sockaddr not in self._connections:
            self._maybe_purge_sockets()
        super().datagram_received(data, sockaddr)

    def holds(self, peer) -> bool:
        """Whether ``peer`` is one of this socket's live DTLS sessions."""
        return (isinstance(peer, _Peer) and peer.server_socket is self
                and self._connections.get(peer.address) is peer)


class _DTLSServer(tinydtls_server.MessageInterfaceTinyDTLSServer):
    """aiocoap's DTLS server transport, bounded, and able to send a request to a peer that
    opened a session with it (an LwM2M server to its registered client, LwM2M 1.1 TS §6.3 /
    §8): aiocoap's own ``recognize_remote`` (simplesocketserver's) only knows plain
    addresses, so such a request found no transport (``NoRequestInterface``)."""

    _serversocket = _BoundedPeers

    async def recognize_remote(self, remote):
        return self._pool.holds(remote)


async def open_server(site, host: str, port: int, psks=(), plain: bool = False,
                      loggername: str = "coap-server") -> aiocoap.Context:
    """A server context for ``site``: DTLS-PSK on (host, port), or plain CoAP with ``plain``."""
    if plain:
        return await aiocoap.Context.create_server_context(site, bind=(host, port),
                                                           transports=["udp6"],
                                                           loggername=loggername)
    require("DTLSSocket")
    context = aiocoap.Context(serversite=site, loggername=loggername,
                              server_credentials=credentials(psks))
    # aiocoap takes transports by name only; this is its own set-up of "tinydtls_server"
    # (protocol.Context.create_server_context), with the bounded socket.  Its DTLS server
    # binds the given port + 1 (5683 + 1 = 5684): hand it port - 1.
    await context._append_tokenmanaged_messagemanaged_transport(
        lambda manager: _DTLSServer.create_server((host, port - 1), manager, log=context.log,
                                                  loop=context.loop,
                                                  server_credentials=context.server_credentials))
    return context


def warn_plain(program: str, what: str) -> None:
    """The warning ``--plain`` prints (standard error)."""
    print(f"{program}: WARNING: plain CoAP: {what} cross the network unprotected (D3.3 §2.2 "
          "asks for DTLS)", file=sys.stderr)


MAX_PSK_KEY = 16     # bytes: tinydtls fails DTLS handshakes with longer keys (19 already)


def check_psk_key(identity: str, key: str) -> str:
    """``key`` if tinydtls can use it (1..``MAX_PSK_KEY`` bytes); ValueError naming the
    identity otherwise."""
    size = len(key.encode())
    if not 1 <= size <= MAX_PSK_KEY:
        raise ValueError(f"the PSK key of {identity!r} has {size} bytes: 1 to {MAX_PSK_KEY} "
                         "(tinydtls fails handshakes with longer keys)")
    return key


def psk_arg(text: str) -> tuple[str, str]:
    """``--psk IDENTITY:KEY``."""
    identity, sep, key = text.partition(":")
    if not sep or not identity or not key:
        raise argparse.ArgumentTypeError(f"--psk takes IDENTITY:KEY, not {text!r}")
    try:
        return identity, check_psk_key(identity, key)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def bind_arg(text: str) -> tuple[str, int]:
    """``HOST:PORT`` to listen on: one address (aiocoap's DTLS server cannot bind
    any-address)."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"takes HOST:PORT, not {text!r}")
    if host in ("0.0.0.0", "::", "[::]"):
        raise argparse.ArgumentTypeError("needs one address: aiocoap's DTLS server cannot "
                                         "bind any-address")
    return host.strip("[]"), int(port)
