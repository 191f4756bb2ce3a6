"""``pipsim admin-server`` driven by hand with libcoap's coap-client: the registration
interface (LwM2M 1.1 TS §6.2) over DTLS-PSK with D3.3 §3.2's per-endpoint identities, and
hostile registrations refused with a clear code while the server keeps serving."""
import re
import subprocess
import sys

import pytest

from coapnet import Served, free_port, libcoap
from outside import skip_unless

OBJECTS = '</>;rt="oma.lwm2m";ct=60,</3/0>,</3311/0>'
PSKS = {"lc1": "111111", "lc2": "222222", "lc3": "333333"}
QUERY = "lt=60&lwm2m=1.1&b=U"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    skip_unless("DTLSSocket")
    folder = tmp_path_factory.mktemp("admin")
    served = Served(folder / "ready", [
        "admin-server", "--coap", f"127.0.0.1:{free_port()}", "--max-registrations", "2",
        "--bind", "127.0.0.1:0", "--insecure-local",
        *(a for ep, key in PSKS.items() for a in ("--psk", f"{ep}:{ep}:{key}"))])
    yield served
    served.stop()


def coap(server, method, path, body=None, identity="lc1", key=None, fmt=40, tool="openssl"):
    """coap-client: (code or None, Location-Path as "/a/b" or None, diagnostic payload)."""
    args = [libcoap(f"coap-client-{tool}"), "-v", "6", "-m", method, "-B", "3"]
    if tool == "openssl":
        args += ["-u", identity, "-k", key or PSKS.get(identity, "000000")]
    if body is not None:
        args += ["-t", str(fmt), "-e", body]
    run = subprocess.run(args + [f"{server.uri}/{path}"], capture_output=True, timeout=30)
    log = (run.stdout + run.stderr).decode(errors="replace")
    answers = re.findall(r"t:(?:ACK|CON|NON) c:(\d\.\d\d) [^\n]*", log)
    if not answers:
        return None, None, None
    line = next(m for m in log.splitlines() if f"c:{answers[-1]}" in m and "t:" in m)
    location = re.findall(r"Location-Path:([^,\s\]]+)", line)
    payload = re.search(r":: '(.*)'", line)
    return (answers[-1], "/" + "/".join(location) if location else None,
            payload[1] if payload else None)


def register(server, endpoint, identity=None, body=OBJECTS, query=QUERY, **kw):
    return coap(server, "post", f"rd?ep={endpoint}&{query}", body, identity or endpoint, **kw)


def test_a_registration_by_hand_updated_and_removed(server):
    code, location, _ = register(server, "lc1")
    assert code == "2.01" and re.fullmatch(r"/rd/[0-9a-f]{16}", location)
    assert coap(server, "post", location[1:])[0] == "2.04"                 # update, nothing new
    assert coap(server, "post", f"{location[1:]}?lt=120", "</3/0>")[0] == "2.04"
    assert coap(server, "post", location[1:], identity="lc2")[0] == "4.03"   # not lc2's
    assert coap(server, "delete", location[1:], identity="lc2")[0] == "4.03"
    assert coap(server, "delete", location[1:])[0] == "2.02"
    assert coap(server, "delete", location[1:])[0] == "4.04"
    assert server.running


@pytest.mark.parametrize("endpoint, identity, key, expected", [
    ("lc1", "lc1", "654321", None),          # wrong key: no handshake, no answer
    ("lc1", "lc2", None, "4.03"),            # lc2's identity registering as lc1
    ("lc9", "lc1", None, "4.03"),            # no credentials for lc9
    ("lc1", "nobody", "111111", None),       # unknown identity: no handshake
])
def test_a_registration_with_someone_elses_identity_is_refused(server, endpoint, identity, key,
                                                               expected):
    code, location, reason = register(server, endpoint, identity, key=key)
    assert code == expected and location is None
    assert expected is None or "lc" in reason
    assert server.running


@pytest.mark.parametrize("query, body, fmt, code, reason", [
    (QUERY, OBJECTS, 40, None, None),                          # (the valid one: 2.01)
    ("lt=60", OBJECTS, 40, "4.00", "ep: the endpoint name is required"),
    ("lt=abc", OBJECTS, 40, "4.00", "the lifetime is seconds"),
    ("lt=0", OBJECTS, 40, "4.00", "the lifetime is seconds"),
    ("lt=60&lt=61", OBJECTS, 40, "4.00", "given twice"),
    ("lt=60&evil=1", OBJECTS, 40, "4.00", "unknown query parameter 'evil'"),
    ("lwm2m=9.9", OBJECTS, 40, "4.00", "supported 1.0, 1.1, 1.2"),
    ("b=S", OBJECTS, 40, "4.00", "b=U"),
    (QUERY, "<<", 40, "4.00", "not link-format"),
    (QUERY, "</3/0>,</4/0", 40, "4.00", "not link-format"),
    (QUERY, b"\xff\xfe", 40, "4.00", "not link-format"),          # not UTF-8
    (QUERY, "</3/x>", 40, "4.00", "not an object link"),
    (QUERY, "</99999/0>", 40, "4.00", "not an object link"),
    (QUERY, ",".join(f"</{n}/0>" for n in range(200)), 40, "4.00", "at most 128"),
    (QUERY, "</3/0>" * 400, 40, "4.13", "at most 2048"),
    (QUERY, OBJECTS, 50, "4.15", "link-format (40)"),
])
def test_malformed_registrations_are_refused_clearly(server, query, body, fmt, code, reason):
    endpoint = "" if query == "lt=60" else "ep=lc2&"
    got, location, why = coap(server, "post", f"rd?{endpoint}{query}", body, "lc2", fmt=fmt)
    if code is None:
        assert got == "2.01" and location
        return
    assert (got, location) == (code, None) and reason in why
    assert server.running and register(server, "lc2")[0] == "2.01"     # still serving


@pytest.mark.parametrize("method, path, code", [
    ("post", "rd/0123456789abcdef", "4.04"),
    ("delete", "rd/nothing", "4.04"),
    ("post", "rd/a/b", "4.04"),
    ("get", "rd", "4.05"),
    ("put", "rd", "4.05"),
])
def test_unknown_locations_and_methods(server, method, path, code):
    assert coap(server, method, path)[0] == code and server.running


def test_the_directory_is_bounded_and_a_re_registration_replaces(server):
    """At most two registrations (``--max-registrations 2``): a third endpoint is refused
    (5.03); the same endpoint registering again replaces its old registration."""
    first = register(server, "lc1")[1]
    register(server, "lc2")
    assert register(server, "lc3")[:1] == ("5.03",)
    again = register(server, "lc1")[1]
    assert again != first and coap(server, "post", first[1:])[0] == "4.04"
    assert coap(server, "post", again[1:])[0] == "2.04"


def test_plain_coap_only_when_asked_with_a_warning(tmp_path):
    served = Served(tmp_path / "ready", ["admin-server", "--coap", f"127.0.0.1:{free_port()}",
                                         "--plain", "--bind", "127.0.0.1:0", "--insecure-local"])
    try:
        assert served.uri.startswith("coap://")
        code, location, _ = coap(served, "post", f"rd?ep=anyone&{QUERY}", OBJECTS, tool="notls")
        assert code == "2.01" and location.startswith("/rd/")
    finally:
        served.stop()
    assert "WARNING: plain CoAP" in served.output and "registered anyone" in served.output


def test_without_keys_or_plain_the_server_does_not_start():
    run = subprocess.run([sys.executable, "-m", "pipsim.kernel.cli", "admin-server", "--coap",
                          "127.0.0.1:5999", "--insecure-local"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "ENDPOINT:IDENTITY:KEY" in run.stderr
