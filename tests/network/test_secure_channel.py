"""The Secure Channel on the device (D3.3 §3.5, §4.5): curl against a real ``pipsim serve
--secure-channel``, and the aiohttp app in process (aiohttp's test server, 127.0.0.1) for the
fine-grained cases: who may do what, bad input refused with nothing changed, a run that
really changes the device, and nothing reachable but from the loopback."""
import asyncio
import json
import socket
import subprocess
import sys

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from pipsim.domains import channel_policy
from pipsim.domains.channel_operations import Operations
from pipsim.domains.gateway import LAMP, Gateway
from pipsim.domains.lwm2m import LwM2MClient
from pipsim.domains.secure_channel import SecureChannel
from pipsim.tokens import KeyVault
from pipsim.tokens.keys import HMAC_256_64

from coapnet import Device, d33, libcoap, token_for

ADMIN = ("root", "s3cret")
APP, OPS = ("app1", "k1"), ("ops", "k2")


def tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ---- in process ----
@pytest.fixture(scope="module")
def gateway():
    return Gateway()


@pytest.fixture
def channel(gateway):
    """A channel with service "lamp" (driver lamp: app "light" = APP) and "ops" (opmux:
    app "tenants" = OPS)."""
    channel = SecureChannel(Operations(gateway.runtime, LwM2MClient(gateway.runtime, "gateway"),
                                       gateway.image), ADMIN)
    assert all("error" not in answer for _, answer in exchange(
        channel,
        ("PUT", "/service", ADMIN, {"service": "lamp", "command": "driver lamp"}),
        ("PUT", "/service", ADMIN, {"service": "ops", "command": "opmux"}),
        ("PUT", "/service/lamp", ADMIN, {"application": "light", "identity": APP[0],
                                         "key": APP[1]}),
        ("PUT", "/service/ops", ADMIN, {"application": "tenants", "identity": OPS[0],
                                        "key": OPS[1]})))
    return channel


def exchange(channel, *steps, app=None):
    """Each (method, path, (identity, key) or None, body: a dict as JSON, bytes or str as
    they are) against the channel's app on 127.0.0.1: [(HTTP status, JSON answer)]."""
    async def go():
        async with TestClient(TestServer(app or channel.app(), host="127.0.0.1")) as client:
            out = []
            for method, path, who, body in steps:
                params = {"identity": who[0], "key": who[1]} if who else {}
                data = json.dumps(body) if isinstance(body, (dict, list)) else body
                async with client.request(method, path, params=params, data=data) as answer:
                    out.append((answer.status, await answer.json(content_type=None)))
            return out
    return asyncio.run(go())


def one(channel, method, path, who, body=None):
    (answer,) = exchange(channel, (method, path, who, body))
    return answer


def state(channel):
    """Everything the administrator can see: services, their commands and applications."""
    policy = channel.policy
    return {name: (policy.command(name), {app: policy.identity(name, app)
                                          for app in policy.applications(name)})
            for name in policy.services()}


def test_an_allowed_run_changes_the_device(channel, gateway):
    for value, word in ((1, "on"), (0, "off")):
        assert one(channel, "POST", "/service/lamp", APP, {"service": "lamp", "params": word}) \
            == (200, {"service": "lamp", "exit": 0, "output": "changed"})
        assert gateway.lamp.get(0) == value                    # the lamp's register
        assert one(channel, "POST", "/service/lamp", APP, {"params": ["read"]})[1][
            "output"] == str(value)


def test_opmux_creates_and_deletes_a_domain_as_the_owner(channel, gateway):
    secret = "ab" * 32
    run = lambda params: one(channel, "POST", "/service/ops", OPS, {"params": params})[1]
    assert run(f"create tenant tenant-server {secret} 0 store") == {
        "service": "ops", "exit": 0, "output": "created: tenant"}
    assert "tenant" in gateway.runtime.managers
    assert run("exists tenant")["exit"] == 0 and run("isrun tenant")["output"] == "0"
    assert run("run tenant tenant-server")["output"] == "changed"
    assert run("isrun tenant")["output"] == "1"
    assert run("delete tenant tenant-server") == {"service": "ops", "exit": 0,
                                                  "output": "deleted: tenant"}
    assert "tenant" not in gateway.runtime.managers
    assert run("delete tenant x")["exit"] == 1               # the owner's refusal, as opmux's


def test_a_pinned_command_runs_only_its_operation(channel, gateway):
    """A service "opmux isrun" cannot be made to create: params follow the pinned words."""
    exchange(channel, ("PUT", "/service", ADMIN, {"service": "probe", "command": "opmux isrun"}),
             ("PUT", "/service/probe", ADMIN, {"application": "p", "identity": APP[0],
                                               "key": APP[1]}))
    answer = one(channel, "POST", "/service/probe", APP,
                 {"params": f"create evil evil-server {'ab' * 32}"})[1]
    assert answer["output"] == "0" and "evil" not in gateway.runtime.managers


def test_the_applications_see_and_run_only_their_services(channel):
    assert one(channel, "GET", "/service", ADMIN, None)[1] == {"service": ["lamp", "ops"]}
    assert one(channel, "GET", "/service", APP, None)[1] == {"service": ["lamp"]}
    assert one(channel, "GET", "/service", OPS, None)[1] == {"service": ["ops"]}
    before = state(channel)
    assert one(channel, "POST", "/service/ops", APP, {"params": "list -"}) == (
        200, {"error": "identity 'app1' is not linked to service 'ops'"})
    assert one(channel, "POST", "/service/nothing", APP, {"params": "x"}) == (
        200, {"error": "no service 'nothing'"})
    for method, path, body in (
            ("PUT", "/service", {"service": "x", "command": "driver"}),
            ("GET", "/service/lamp", None), ("GET", "/service/lamp/light", None),
            ("PUT", "/service/lamp", {"application": "a", "identity": "b", "key": "c"}),
            ("DELETE", "/service/lamp", None), ("DELETE", "/service/lamp/light", None)):
        status, answer = one(channel, method, path, APP, body)
        assert status == 200 and answer["error"].startswith("only the administrator may")
    assert one(channel, "POST", "/service/lamp", ADMIN, {"params": "on"})[1] == {
        "error": "the administrator runs no service: link an application to it"}
    assert state(channel) == before


@pytest.mark.parametrize("who", [(APP[0], "k2"), ("nobody", "k1"), (ADMIN[0], "wrong"),
                                 (APP[0], ""), None])
def test_a_wrong_key_or_identity_gets_nothing(channel, gateway, who):
    lamp, before = gateway.lamp.get(0), state(channel)
    for method, path, body in (("GET", "/service", None), ("POST", "/service/lamp",
                                                           {"params": "on"}),
                               ("PUT", "/service", {"service": "x", "command": "driver"}),
                               ("GET", "/service/lamp/light", None)):
        status, answer = one(channel, method, path, who, body)
        assert status == 200 and answer["error"] in (
            "unknown identity or wrong key", "give ?identity=<id>&key=<key>, each once")
    assert gateway.lamp.get(0) == lamp and state(channel) == before
    assert one(channel, "GET", "/service", APP)[1] == {"service": ["lamp"]}   # still serving


def test_an_unknown_identity_costs_a_key_check_too(channel, monkeypatch):
    """No shortcut tells an unknown identity from a wrong key: both derive a digest."""
    calls = []
    real = channel_policy._digest
    monkeypatch.setattr(channel_policy, "_digest", lambda key, salt: calls.append(key)
                        or real(key, salt))
    one(channel, "GET", "/service", ("nobody", "guess"))
    assert calls == ["guess"]


@pytest.mark.parametrize("body, error", [
    (b"{not json", "the body is not JSON"),
    (b"\xff\xfe\x00", "the body is not JSON"),
    (b"[" * 3000 + b"]" * 3000, "the body is over 4096 bytes"),
    (b"[" * 2000 + b"]" * 2000, "the body is not JSON"),
    (b'["lamp", "on"]', "the body must be a JSON object"),
    ({"service": "lamp", "params": 5}, "params: a string of words, or a list of strings"),
    ({"service": "lamp", "params": ["on", 1]}, "params: a string of words"),
    ({"service": "ops", "params": "on"}, "the body names service 'ops', the URL 'lamp'"),
    ({"params": "on", "command": "/bin/sh"}, "unknown 'command'"),
    ({"params": "blink"}, "lamp has no action 'blink': one of on, off, read"),
    ({"params": "on 5"}, "lamp on takes no value"),
    ({"params": ""}, "driver params: DEVICE ACTION [VALUE]"),
    ({"params": ["on"] * 17}, "params: at most 16 words"),
])
def test_bad_run_requests_are_refused_and_change_nothing(channel, gateway, body, error):
    lamp = gateway.lamp.get(0)
    status, answer = one(channel, "POST", "/service/lamp", APP, body)
    assert status == 200 and error in answer["error"]
    assert gateway.lamp.get(0) == lamp


@pytest.mark.parametrize("service, params, error", [
    ("ops", "frobnicate x", "opmux params: COMMAND DOMAIN [PARAMS]"),
    ("ops", "create", "opmux params: COMMAND DOMAIN [PARAMS]"),
    ("ops", "create t2", "opmux create: create DOMAIN IDENT KEY [LPORT] [CODE]"),
    ("ops", "create t2 t2-server /etc/passwd", "opmux create: KEY: the secret as hex"),
    ("ops", "create t2 t2-server ab", "opmux create: KEY: 32 to 64 bytes of secret, not 1"),
    ("ops", f"create t2 t2-server {'ab' * 65}", "params: at most 16 words of 128 characters"),
    ("period", "set abc", "period set takes one number in 1..3600000"),
    ("period", "set 0", "period set takes one number"),
    ("period", "set ²", "period set takes one number"),
])
def test_params_not_valid_for_the_operation(channel, gateway, service, params, error):
    if service == "period":
        exchange(channel, ("PUT", "/service", ADMIN, {"service": "period",
                                                     "command": "driver period"}),
                 ("PUT", "/service/period", ADMIN, {"application": "p", "identity": OPS[0],
                                                    "key": OPS[1]}))
    domains = set(gateway.runtime.managers)
    status, answer = one(channel, "POST", f"/service/{service}", OPS, {"params": params})
    assert status == 200 and answer["error"].startswith(error)
    assert set(gateway.runtime.managers) == domains


@pytest.mark.parametrize("body, error", [
    ({"service": "sh", "command": "/opt/odsi/opmux/opmux.py"}, "unknown command "),
    ({"service": "sh", "command": "opmux frob"}, "opmux has no 'frob'"),
    ({"service": "sh", "command": "driver toaster"}, "no driver 'toaster'"),
    ({"service": "sh", "command": "driver lamp blink"}, "lamp has no action 'blink'"),
    ({"service": "sh", "command": "opmux create x"}, "opmux takes at most 1 fixed words"),
    ({"service": "sh", "command": ["driver"]}, "unknown command"),
    ({"service": "../x", "command": "driver"}, "service: 1..64 of"),
    ({"service": "lamp", "command": "driver"}, "service 'lamp' exists"),
    ({"service": "sh"}, "the body is {service, command}; missing command"),
])
def test_bad_services_are_refused(channel, body, error):
    before = state(channel)
    status, answer = one(channel, "PUT", "/service", ADMIN, body)
    assert status == 200 and error in answer["error"]
    assert state(channel) == before


@pytest.mark.parametrize("body, error", [
    ({"application": "a2", "identity": APP[0], "key": "other"},
     "identity 'app1' is known with another key"),
    ({"application": "a2", "identity": ADMIN[0], "key": ADMIN[1]},
     "identity 'root' is the administrator's"),
    ({"application": "light", "identity": "x", "key": "y"}, "has an application 'light'"),
    ({"application": "a b", "identity": "x", "key": "y"}, "application: 1..64 of"),
    ({"application": "a2", "identity": "x y", "key": "y"}, "identity: 1..64 of"),
    ({"application": "a2", "identity": "x", "key": ""}, "key: a string of 1..256"),
    ({"application": "a2", "identity": ["x"], "key": "y"}, "identity: 1..64 of"),
])
def test_bad_applications_are_refused(channel, body, error):
    before = state(channel)
    status, answer = one(channel, "PUT", "/service/lamp", ADMIN, body)
    assert status == 200 and error in answer["error"]
    assert state(channel) == before
    assert one(channel, "PUT", "/service/none", ADMIN, body)[1] == {"error": "no service 'none'"}


def test_an_identity_keeps_one_key_across_services(channel):
    assert "error" not in one(channel, "PUT", "/service/ops", ADMIN, {
        "application": "both", "identity": APP[0], "key": APP[1]})[1]
    assert one(channel, "GET", "/service", APP)[1] == {"service": ["lamp", "ops"]}
    exchange(channel, ("DELETE", "/service/ops/both", ADMIN, None),
             ("DELETE", "/service/lamp/light", ADMIN, None))
    assert channel.policy.credential(APP[0]) is None          # unlinked: forgotten
    assert one(channel, "GET", "/service", APP)[1] == {"error": "unknown identity or wrong key"}


def test_a_credential_made_meanwhile_for_a_known_identity_is_refused():
    """Two administrators' requests for one new identity, each hashing its own key: the
    second to land finds the identity known with another credential (no silent rekeying)."""
    policy = channel_policy.Policy("root")
    policy.add_service("s", ("driver",))
    first, second = (channel_policy.Credential.make("app", key) for key in ("k1", "k2"))
    policy.add_application("s", "a", first)
    with pytest.raises(channel_policy.PolicyError, match="known with another key"):
        policy.add_application("s", "b", second)
    assert policy.applications("s") == ["a"] and policy.credential("app") is first


def test_keys_are_kept_hashed_and_never_returned(channel):
    assert one(channel, "GET", "/service/lamp/light", ADMIN)[1] == {
        "application": "light", "identity": APP[0], "key": None}
    credential = channel.policy.credential(APP[0])
    assert APP[1].encode() not in (credential.digest, credential.salt)
    assert credential.digest == channel_policy._digest(APP[1], credential.salt)


def test_deleting_a_service_unlinks_its_applications(channel, gateway):
    assert one(channel, "DELETE", "/service/lamp", ADMIN)[1] == {"deleted": "lamp"}
    assert one(channel, "POST", "/service/lamp", APP, {"params": "on"})[1] == {
        "error": "unknown identity or wrong key"}
    assert one(channel, "DELETE", "/service/lamp", ADMIN)[1] == {"error": "no service 'lamp'"}
    assert one(channel, "DELETE", "/service/ops/nobody", ADMIN)[1] == {
        "error": "service 'ops' has no application 'nobody'"}


def test_a_forged_owner_key_gets_the_domains_refusal(gateway):
    """The channel's authority is only the owner's token: the owner domain checks it like
    any other (a channel given a key the owner does not know runs nothing)."""
    class Forged:
        def __getattr__(self, name):
            return getattr(gateway.runtime, name)

        @staticmethod
        def enrol(holder, kid):
            vault = KeyVault()
            vault.generate(kid, HMAC_256_64)
            return vault.export(kid, private=True)

    channel = SecureChannel(Operations(Forged(), LwM2MClient(gateway.runtime, "gateway"),
                                       gateway.image), ADMIN)
    lamp = gateway.lamp.get(0)
    answer = exchange(channel,
                      ("PUT", "/service", ADMIN, {"service": "lamp", "command": "driver lamp"}),
                      ("PUT", "/service/lamp", ADMIN, {"application": "l", "identity": APP[0],
                                                       "key": APP[1]}),
                      ("POST", "/service/lamp", APP, {"params": "off" if lamp else "on"}))[-1][1]
    assert answer["exit"] == 1 and answer["output"].startswith("bad_signature")
    assert gateway.lamp.get(0) == lamp


def test_only_the_loopback_is_served(channel):
    """A request from another address, or naming another host (DNS rebinding), is refused
    before anything is read; the channel listens on loopback addresses only."""
    @web.middleware
    async def from_afar(request, handler):
        return await handler(request.clone(remote="192.0.2.7"))

    app = channel.app()
    app.middlewares.insert(0, from_afar)
    before = state(channel)
    assert exchange(channel, ("PUT", "/service", ADMIN, {"service": "x", "command": "driver"}),
                    app=app) == [(403, {"error": "the Secure Channel is local only"})]

    async def rebound(host):
        async with TestClient(TestServer(channel.app(), host="127.0.0.1")) as client:
            async with client.get("/service", params=dict(zip(("identity", "key"), ADMIN)),
                                  headers={"Host": host}) as answer:
                return answer.status
    for host in ("attacker.example", "127.0.0.1.attacker.example", "2130706433", "[bad",
                 "127.0.0.1:x", ""):
        assert asyncio.run(rebound(host)) == 403
    assert asyncio.run(rebound("localhost:80")) == 200 and state(channel) == before
    for host in ("0.0.0.0", "192.0.2.7", "::", "localhost"):
        with pytest.raises(ValueError, match="loopback address only"):
            asyncio.run(channel.start(tcp_port(), host))


# ---- a real device, driven with curl ----
def curl(*args):
    run = subprocess.run(["curl", "-sS", "--max-time", "20", *args], capture_output=True,
                         text=True, timeout=30)
    try:
        return run.returncode, json.loads(run.stdout)
    except ValueError:
        return run.returncode, run.stdout


def test_curl_against_the_eight_endpoints_of_a_real_device(tmp_path):
    port = tcp_port()
    device = Device(tmp_path, "--plain", "--secure-channel", str(port), "--channel-admin",
                    ":".join(ADMIN))
    base = f"http://127.0.0.1:{port}/service"
    admin, app = "?identity=root&key=s3cret", f"?identity={APP[0]}&key={APP[1]}"

    def put(url, body):
        return curl("-X", "PUT", "-H", "Content-Type: application/json", "-d", json.dumps(body),
                    url)[1]

    try:
        assert curl(base + admin) == (0, {"service": []})
        assert put(base + admin, {"service": "gpio", "command": "driver lamp"}) == {
            "service": "gpio", "command": "driver lamp"}
        assert put(base + "/gpio" + admin, {"application": "light", "identity": APP[0],
                                            "key": APP[1]}) == {"service": "gpio",
                                                                "application": "light"}
        assert curl(base + "/gpio" + admin)[1] == {"applications": ["light"]}
        assert curl(base + "/gpio/light" + admin)[1] == {"application": "light",
                                                         "identity": APP[0], "key": None}
        assert curl(base + app)[1] == {"service": ["gpio"]}
        assert curl("-X", "POST", "-d", '{"service": "gpio", "params": "on"}',
                    base + "/gpio" + app)[1] == {"service": "gpio", "exit": 0,
                                                 "output": "changed"}
        # the lamp is on, as read over CoAP by provider A (its virtual actuator)
        token = token_for(device, "provider-a", "read", LAMP, None, f"{LAMP}:r")
        coap = subprocess.run([libcoap("coap-client-notls"), "-m", "put", "-B", "4", "-t", "50",
                               "-e", d33("provider-a", "read", LAMP, None, token),
                               f"{device.uri}/{LAMP}"], capture_output=True, timeout=30)
        assert json.loads(coap.stdout)["value"] == 1
        # refusals, the device serving on
        assert curl("-X", "POST", "-d", '{"params": "on"}', base + "/gpio?identity=app1&key=no"
                    )[1] == {"error": "unknown identity or wrong key"}
        assert curl("-X", "POST", "-d", "{", base + "/gpio" + app)[1] == {
            "error": "the body is not JSON"}
        assert curl("-H", "Host: attacker.example", "-w", "%{http_code}", base + admin)[1] \
            .endswith("403")
        assert curl("-X", "DELETE", base + "/gpio/light" + admin)[1] == {"deleted": "light"}
        assert curl("-X", "DELETE", base + "/gpio" + admin)[1] == {"deleted": "gpio"}
        assert curl(base + admin)[1] == {"service": []}
        # only 127.0.0.1 listens: another loopback address, IPv6's, is refused the connection
        assert curl(f"http://127.0.0.2:{port}/service{admin}")[0] == 7
        assert curl("-g", f"http://[::1]:{port}/service{admin}")[0] == 7
        assert listening(port) == {("127.0.0.1", port)}
        assert device.running
    finally:
        device.stop()
    assert "secure channel on http://127.0.0.1:" in device.output


def listening(port):
    """The TCP sockets listening on ``port`` on this machine, from /proc/net/tcp{,6}."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            for row in list(rows)[1:]:
                local, state = row.split()[1], row.split()[3]
                address, hexport = local.split(":")
                if state == "0A" and int(hexport, 16) == port:         # LISTEN
                    found.add((socket.inet_ntop(
                        socket.AF_INET if len(address) == 8 else socket.AF_INET6,
                        bytes.fromhex(address)[::-1] if len(address) == 8 else b"".join(
                            bytes.fromhex(address[i:i + 8])[::-1] for i in range(0, 32, 8))),
                        port))
    return found


@pytest.mark.parametrize("args, error", [
    (["--secure-channel", "5000"], "--secure-channel PORT and --channel-admin IDENTITY:KEY go "
                                   "together"),
    (["--secure-channel", "99999", "--channel-admin", "a:b"], "--secure-channel takes a port"),
    (["--secure-channel", "5000", "--channel-admin", "root"], "--channel-admin takes "
                                                              "IDENTITY:KEY"),
    (["--secure-channel", "5000", "--channel-admin", "r t:k"], "--channel-admin: identity"),
])
def test_bad_channel_options(args, error):
    run = subprocess.run([sys.executable, "-m", "pipsim.kernel.cli", "serve", "--plain", *args],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and error in run.stderr
