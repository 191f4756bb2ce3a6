"""``pipsim fleet``: N devices, each its own port, endpoint and DTLS PSK, registered with
libcoap's coap-rd; driven by libcoap's coap-client-openssl with each device's PSK from the fleet
table; run here and on a Dask LocalCluster; a dead device reported; no device process left."""
import base64
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipsim.domains.gateway import TEMPERATURE
from pipsim.management.device import free_ports
from pipsim.kernel.dask_cluster import ClusterError, local_cluster
from pipsim.management.device import GRACE
from pipsim.management.fleet import LEASE, MAX_DEVICES, Fleet, FleetError
from pipsim.tokens import Issuer, KeyVault, binding
from pipsim.tokens.keys import ISSUE
from outside import command

DEEP = os.environ.get("HYPOTHESIS_PROFILE") == "deep"          # make test-deep


def read_temperature(device: dict, psk: tuple[str, str] | None = None):
    """coap-client-openssl: a token-bearing D3.3 read of the temperature, over DTLS with the
    PSK (default: the device's own from the table); the JSON answer, or None if none came."""
    vault = KeyVault()
    kid = vault.add_cose_key((Path(device["keys"]) / "provider-a.cose").read_bytes(),
                             uses={ISSUE}).kid
    path = tuple(map(int, TEMPERATURE.split("/")))
    token = Issuer(vault, kid, kid.decode()).issue(
        audience="provider-a", scope=f"{TEMPERATURE}:r",
        command=binding.digest("provider-a", "gateway", "read", path, None))
    o, i, r = path
    body = json.dumps({"id": 7, "value": json.dumps({
        "domain": "provider-a", "device": "gateway", "value": None,
        "operation": {"code": "read", "objectId": o, "objectInstanceId": i, "resourceId": r},
        "token": base64.urlsafe_b64encode(token).rstrip(b"=").decode()})})
    identity, key = psk or (device["identity"], device["key"])
    run = subprocess.run([command("coap-client-openssl"), "-m", "put", "-u", identity, "-k", key,
                          "-B", "4", "-t", "50", "-e", body, f"{device['uri']}/{TEMPERATURE}"],
                         capture_output=True, timeout=30)
    out = run.stdout.decode().strip()
    return json.loads(out) if out.startswith("{") else None


class Directory:
    """libcoap's coap-rd (a CoRE resource directory) on a loopback port."""

    def __init__(self):
        port = free_ports("127.0.0.1")[0]
        self.process = subprocess.Popen([command("coap-rd-notls"), "-A", "127.0.0.1", "-p",
                                         str(port)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        self.uri = f"coap://127.0.0.1:{port}"
        deadline = time.monotonic() + 10          # ready once it answers (bounded)
        while "</rd>" not in self.get(".well-known/core"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                pytest.fail(f"coap-rd did not answer on {self.uri} within 10 s")
            time.sleep(0.1)

    def get(self, path: str) -> str:
        return subprocess.run([command("coap-client-notls"), "-m", "get", "-B", "4",
                               f"{self.uri}/{path}"], capture_output=True,
                              timeout=30).stdout.decode()

    def registrations(self) -> list[str]:
        """Each registration's object list."""
        return [self.get(link.split(">")[0][2:]) for link in
                self.get(".well-known/core").split(",") if link.startswith("</rd/")]

    def close(self):
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def directory():
    rd = Directory()
    yield rd
    rd.close()


def gone(pid: int, within: float = 20.0) -> bool:
    """Whether process ``pid`` is gone (or a zombie nobody reaps yet) within the time."""
    deadline = time.monotonic() + within
    while True:
        try:
            with open(f"/proc/{pid}/stat") as status:
                if status.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


def children() -> set[int]:
    """The pids of this process's children and their children."""
    parents = {os.getpid()}
    found: set[int] = set()
    for _ in range(3):
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (FileNotFoundError, ProcessLookupError):
                    continue
                if ppid in parents:
                    found.add(int(entry.name))
        parents |= found
    return found


def check_fleet(fleet: Fleet, directory: Directory) -> None:
    """Every device registered with the directory, answering a read with its own PSK and
    refusing the next device's."""
    table = fleet.table()["devices"]
    assert [d["endpoint"] for d in table] == [f"dev-{i:03d}" for i in range(len(table))]
    assert len({d["port"] for d in table}) == len({d["key"] for d in table}) == len(table)
    registered = directory.registrations()
    assert len(registered) == len(table)
    assert all("</3303/0>" in objects and "</26261/0>" in objects for objects in registered)
    for device, other in zip(table, table[1:] + table[:1]):
        answer = read_temperature(device)
        assert answer["id"] == 7 and answer["reason"] == "content", answer
        assert read_temperature(device, (other["identity"], other["key"])) is None
    assert all(fleet.alive().values())


@pytest.mark.needs("DTLSSocket")
def test_a_fleet_of_three_registers_and_each_device_takes_only_its_own_psk(directory,
                                                                           tmp_path):
    with Fleet(3, server=directory.uri, keys=str(tmp_path)) as fleet:
        check_fleet(fleet, directory)
        assert [d.keys for d in fleet.devices] == [str(tmp_path / f"dev-00{i}") for i in range(3)]
        pids = [d.pid for d in fleet.devices]
    assert all(gone(pid, within=0) for pid in pids)               # stop() waited for them
    assert sorted(fleet.stop()) == ["dev-000", "dev-001", "dev-002"]
    # (their exit statuses say nothing here: Debian's coap-rd 4.3 aborts, "double free", on
    # the first de-registration, the DELETE of LwM2M 1.1 TS §6.2.3, so the others' fail)


@pytest.mark.needs("DTLSSocket")
def test_a_fleet_on_a_dask_local_cluster(directory):
    """Each device launched by a long-running task on one of 2 Dask workers, spread over
    both; a killed device reported and the others serving; stop leaves no device."""
    pytest.importorskip("dask.distributed")
    with Fleet(3, server=directory.uri, engine="dask", workers=2) as fleet:
        check_fleet(fleet, directory)
        parents = {int(Path(f"/proc/{d.pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
                   for d in fleet.devices}
        assert len(parents) == 2 and os.getpid() not in parents   # the 2 workers' children
        victim, *others = fleet.devices
        os.kill(victim.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while victim.endpoint not in fleet.exits() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert fleet.exits()[victim.endpoint].status == -signal.SIGKILL
        assert fleet.alive() == {victim.endpoint: False, **{d.endpoint: True for d in others}}
        assert read_temperature(fleet.table()["devices"][1])["reason"] == "content"
        pids = [d.pid for d in fleet.devices]
    assert sorted(fleet.stop()) == [d.endpoint for d in fleet.devices]
    assert all(gone(pid, within=0) for pid in pids)


def pipsim_fleet(tmp_path, *argv):
    """``pipsim fleet`` in a process of its own, once ready: (process, table)."""
    table, ready = tmp_path / "fleet.json", tmp_path / "ready"
    process = subprocess.Popen([sys.executable, "-m", "pipsim.kernel.cli", "fleet", "--table",
                                str(table), "--ready-file", str(ready), *argv],
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"pipsim fleet did not start: {process.communicate()[1]}")
        time.sleep(0.1)
    assert stat.S_IMODE(table.stat().st_mode) == 0o600           # it holds keys
    return process, json.loads(table.read_text())["devices"]


@pytest.mark.needs("DTLSSocket")
def test_pipsim_fleet_reports_a_dead_device_and_stops_the_rest(tmp_path):
    process, table = pipsim_fleet(tmp_path, "--devices", "3")
    try:
        for device in table:                      # keys never in a command line (world-readable)
            assert device["key"].encode() not in Path(f"/proc/{device['pid']}/cmdline").read_bytes()
        victim = table[1]
        os.kill(victim["pid"], signal.SIGKILL)
        assert gone(victim["pid"])
        for device in (table[0], table[2]):
            assert read_temperature(device)["reason"] == "content"
        assert all(not gone(d["pid"], within=0) for d in (table[0], table[2]))
        process.send_signal(signal.SIGINT)
        status = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    err = process.stderr.read()
    assert f"fleet: {victim['endpoint']} exited with status -9" in err, err
    assert err.count("exited") == 1                                 # the others cleanly (0)
    assert err.splitlines()[-1] == "fleet: stopped 3 devices"
    assert status == 1, err                                       # a device died
    assert all(gone(d["pid"], within=0) for d in table)
    assert not Path(table[0]["keys"]).exists()                    # private folders removed


@pytest.mark.needs("DTLSSocket")
@pytest.mark.parametrize("engine", ["local", "dask"])
def test_a_killed_fleet_leaves_no_device(tmp_path, engine):
    """SIGKILL gives the fleet no chance to stop anything: each device's lifeline (and, on
    Dask, the local cluster's workers' own) ends it."""
    if engine == "dask":
        pytest.importorskip("dask.distributed")
    process, table = pipsim_fleet(tmp_path, "--devices", "2", "--engine", engine)
    process.kill()
    process.wait(timeout=10)
    assert all(gone(d["pid"]) for d in table)


@pytest.mark.needs("DTLSSocket")
def test_one_device_failing_to_start_stops_the_others():
    """dev-001 gets a bad argument: start() names it, its status and stderr, and no process
    of the fleet remains."""
    before = children()
    with pytest.raises(FleetError) as refused:
        Fleet(3, extra=lambda ep: ["--lifetime", "soon"] if ep == "dev-001" else []).start()
    message = str(refused.value)
    assert "1 of 3 devices did not start" in message
    assert "dev-001 exited with status 2" in message and "not a whole number" in message
    assert children() <= before


def test_bad_parameters_are_refused_before_anything_starts(tmp_path):
    for kwargs, why in [
        (dict(n=0), "1 to 256 devices"),
        (dict(n=MAX_DEVICES + 1), "1 to 256 devices"),
        (dict(n=3, base_port=65534), "not all in 1024..65535"),
        (dict(n=1, engine="k8s"), "unknown engine"),
        (dict(n=1, scheduler="tcp://127.0.0.1:1"), "are for --engine dask"),
        (dict(n=1, prefix="a:b"), "prefix 'a:b'"),
        (dict(n=1, workers=0), "at least 1 worker"),
    ]:
        with pytest.raises(FleetError, match=why):
            Fleet(**kwargs)
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        before = children()
        with pytest.raises(FleetError, match=f"ports in use: 127.0.0.1:{port} \\(dev-001\\)"):
            Fleet(2, base_port=port - 1).start()
        assert children() <= before
    run = subprocess.run([sys.executable, "-m", "pipsim.kernel.cli", "fleet", "--devices", "0"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "pipsim: error: a fleet has 1 to 256 devices" in run.stderr


def test_an_unreachable_scheduler_is_a_clear_error():
    pytest.importorskip("dask.distributed")
    port = free_ports("127.0.0.1")[0]
    with pytest.raises(ClusterError, match="cannot reach the Dask scheduler"):
        Fleet(1, engine="dask", scheduler=f"tcp://127.0.0.1:{port}").start()


@pytest.mark.skipif(not DEEP, reason="24 device processes: in make test-deep (HYPOTHESIS_PROFILE=deep)")
@pytest.mark.needs("DTLSSocket")
@pytest.mark.parametrize("engine", ["local", "dask"])
def test_a_fleet_of_twenty_four(directory, engine):
    if engine == "dask":
        pytest.importorskip("dask.distributed")
    with Fleet(24, server=directory.uri, engine=engine, workers=2, ready_timeout=300) as fleet:
        check_fleet(fleet, directory)
        pids = [d.pid for d in fleet.devices]
    assert all(gone(pid, within=0) for pid in pids)


@pytest.mark.needs("DTLSSocket")
def test_a_killed_fleet_on_an_existing_scheduler_leaves_no_device(tmp_path):
    """The cluster outlives the fleet here (``--scheduler``): once the killed fleet's
    heartbeat is ``LEASE`` old, each task stops its device; the workers stay up."""
    pytest.importorskip("dask.distributed")
    with local_cluster(2) as cluster:
        process, table = pipsim_fleet(tmp_path, "--devices", "2", "--engine", "dask",
                                      "--scheduler", cluster.scheduler_address)
        process.kill()
        process.wait(timeout=10)
        assert all(gone(d["pid"], within=LEASE + GRACE + 10) for d in table)
        assert len(cluster.workers) == 2
