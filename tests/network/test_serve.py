"""The device on the network: ``pipsim serve`` driven by clients nobody here wrote (libcoap's
coap-client over DTLS-PSK, aiocoap's client), registration against libcoap's coap-rd."""
import asyncio
import json
import subprocess
import sys
import time

import aiocoap
import cbor2
import pytest

from pipsim.domains.gateway import LAMP, TEMPERATURE
from pipsim.tokens import Issuer, KeyVault, binding
from pipsim.tokens.keys import ISSUE

from coapnet import DEVICE, PSK, Device, d33, free_port, libcoap, pipsim_against, token_for


def coap_client(device, method, resource, body=None, key=PSK[1], fmt=50):
    """libcoap's coap-client-openssl over DTLS-PSK: (code or None, JSON answer or None)."""
    args = [libcoap("coap-client-openssl"), "-m", method, "-u", PSK[0], "-k", key, "-B", "4"]
    if body is not None:
        args += ["-t", str(fmt), "-e", body]
    run = subprocess.run(args + [f"{device.uri}/{resource}"], capture_output=True, timeout=30)
    out = next((line for line in run.stdout.decode().splitlines() if line.startswith("{")), "")
    err = run.stderr.decode()
    refused = next((line for line in err.splitlines() if line[:1] in "45" and line[1:2] == "."),
                   None)
    if refused:                               # libcoap prints 4.xx / 5.xx answers on stderr
        code, _, payload = refused.partition(" ")
        return code, json.loads(payload)
    return ("2.xx", json.loads(out)) if out else (None, None)


def test_coap_client_switches_the_lamp_and_reads_it_back(device):
    token = token_for(device, "provider-a", "write", LAMP, 1, f"{LAMP}:w")
    code, answer = coap_client(device, "put", LAMP, d33("provider-a", "write", LAMP, 1, token))
    assert code == "2.xx" and answer == {"id": 1, "status": 204, "reason": "changed", "value": None}
    token = token_for(device, "provider-a", "read", LAMP, None, f"{LAMP}:r")
    code, answer = coap_client(device, "put", LAMP, d33("provider-a", "read", LAMP, None, token, 2))
    assert answer["reason"] == "content" and answer["value"] == 1 and answer["id"] == 2


def test_a_tampered_or_replayed_command_is_refused(device):
    token = token_for(device, "provider-a", "write", LAMP, 0, f"{LAMP}:w")
    code, answer = coap_client(device, "put", LAMP, d33("provider-a", "write", LAMP, 1, token))
    assert (code, answer["reason"]) == ("4.01", "command_mismatch")
    code, answer = coap_client(device, "put", LAMP, d33("provider-a", "write", LAMP, 0, token,
                                                         device="gateway-2"))
    assert (code, answer["reason"]) == ("4.00", "wrong_device")
    assert coap_client(device, "put", LAMP, d33("provider-a", "write", LAMP, 0, token))[1][
        "reason"] == "changed"                               # not spent by the refusals
    code, answer = coap_client(device, "put", LAMP, d33("provider-a", "write", LAMP, 0, token))
    assert (code, answer["reason"]) == ("4.01", "replayed")


def test_a_client_without_the_key_gets_nothing(device):
    token = token_for(device, "provider-a", "write", LAMP, 1, f"{LAMP}:w")
    assert coap_client(device, "put", LAMP, d33("provider-a", "write", LAMP, 1, token),
                       key="654321") == (None, None)
    assert device.running


@pytest.mark.parametrize("body, fmt, code, reason", [
    ("not json", 50, "4.00", "malformed"),
    ('{"id": 1, "value": {"domain": "x"}}', 50, "4.00", "malformed"),
    ('{"id": 1, "value": "[1, 2]"}', 50, "4.00", "malformed"),
    ("x" * 3000, 50, "4.13", "oversized"),
    ("<a/>", 41, "4.15", "unsupported_format"),
])
def test_bad_bodies_get_a_clear_refusal(device, body, fmt, code, reason):
    got, answer = coap_client(device, "put", LAMP, body, fmt=fmt)
    assert (got, answer["reason"]) == (code, reason) and device.running


def test_the_path_must_be_the_commands(device):
    token = token_for(device, "provider-a", "write", LAMP, 1, f"{LAMP}:w")
    code, answer = coap_client(device, "put", TEMPERATURE, d33("provider-a", "write", LAMP, 1,
                                                               token))
    assert (code, answer["reason"]) == ("4.00", "malformed") and LAMP in answer["value"]
    code, answer = coap_client(device, "post", LAMP, d33("provider-a", "write", LAMP, 1, token))
    assert (code, answer["reason"]) == ("4.05", "not_allowed")


def test_aiocoap_client_sends_the_cbor_form(device):
    """aiocoap's client over DTLS-PSK: the command as CBOR (content-format 60), answer CBOR."""
    token = token_for(device, "provider-a", "read", TEMPERATURE, None, f"{TEMPERATURE}:r")
    o, i, r = map(int, TEMPERATURE.split("/"))
    command = {"id": 9, "domain": "provider-a", "device": DEVICE, "value": None, "token": token,
               "operation": {"code": "read", "objectId": o, "objectInstanceId": i,
                             "resourceId": r}}

    async def ask():
        context = await aiocoap.Context.create_client_context()
        context.client_credentials.load_from_dict({f"{device.uri}/*": {"dtls": {
            "psk": {"ascii": PSK[1]}, "client-identity": {"ascii": PSK[0]}}}})
        try:
            request = aiocoap.Message(code=aiocoap.PUT, uri=f"{device.uri}/{TEMPERATURE}",
                                      payload=cbor2.dumps(command), content_format=60)
            return await asyncio.wait_for(context.request(request).response, 30)
        finally:
            await context.shutdown()

    response = asyncio.run(ask())
    answer = cbor2.loads(response.payload)
    assert str(response.code) == "2.05 Content" and response.opt.content_format == 60
    assert answer["id"] == 9 and answer["reason"] == "content" and isinstance(answer["value"], int)


def test_registration_with_a_resource_directory(tmp_path):
    """libcoap's coap-rd (a CoRE resource directory, what LwM2M registration builds on) takes
    the device's registration with its object list and keeps it through an update (which it
    refuses, 4.05: the device keeps its registration).  De-registration is not checked here:
    Debian's coap-rd aborts ("double free") on a DELETE of a registration; the project's admin
    server checks it (tests/management/test_lwm2m_server.py)."""
    port = free_port()
    rd = subprocess.Popen([libcoap("coap-rd-notls"), "-A", "127.0.0.1", "-p", str(port)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    directory = f"coap://127.0.0.1:{port}"

    def get(path):
        run = subprocess.run([libcoap("coap-client-notls"), "-m", "get", "-B", "4",
                              f"{directory}/{path}"], capture_output=True, timeout=30)
        return run.stdout.decode()

    try:
        time.sleep(0.3)
        device = Device(tmp_path, "--server", directory, "--endpoint", "gw-test",
                        "--lifetime", "2")
        try:
            time.sleep(1.5)                        # an update (every half lifetime) went by
            entries = [link.split(">")[0][2:] for link in get(".well-known/core").split(",")
                       if link.startswith("</rd/")]
            assert len(entries) == 1
            objects = get(entries[0])
            assert "</26261/0>" in objects and "</3303/0>" in objects and "</3311/0>" in objects
        finally:
            device.stop()
        assert "registered at" in device.output
    finally:
        rd.terminate()
        rd.wait(timeout=10)


def test_many_clients_each_command_answered_once(device):
    """Load on loopback: 8 DTLS clients, 8 x 125 = 1,000 commands in flight together
    (domain-resource writes, each with its own bound token, client ids colliding across
    clients): every one answered once, with its own id, none lost, none duplicated."""
    clients, per_client = 8, 125
    resource = "32769/0/1"
    vault = KeyVault()
    kid = vault.add_cose_key((device.keys / "provider-a.cose").read_bytes(), uses={ISSUE}).kid
    issuer = Issuer(vault, kid, kid.decode())
    path = tuple(map(int, resource.split("/")))

    def body(client, n):
        value = f"{client}-{n}"
        token = issuer.issue(audience="provider-a", scope=f"{resource}:w", command=binding.digest(
            "provider-a", DEVICE, "write", path, value))
        return d33("provider-a", "write", resource, value, token, rid=n).encode()

    async def one_client(client):
        context = await aiocoap.Context.create_client_context()
        context.client_credentials.load_from_dict({f"{device.uri}/*": {"dtls": {
            "psk": {"ascii": PSK[1]}, "client-identity": {"ascii": PSK[0]}}}})
        try:
            requests = [context.request(aiocoap.Message(
                code=aiocoap.PUT, uri=f"{device.uri}/{resource}", payload=body(client, n),
                content_format=50)).response for n in range(per_client)]
            answers = await asyncio.wait_for(asyncio.gather(*requests), 120)
            return [json.loads(a.payload) for a in answers]
        finally:
            await context.shutdown()

    async def everyone():
        return await asyncio.gather(*(one_client(c) for c in range(clients)))

    for answers in asyncio.run(everyone()):
        assert [a["id"] for a in answers] == list(range(per_client))
        assert all(a["reason"] == "changed" for a in answers), answers
    assert device.running


def test_a_handshake_flood_from_many_ports_is_bounded(device):
    """20,000 ClientHello-shaped datagrams from as many source ports, three times: the
    device's memory stops growing (at most MAX_PEERS DTLS peers are kept; aiocoap alone kept
    one per port, ~1 KiB each) and a real client is still served."""
    import os
    import socket
    hello = (bytes.fromhex("16fefd0000000000000000") + (64).to_bytes(2, "big")
             + bytes.fromhex("01000038000000000000003800fefd") + os.urandom(49))
    port = int(device.uri.rsplit(":", 1)[1])

    def flood():
        for _ in range(20_000):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
                sender.sendto(hello, ("127.0.0.1", port))
        time.sleep(1)
        with open(f"/proc/{device.process.pid}/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))

    first = flood()
    last = max(flood(), flood())
    assert last - first < 8 * 1024, f"RSS grew from {first} to {last} KiB"
    token = token_for(device, "provider-a", "read", TEMPERATURE, None, f"{TEMPERATURE}:r")
    code, answer = coap_client(device, "put", TEMPERATURE,
                               d33("provider-a", "read", TEMPERATURE, None, token))
    assert answer["reason"] == "content" and device.running


def opmux(device, *argv, key=PSK[1]):
    return pipsim_against(device, "opmux", *argv, key=key)


def test_opmux_over_the_network(device, tmp_path):
    """D3.3 §4.6's opmux commands, as LwM2M requests on object 26261 of a running device."""
    key = tmp_path / "tenant.cose"
    assert subprocess.run([sys.executable, "-m", "pipsim.kernel.cli", "token", "keygen", "--kid",
                           "tenant-server", "--out", str(key)], capture_output=True).returncode == 0
    assert opmux(device, "exists", "tenant")[:2] == (1, "1")
    assert opmux(device, "create", "tenant", "tenant-server", str(key), "0", "store")[:2] == (
        0, "created: tenant")
    assert opmux(device, "exists", "tenant")[:2] == (0, "0")
    assert opmux(device, "isrun", "tenant")[:2] == (0, "0")             # created stopped
    assert opmux(device, "run", "tenant", "tenant-server")[:2] == (0, "changed")
    assert opmux(device, "isrun", "tenant")[1] == "1"
    status, listed, _ = opmux(device, "list", "tenant")
    assert status == 0 and listed.startswith("tenant: {") and "'created': True" in listed
    assert opmux(device, "stop", "tenant", "tenant-server")[:2] == (0, "changed")
    assert opmux(device, "delete", "tenant", "tenant-server")[:2] == (0, "deleted: tenant")
    assert opmux(device, "exists", "tenant")[:2] == (1, "1")
    status, _, err = opmux(device, "delete", "nobody", "x")
    assert status == 1
    status, _, err = opmux(device, "create", "t2", "t2-server", "not-hex")
    assert status == 2 and err == "pipsim: error: KEY: a COSE_Key file, or the secret as hex"


def test_demo_remote_plays_the_session_through_a_socket(tmp_path):
    """make run's management session, every command over CoAP + DTLS-PSK against a device of
    its own: every step as expected (the steps inside the device are make run's)."""
    device = Device(tmp_path)
    try:
        run = subprocess.run([sys.executable, "-m", "pipsim.kernel.cli", "demo-remote",
                              device.uri.removeprefix("coaps://"), "--psk", ":".join(PSK),
                              "--keys", str(device.keys)], capture_output=True, text=True,
                             timeout=120)
    finally:
        device.stop()
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) > 20 and all(line.startswith("ok ") for line in lines[1:]), run.stdout
    for reason in ("command_mismatch", "wrong_device", "replayed", "bad_signature",
                   "missing_token_b"):
        assert f"refused ({reason})" in run.stdout


def test_plain_coap_only_when_asked_with_a_warning_and_garbage_is_survived(tmp_path):
    """--plain serves without DTLS (and says so); malformed CoAP datagrams (garbage, a bad
    version, a truncated header, an option past the end) change nothing and the device
    answers the next real request."""
    import socket
    device = Device(tmp_path, "--plain")
    try:
        assert device.uri.startswith("coap://")
        port = int(device.uri.rsplit(":", 1)[1])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for junk in (b"", b"\xff" * 64, b"\x80\x01\x00\x01", b"\x40",
                         b"\x44\x01\x00\x01abcd\xdd"):
                sender.sendto(junk, ("127.0.0.1", port))
        token = token_for(device, "provider-a", "read", TEMPERATURE, None, f"{TEMPERATURE}:r")
        run = subprocess.run([libcoap("coap-client-notls"), "-m", "put", "-B", "4", "-t", "50",
                              "-e", d33("provider-a", "read", TEMPERATURE, None, token),
                              f"{device.uri}/{TEMPERATURE}"], capture_output=True, timeout=30)
        assert json.loads(run.stdout)["reason"] == "content" and device.running
    finally:
        device.stop()
    assert "WARNING: plain CoAP" in device.output
