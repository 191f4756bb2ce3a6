"""Servers of ours on loopback, in processes of their own (``pipsim serve``, ``pipsim
admin-server``), libcoap's clients, and D3.3 §4.2 commands with tokens bound to them."""
import base64
import json
import socket
import subprocess
import sys

import pytest

from pipsim.management.testbed import Service, TestbedError
from pipsim.tokens import Issuer, KeyVault, binding
from pipsim.tokens.keys import ISSUE
from outside import command, skip_unless

PSK = ("lc1", "123456")        # D3.3 §3.2's example endpoint
DEVICE = "gateway"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def libcoap(tool: str) -> str:
    """A libcoap command (Debian's libcoap3-bin); the test is skipped without it."""
    return command(tool)


class Served(Service):
    """``pipsim.management.testbed.Service`` for tests: a server that does not start fails the test."""

    def __init__(self, ready, argv, env=None):
        try:
            super().__init__(ready, argv, env)
        except TestbedError as error:
            pytest.fail(str(error))


def serve_argv(port: int, keys, *extra) -> list[str]:
    """``pipsim serve``'s arguments: on 127.0.0.1:``port``, DTLS clients ``PSK``."""
    return ["serve", "--bind", f"127.0.0.1:{port}", "--psk", ":".join(PSK), "--export-keys",
            str(keys), *extra]


class Device(Served):
    """``pipsim serve``, listening on loopback."""

    def __init__(self, tmp_path, *extra):
        skip_unless("DTLSSocket")
        self.port, self.keys = free_port(), tmp_path / "keys"
        super().__init__(tmp_path / "ready", serve_argv(self.port, self.keys, *extra))


def token_for(device, domain, code, resource, value, scope):
    """A token from the domain's server (the key ``--export-keys`` wrote), bound to the command."""
    vault = KeyVault()
    kid = vault.add_cose_key((device.keys / f"{domain}.cose").read_bytes(), uses={ISSUE}).kid
    path = tuple(map(int, resource.split("/")))
    return Issuer(vault, kid, kid.decode()).issue(
        audience=domain, scope=scope, command=binding.digest(domain, DEVICE, code, path, value))


def d33(domain, code, resource, value, token, rid=1, device=DEVICE):
    """D3.3 §4.2's body: {"id", "value": "<the command as JSON text>"}."""
    o, i, r = map(int, resource.split("/"))
    inner = {"domain": domain, "device": device, "value": value,
             "operation": {"code": code, "objectId": o, "objectInstanceId": i, "resourceId": r},
             "token": base64.urlsafe_b64encode(token).rstrip(b"=").decode()}
    return json.dumps({"id": rid, "value": json.dumps(inner)})


def pipsim_against(device, command: str, *argv, key=PSK[1]):
    """``pipsim COMMAND ARGV --device URI --psk --keys`` against the device: (exit status,
    stdout, stderr)."""
    run = subprocess.run([sys.executable, "-m", "pipsim.kernel.cli", command, *argv, "--device",
                          device.uri, "--psk", f"{PSK[0]}:{key}", "--keys", str(device.keys)],
                         capture_output=True, text=True, timeout=60)
    return run.returncode, run.stdout.strip(), run.stderr.strip()
