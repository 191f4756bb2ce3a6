"""A fleet behind the admin server (issue 13): each device registered over DTLS with its own
PSK there (`pipsim admin-server --psk-file`), commands through the whole chain (Token
Generator → admin server → device) by the hundred (make test-deep: 24 devices, thousands),
none lost, none duplicated, each answered once; the fan-out of `pipsim admin command`; the
admin server restarted under the fleet; a device killed while commands are on their way."""
import asyncio
import json
import os
import re
import signal
import subprocess
import sys

import pytest

from pipsim.management.admin import ChainError, command_map, commands_url, request_body, send, token
from pipsim.management.fleet import FleetError, make_server_keys, read_server_keys, write_server_keys
from pipsim.management.testbed import DOMAIN, LAMP, SETTING, ChainTestbed

from coapnet import Served, free_port
from outside import skip_unless

DEEP = os.environ.get("HYPOTHESIS_PROFILE") == "deep"          # make test-deep
DEVICES, ROUNDS = (24, 60) if DEEP else (4, 8)                  # rounds of write + read each


@pytest.fixture(scope="module")
def bed(tmp_path_factory):
    skip_unless("DTLSSocket")
    with ChainTestbed(tmp_path_factory.mktemp("load"), DEVICES, lifetime=10,
                 relay_timeout=3) as testbed:
        yield testbed


def pipsim(*args, check=True) -> subprocess.CompletedProcess:
    run = subprocess.run([sys.executable, "-m", "pipsim.kernel.cli", *map(str, args)],
                         capture_output=True, text=True, timeout=120)
    if check:
        assert run.returncode == 0, run.stderr
    return run


def admin_command(bed, *args, check=True):
    return pipsim("admin", "command", "--tls", bed.tls, "--keystore", bed.keystore,
                  "--generator", bed.route.generator, "--admin", bed.admin, "--domain", DOMAIN,
                  *args, check=check)


async def run_all(bed, commands: list[dict], parallel: int = 16) -> list:
    """Each command through the chain, at most ``parallel`` at a time: answers (or the
    ChainError) in order."""
    bound = asyncio.Semaphore(parallel)
    async with bed.client() as (session, keystore):
        async def one(command):
            async with bound:
                try:
                    return await bed.route.run(session, keystore, command)
                except ChainError as error:
                    return error
        return await asyncio.gather(*map(one, commands))


def endpoints(bed) -> list[str]:
    return [d.endpoint for d in bed.fleet.devices]


# ---- the fleet's keys at the admin server ----

def test_every_device_registered_with_its_own_key(bed):
    assert sorted(bed.registered()) == endpoints(bed)
    listed = json.loads(pipsim("admin", "devices", "--tls", bed.tls, "--admin", bed.admin).stdout)
    assert sorted(d["endpoint"] for d in listed["devices"]) == endpoints(bed)
    keys = read_server_keys(bed.root / "server-keys.json")
    assert len({key for _, key in keys.values()}) == DEVICES
    assert all(len(key) == 16 for _, key in keys.values())


def test_server_keys_file_refusals(tmp_path):
    keys = make_server_keys(3)
    path = tmp_path / "keys.json"
    write_server_keys(path, keys)
    assert os.stat(path).st_mode & 0o777 == 0o600 and read_server_keys(path) == keys
    with pytest.raises(FleetError, match="exists"):
        write_server_keys(path, keys)
    os.chmod(path, 0o640)
    with pytest.raises(FleetError, match="others may read it"):
        read_server_keys(path)
    cases = {"long.json": ({"psks": [{"endpoint": "a", "identity": "a", "key": "k" * 17}]},
                           "17 bytes: 1 to 16"),
             "twice.json": ({"psks": [{"endpoint": "a", "identity": "a", "key": "k"},
                                      {"endpoint": "b", "identity": "a", "key": "j"}]},
                            "appears twice"),
             "shape.json": ({"devices": []}, "not"),
             "empty.json": ({"psks": [{"endpoint": "a", "identity": "", "key": "k"}]},
                            "non-empty")}
    for name, (table, message) in cases.items():
        fd = os.open(tmp_path / name, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(table, handle)
        with pytest.raises(FleetError, match=message):
            read_server_keys(tmp_path / name)


def test_the_admin_server_refuses_a_readable_or_bad_key_file(tmp_path):
    path = tmp_path / "keys.json"
    write_server_keys(path, make_server_keys(2))
    os.chmod(path, 0o644)
    run = pipsim("admin-server", "--coap", "127.0.0.1:5999", "--psk-file", path,
                 "--insecure-local", "--bind", "127.0.0.1:0", check=False)
    assert run.returncode == 2 and "others may read it" in run.stderr
    run = pipsim("admin-server", "--psk", "a:a:" + "k" * 19, "--insecure-local", check=False)
    assert run.returncode == 2 and "19 bytes: 1 to 16" in run.stderr
    run = pipsim("serve", "--psk", "lc1:" + "k" * 17, check=False)
    assert run.returncode == 2 and "17 bytes: 1 to 16" in run.stderr


# ---- fan-out ----

def test_fan_out_to_listed_and_all_devices(bed):
    some = endpoints(bed)[::2]
    run = admin_command(bed, "--device", ",".join(some), "--code", "write", "--path", SETTING,
                        "--value", '"fanned"', "--id", "5")
    written = json.loads(run.stdout)
    assert (written["accepted"], written["refused"], written["failed"]) == (len(some), 0, 0)
    assert sorted(written["answers"]) == some
    assert all(a["answer"]["id"] == 5 and a["coap"] == "2.04" for a in written["answers"].values())
    read = json.loads(admin_command(bed, "--all-devices", "--parallel", "3", "--code", "read",
                                    "--path", SETTING, "--id", "6").stdout)
    assert sorted(read["answers"]) == endpoints(bed) and read["accepted"] == DEVICES
    assert {ep for ep, a in read["answers"].items() if a["answer"]["value"] == "fanned"} == \
        set(some)


def test_fan_out_reports_each_failure_and_serves_the_rest(bed):
    first = endpoints(bed)[0]
    run = admin_command(bed, "--device", f"{first},nobody", "--code", "read", "--path", LAMP,
                        check=False)
    answer = json.loads(run.stdout)
    assert run.returncode == 2 and (answer["accepted"], answer["failed"]) == (1, 1)
    assert "404" in answer["answers"]["nobody"]["error"]
    assert answer["answers"][first]["coap"] == "2.05"
    run = admin_command(bed, "--device", f"{first},{first}", "--code", "read", "--path", LAMP,
                        check=False)
    assert run.returncode == 2 and "twice" in run.stderr


# ---- load ----

def test_load_none_lost_none_duplicated(bed):
    """Per device, ROUNDS rounds of (write a value of its own, read it back), devices in
    parallel: every command answered once, under its own id, each read seeing its write."""
    devices = endpoints(bed)
    ids = iter(range(1000, 10 ** 6))

    async def device_rounds(device: str) -> list[tuple[dict, object]]:
        done = []
        for i in range(ROUNDS):
            value = f"{device}:{i}"
            for command in (command_map(DOMAIN, device, "write", SETTING, value, next(ids)),
                            command_map(DOMAIN, device, "read", SETTING, None, next(ids))):
                done.append((command, (await run_all(bed, [command], 1))[0]))
        return done

    async def everything():
        return await asyncio.gather(*map(device_rounds, devices))
    results = [pair for rounds in asyncio.run(everything()) for pair in rounds]
    assert len(results) == 2 * ROUNDS * DEVICES
    errors = [answer for _, answer in results if isinstance(answer, Exception)]
    assert not errors
    sent = [command["id"] for command, _ in results]
    answered = [answer["answer"]["id"] for _, answer in results]
    assert answered == sent and len(set(answered)) == len(answered)
    assert all(answer["endpoint"] == command["device"] for command, answer in results)
    for (write, written), (read, got) in zip(results[0::2], results[1::2]):
        assert write["device"] == read["device"] and written["coap"] == "2.04"
        assert got["coap"] == "2.05" and got["answer"]["value"] == write["value"]


def test_load_concurrent_commands_per_device(bed):
    """Many reads in flight on every device at once: each answered once, with its own id."""
    commands = [command_map(DOMAIN, device, "read", LAMP, None, 20000 + i * DEVICES + k)
                for i in range(ROUNDS * 2) for k, device in enumerate(endpoints(bed))]
    answers = asyncio.run(run_all(bed, commands, parallel=32))
    assert not [a for a in answers if isinstance(a, Exception)]
    assert [a["answer"]["id"] for a in answers] == [c["id"] for c in commands]
    per_device = {}
    for answer in answers:
        per_device[answer["endpoint"]] = per_device.get(answer["endpoint"], 0) + 1
    assert per_device == {device: ROUNDS * 2 for device in endpoints(bed)}


# ---- the admin server restarted, a device killed ----

def test_the_admin_server_restarted_under_the_fleet(bed):
    bed.start_admin()
    bed.wait_registered()
    assert sorted(bed.registered()) == endpoints(bed)
    commands = [command_map(DOMAIN, d, "read", LAMP, None, 30000 + k)
                for k, d in enumerate(endpoints(bed))]
    answers = asyncio.run(run_all(bed, commands))
    assert [a["coap"] for a in answers] == ["2.05"] * DEVICES


def test_a_device_killed_mid_command(bed):
    """Commands on their way to a device (stopped, then killed): each a 504 from the admin
    server, as one sent after; the others, sent meanwhile, all served."""
    victim, *others = endpoints(bed)[::-1]
    pid = next(d.pid for d in bed.fleet.devices if d.endpoint == victim)

    async def scenario():
        async def killer():
            await asyncio.sleep(1.0)             # the victim's commands are waiting for it
            os.kill(pid, signal.SIGKILL)
        victims = [command_map(DOMAIN, victim, "read", LAMP, None, 40000 + i) for i in range(4)]
        rest = [command_map(DOMAIN, d, "read", LAMP, None, 41000 + i * DEVICES + k)
                for i in range(3) for k, d in enumerate(others)]
        os.kill(pid, signal.SIGSTOP)
        answers, _ = await asyncio.gather(run_all(bed, victims + rest, parallel=8), killer())
        return answers[:len(victims)], answers[len(victims):]
    to_victim, to_others = asyncio.run(scenario())
    assert all(not isinstance(a, Exception) and a["coap"] == "2.05" for a in to_others)
    assert all(isinstance(a, ChainError) and "504" in str(a) and "Device unreachable" in str(a)
               for a in to_victim), to_victim
    [after] = asyncio.run(run_all(bed, [command_map(DOMAIN, victim, "read", LAMP, None, 42000)]))
    assert isinstance(after, ChainError) and "504" in str(after)
    assert not bed.fleet.alive()[victim]


def test_a_token_for_one_device_is_refused_by_another(bed):
    """Fan-out asks one token per device: a token obtained for dev-000's command, sent with
    the same command for another device, is refused by that device (each device of a fleet
    checks tokens with its own key; the binding to the device, ``command_mismatch``, is
    tests/tokens' and test_chain's)."""
    first, other = endpoints(bed)[:2]

    async def misuse():
        async with bed.client() as (session, keystore):
            command = command_map(DOMAIN, first, "write", SETTING, "x", 50000)
            token_a = await token(session, keystore, bed.route.generator, DOMAIN, command)
            return await send(session, bed.admin, {**command, "device": other}, token_a)
    answer = asyncio.run(misuse())
    assert answer["endpoint"] == other and answer["coap"] == "4.01", answer
    assert answer["answer"]["reason"] == "bad_signature"      # its own key: not dev-000's


@pytest.mark.needs("DTLSSocket")
def test_the_fleet_command_line_behind_an_admin_server(tmp_path):
    """`pipsim fleet --make-server-keys`, the admin server loading them, `pipsim fleet
    --named --server-keys` registering every device over DTLS with its own key."""
    keys = tmp_path / "keys.json"
    pipsim("fleet", "--devices", "2", "--prefix", "cli", "--make-server-keys", keys)
    assert os.stat(keys).st_mode & 0o777 == 0o600
    again = pipsim("fleet", "--devices", "2", "--make-server-keys", keys, check=False)
    assert again.returncode == 2 and "exists" in again.stderr
    coap = f"127.0.0.1:{free_port()}"
    admin = Served(tmp_path / "admin.ready", ["admin-server", "--coap", coap, "--psk-file", keys,
                                              "--bind", "127.0.0.1:0", "--insecure-local"])
    try:
        fleet = Served(tmp_path / "fleet.ready", [
            "fleet", "--devices", "2", "--prefix", "cli", "--named", "--server",
            f"coaps://{coap}", "--server-keys", keys])
        try:
            listed = json.loads(pipsim("admin", "devices", "--insecure-local", "--admin",
                                       admin.urls[1]).stdout)
            assert sorted(d["endpoint"] for d in listed["devices"]) == ["cli-000", "cli-001"]
            assert sorted(d["identity"] for d in listed["devices"]) == ["cli-000", "cli-001"]
        finally:
            fleet.stop()
        assert fleet.process.returncode == 0, fleet.output
    finally:
        admin.stop()


def test_a_relayed_command_says_where_its_time_went(bed):
    """The admin server's Server-Timing header (bench/bench_chain.py reads it): its values are
    not checked, only that both are there."""
    device = endpoints(bed)[0]

    async def relayed():
        async with bed.client() as (session, keystore):
            command = command_map(DOMAIN, device, "read", LAMP, None, 60000)
            token_a = await token(session, keystore, bed.route.generator, DOMAIN, command)
            async with session.post(commands_url(bed.admin, device),
                                    json=request_body(command, token_a)) as answer:
                return answer.status, answer.headers.get("Server-Timing", "")
    status, timing = asyncio.run(relayed())
    assert status == 200 and re.fullmatch(r"device;dur=[0-9.]+, relay;dur=-?[0-9.]+", timing)
