"""The admin server's LwM2M server with real devices: ``pipsim serve`` processes register
over DTLS with their own PSK identities, and the server relays D3.3 §4.2 commands to them over
the sessions they opened (LwM2M 1.1 TS §6.3 / §8), through a restart of the server and past a
device that vanishes."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from coapnet import Device, d33, free_port, serve_argv, token_for
from pipsim.domains.gateway import LAMP
from pipsim.management.lwm2m_server import DeviceUnreachable, UnknownDevice

RESTARTS = 4 if os.environ.get("HYPOTHESIS_PROFILE") == "deep" else 1


def registered_device(tmp_path, port, endpoint="lc1", psk="lc1:111111", lifetime=2):
    """``pipsim serve`` registered with the server on ``port`` (plain CoAP without ``psk``)."""
    server = ["--server", f"coaps://127.0.0.1:{port}", "--server-psk", psk] if psk else [
        "--server", f"coap://127.0.0.1:{port}"]
    return Device(tmp_path, *server, "--endpoint", endpoint, "--lifetime", str(lifetime))


def lamp(server, device, value, rid=1, endpoint="lc1"):
    """A lamp write (D3.3 §4.2's JSON PUT, token bound to it) relayed to the device: the
    code and the answer."""
    token = token_for(device, "provider-a", "write", LAMP, value, f"{LAMP}:w")
    body = d33("provider-a", "write", LAMP, value, token, rid).encode()
    reply = server.call(server.api.send(endpoint, "PUT", LAMP, body, 50))
    return reply.code, json.loads(reply.payload)


def test_a_device_registers_over_dtls_and_gets_a_relayed_command(tmp_path, admin_server):
    port = free_port()
    server = admin_server(port)
    device = registered_device(tmp_path, port)
    try:
        entry = server.wait_for("lc1")
        assert entry["identity"] == "lc1" and entry["reachable"] and entry["lifetime"] == 2
        assert {"/3303/0", "/3311/0", "/26261/0"} <= set(entry["objects"])
        assert entry["location"].startswith("/rd/") and entry["lwm2m"] == "1.1"
        code, answer = lamp(server, device, 1)
        assert (code, answer) == (204, {"id": 1, "status": 204, "reason": "changed",
                                        "value": None})
        token = token_for(device, "provider-a", "read", LAMP, None, f"{LAMP}:r")
        reply = server.call(server.api.send("lc1", "PUT", LAMP, d33(
            "provider-a", "read", LAMP, None, token, 2).encode(), 50))
        assert reply.code == 205 and json.loads(reply.payload)["value"] == 1
        code, answer = lamp(server, device, 0)
        assert code == 204
        assert server.wait_for("lc1")["updated"] >= entry["updated"]
        assert [d["endpoint"] for d in server.devices()] == ["lc1"]
        with pytest.raises(UnknownDevice):
            server.call(server.api.send("lc2", "PUT", LAMP, b"{}", 50))
        with pytest.raises(ValueError):
            server.call(server.api.send("lc1", "PATCH", LAMP, b"{}", 50))
        reply = server.call(server.api.send("lc1", "GET", LAMP))       # no body: the device's
        assert (reply.code, json.loads(reply.payload)["reason"]) == (400, "malformed")
    finally:
        device.stop()
    assert "registered at coaps://" in device.output
    assert server.device("lc1") is None                     # de-registered on its way out


def test_a_bound_token_refusal_comes_back_through_the_relay(tmp_path, admin_server):
    port = free_port()
    server = admin_server(port)
    device = registered_device(tmp_path, port)
    try:
        server.wait_for("lc1")
        token = token_for(device, "provider-a", "write", LAMP, 0, f"{LAMP}:w")
        body = d33("provider-a", "write", LAMP, 1, token).encode()       # token is for 0
        reply = server.call(server.api.send("lc1", "PUT", LAMP, body, 50))
        assert (reply.code, json.loads(reply.payload)["reason"]) == (401, "command_mismatch")
    finally:
        device.stop()


@pytest.mark.parametrize("endpoint, psk, why", [
    ("lc1", "lc2:222222", "4.03 Forbidden endpoint 'lc1' must authenticate with its own"),
    ("lc3", "lc1:111111", "4.03 Forbidden endpoint 'lc3' has no credentials"),
    ("lc1", "lc1:999999", "no answer"),     # the wrong key: the handshake fails
])
def test_a_device_must_register_with_its_own_identity(tmp_path, admin_server, endpoint, psk,
                                                      why):
    port = free_port()
    server = admin_server(port)
    run = subprocess.run([sys.executable, "-m", "pipsim.kernel.cli", *serve_argv(
        free_port(), tmp_path / "keys", "--server", f"coaps://127.0.0.1:{port}", "--server-psk",
        psk, "--endpoint", endpoint, "--lifetime", "2")], capture_output=True, text=True,
        timeout=60)
    assert run.returncode != 0 and why in run.stderr and server.devices() == []


def test_the_device_registers_again_after_the_server_restarts(tmp_path, admin_server):
    """The admin server restarted (its directory and DTLS sessions gone): the device's next
    update gets no answer or 4.04, it registers again with the same objects, and the next
    relayed command works (make test-deep: four restarts, two with the server down across
    several of the device's attempts)."""
    port = free_port()
    server = admin_server(port)
    device = registered_device(tmp_path, port)
    try:
        before = server.wait_for("lc1")
        assert lamp(server, device, 1)[0] == 204
        for restart in range(RESTARTS):
            server.stop()
            if restart % 2:
                time.sleep(3)                 # down across several attempts (make test-deep)
            server = admin_server(port)
            after = server.wait_for("lc1")
            assert after["objects"] == before["objects"]
            assert after["location"] != before["location"]
            assert lamp(server, device, restart % 2, rid=2 + restart)[0] == 204
        assert device.running
    finally:
        device.stop()
    assert "registered again at" in device.output


def test_a_device_that_vanishes_mid_command_is_a_clear_error(tmp_path, admin_server):
    """The device stopped, then killed, while a command is on its way: DeviceUnreachable
    within the server's bound, and the device list says so."""
    port = free_port()
    server = admin_server(port, timeout=2)
    device = registered_device(tmp_path, port, lifetime=60)
    try:
        server.wait_for("lc1")
        token = token_for(device, "provider-a", "write", LAMP, 1, f"{LAMP}:w")
        os.kill(device.process.pid, signal.SIGSTOP)
        pending = server.submit(server.api.send(
            "lc1", "PUT", LAMP, d33("provider-a", "write", LAMP, 1, token).encode(), 50))
        os.kill(device.process.pid, signal.SIGKILL)
        with pytest.raises(DeviceUnreachable, match="^lc1: (no answer within 2 s|unreachable)"):
            pending.result(30)
        assert server.device("lc1")["reachable"] is False
        with pytest.raises(DeviceUnreachable):
            lamp(server, device, 1, rid=2)
    finally:
        device.stop()


def test_plain_coap_relays_too(tmp_path, admin_server):
    """Plain CoAP on both sides (each warns): the device registers over its connected socket
    and the server's command comes back on it."""
    port = free_port()
    server = admin_server(port, psks=(), plain=True)
    device = registered_device(tmp_path, port, endpoint="anyone", psk=None)
    try:
        assert server.wait_for("anyone")["identity"] is None
        assert lamp(server, device, 1, endpoint="anyone")[0] == 204
    finally:
        device.stop()
