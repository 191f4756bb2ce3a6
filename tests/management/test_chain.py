"""The whole D3.3 §2.1 chain, from a shell as a user drives it: `pipsim pki`, the Keystore
Manager, a domain's Token Generator, the admin server (LwM2M + HTTP), a device registered with
it over DTLS, and `pipsim admin command` (key, ciphered request, token, relay, answer); curl
against the admin server's HTTP interface, libcoap's coap-client against the registered
device."""
import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipsim.domains.lwm2m import b64url
from pipsim.management import service
from pipsim.management.admin import command_map, token
from pipsim.management.keystore import KeystoreClient

from coapnet import PSK, Served, free_port, libcoap, serve_argv
from mgmt_helpers import curl_path, keystore_env

DEVICE_ID, DEVICE_KEY = "gw-id", "gw-key-1234"         # the device's PSK at the admin server
LAMP = "3311/0/5850"
pytestmark = pytest.mark.needs("DTLSSocket")           # the device and the admin server


def pipsim(*args, check=True, **kw) -> subprocess.CompletedProcess:
    run = subprocess.run([sys.executable, "-m", "pipsim.kernel.cli", *map(str, args)],
                         capture_output=True, text=True, timeout=120, **kw)
    if check and run.returncode != 0:
        pytest.fail(f"pipsim {args[0]} failed ({run.returncode}): {run.stderr}")
    return run


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """Every service in a process of its own, on loopback; a dict of their URLs and paths."""
    root = tmp_path_factory.mktemp("chain")
    pki = root / "pki"
    pipsim("pki", "init", pki)
    for server in ("keystore", "tg-provider-a", "admin-server"):
        pipsim("pki", "issue", pki, server, "--server")
    pipsim("pki", "issue", pki, "provider-a")              # the domain's application server
    started = []

    def start(ready_name, argv, env=None):
        started.append(Served(root / ready_name, argv, env))
        return started[-1]
    try:
        coap_port = free_port()
        admin = start("admin.ready", [
            "admin-server", "--coap", f"127.0.0.1:{coap_port}",
            "--psk", f"gateway:{DEVICE_ID}:{DEVICE_KEY}",
            "--bind", "127.0.0.1:0", "--tls", pki / "admin-server"])
        coaps, https = admin.urls
        keystore = start("keystore.ready", [
            "keystore", "--bind", "127.0.0.1:0", "--tls", pki / "keystore", "--store",
            root / "store", "--reader", "tg-provider-a"], keystore_env())
        device_port, keys = free_port(), root / "keys"
        device = start("device.ready", [*serve_argv(device_port, keys), "--server", coaps,
                                        "--server-psk", f"{DEVICE_ID}:{DEVICE_KEY}"])
        (root / "provider-a.toml").write_text("\n".join([
            'issuer = "provider-a-server"', f'key = "{keys / "provider-a.cose"}"',
            'audience = "provider-a"', "[[grant]]", 'client = "provider-a"',
            'domain = "provider-a"', 'devices = ["gateway"]', 'operations = ["read", "write"]',
            f'paths = ["{LAMP}"]', ""]))
        generator = start("tg.ready", [
            "token-generator", "--bind", "127.0.0.1:0", "--tls", pki / "tg-provider-a",
            "--keystore", keystore.uri, "--policy", root / "provider-a.toml"])
        app = pki / "provider-a"
        curl = [curl_path(), "-s", "--max-time", "30", "--cacert", pki / "ca.pem",
                "--cert", app / "cert.pem", "--key", app / "key.pem"]
        # the application creates its domain's key (D3.3 §4.1), as the alias it is
        made = subprocess.run([*curl, "-X", "POST", "-o", "/dev/null", "-w", "%{http_code}",
                               f"{keystore.uri}/keys/provider-a"], capture_output=True, text=True,
                              timeout=60)
        assert made.stdout == "201", made
        yield {"admin": https, "keystore": keystore.uri, "generator": generator.uri,
               "tls": app, "curl": curl, "device": device, "device_port": device_port}
    finally:
        for served in reversed(started):
            served.stop()


def admin_command(chain, *args, check=True):
    return pipsim("admin", "command", "--tls", chain["tls"], "--keystore", chain["keystore"],
                  "--generator", chain["generator"], "--admin", chain["admin"],
                  "--domain", "provider-a", "--device", "gateway", *args, check=check)


def curl(chain, *args) -> tuple[int, dict | str]:
    run = subprocess.run([*chain["curl"], "-w", "\n%{http_code}", *map(str, args)],
                         capture_output=True, text=True, timeout=60)
    body, _, code = run.stdout.rpartition("\n")
    try:
        return int(code), json.loads(body)
    except ValueError:
        return int(code), body


def test_the_device_registered_and_is_listed(chain):
    assert curl(chain, f"{chain['admin']}/verify") == (200, "Admin Server RESTApi successfully started")
    code, listed = curl(chain, f"{chain['admin']}/devices")
    assert code == 200 and [d["endpoint"] for d in listed["devices"]] == ["gateway"]
    assert "/3311/0" in listed["devices"][0]["objects"]
    devices = json.loads(pipsim("admin", "devices", "--tls", chain["tls"], "--admin",
                                chain["admin"]).stdout)
    assert devices == listed
    assert curl(chain, f"{chain['admin']}/devices/nobody")[0] == 404


def test_a_command_through_the_whole_chain(chain):
    written = json.loads(admin_command(chain, "--code", "write", "--path", LAMP, "--value",
                                       "1").stdout)
    assert written["coap"] == "2.04" and written["answer"]["reason"] == "changed"
    read = json.loads(admin_command(chain, "--code", "read", "--path", LAMP, "--id", "2").stdout)
    assert read["coap"] == "2.05" and read["answer"]["value"] == 1


def test_what_the_policy_does_not_grant_gets_no_token(chain):
    run = admin_command(chain, "--code", "write", "--path", "32769/0/1", "--value", '"x"',
                        check=False)
    assert run.returncode == 2 and "token generator: 403" in run.stderr


def test_the_admin_server_cannot_change_a_command(chain):
    """A relayed request whose value was changed on the way is refused by the device."""
    command = command_map("provider-a", "gateway", "write", LAMP, 1, 9)

    async def a_token():
        keystore = KeystoreClient(chain["keystore"], chain["tls"])
        try:
            async with service.client_session(chain["tls"]) as session:
                return await token(session, keystore, chain["generator"], "provider-a", command)
        finally:
            await keystore.close()
    changed = {k: v for k, v in command.items() if k != "id"} | {"value": 0}
    inner = changed | {"token": b64url(asyncio.run(a_token()))}
    body = json.dumps({"id": 9, "value": json.dumps(inner)})
    code, answer = curl(chain, "-H", "Content-Type: application/json", "-d", body,
                        f"{chain['admin']}/devices/gateway/commands")
    assert code == 200 and answer["coap"] == "4.01"
    assert answer["answer"]["reason"] == "command_mismatch"


@pytest.mark.parametrize("body, ctype, status", [
    ("{", "application/json", 400),
    ('{"id": 1, "value": "[]"}', "application/json", 400),
    ('{"id": 1}', "text/plain", 415),
])
def test_bad_requests_to_the_admin_server(chain, body, ctype, status):
    code, answer = curl(chain, "-H", f"Content-Type: {ctype}", "-d", body,
                        f"{chain['admin']}/devices/gateway/commands")
    assert code == status and "error" in answer
    assert curl(chain, f"{chain['admin']}/verify")[0] == 200


def test_coap_client_reaches_the_registered_device(chain):
    run = subprocess.run([libcoap("coap-client-openssl"), "-B", "5", "-u", PSK[0], "-k", PSK[1],
                          f"coaps://127.0.0.1:{chain['device_port']}/.well-known/core"],
                         capture_output=True, text=True, timeout=60)
    assert "</3311/0/5850>" in run.stdout


def test_a_caller_without_a_certificate_gets_nothing(chain):
    run = subprocess.run([curl_path(), "-s", "--max-time", "10", "--cacert",
                          str(Path(chain["tls"]).parent / "ca.pem"), f"{chain['admin']}/devices"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and run.stdout == ""


def test_the_readmes_chain_demo_runs():
    """`make chain` (tools/chain-demo.sh), the README's demo, from start to its last line."""
    script = Path(__file__).resolve().parents[2] / "tools" / "chain-demo.sh"
    env = {**os.environ, "PIPSIM": f"{sys.executable} -m pipsim.kernel.cli"}
    run = subprocess.run(["sh", str(script)], capture_output=True, text=True, timeout=300,
                         env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert '"coap": "2.04"' in run.stdout and '"value": 1' in run.stdout
    assert "403" in run.stderr and run.stdout.rstrip().endswith("chain-demo: ok")
