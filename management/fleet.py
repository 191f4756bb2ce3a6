"""A fleet of devices (issue 13 point 5): N ``pipsim serve`` processes, each its own endpoint
(``dev-000``, ...), port, clients' DTLS PSK (a fresh random key) and, with a server, its own
LwM2M registration; run here (engine ``local``) or, beyond one machine, each by a long-running
task on a Dask cluster (engine ``dask``: ``pipsim.kernel.dask_cluster``).  docs/fleet.md.

Bounded: at most ``MAX_DEVICES`` devices, ports checked free, every wait limited in time.  A
device that dies is reported and not restarted; the others go on.  No device outlives the
fleet (``pipsim.management.device``: process sessions, a lifeline; with Dask a stop Event and a
heartbeat lease as well).
"""
from __future__ import annotations

import json
import os
import re
import secrets
import signal
import sys
import threading
import time
from argparse import Namespace
from contextlib import ExitStack
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from pipsim.kernel.argtypes import count, count_in, positive_seconds
from pipsim.kernel.coaps import check_psk_key
from pipsim.kernel import exits
from pipsim.kernel.dask_cluster import dask_client, distributed
from pipsim.kernel.errors import PipsimError
from pipsim.kernel.keyfiles import write_private

from .device import GRACE, DeviceProcess, DeviceSpec, Exit, free_ports, port_free

ENGINES = ("local", "dask")
MAX_DEVICES = 256            # one fleet; each device is a process of ~65 MB
READY_TIMEOUT = 120.0        # seconds for the whole fleet to be ready
LEASE = 10.0                 # dask: a device task stops its device when the heartbeat is older
WORKER = "worker"            # dask: --host worker binds each device to its worker's address
PSK_BYTES = 12               # 16 base64url characters, 96 bits: the DTLS server (tinydtls)
                             # fails handshakes with longer PSKs (19 characters already)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,31}")


class FleetError(PipsimError, RuntimeError):
    """A fleet that could not start (which devices, how they ended), or bad parameters."""


@dataclass(frozen=True)
class Device:
    """A ready device: where it listens, its clients' PSK, its process (on its host) and
    where its domain servers' keys are (``pipsim serve --export-keys``, on its host)."""
    endpoint: str
    host: str
    port: int
    identity: str
    key: str
    pid: int
    keys: str

    @property
    def uri(self) -> str:
        """Where its clients reach it: coaps://HOST:PORT."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"coaps://{host}:{self.port}"

    @property
    def psk(self) -> tuple[str, str]:
        """Its clients' PSK: (identity, key)."""
        return self.identity, self.key

    @classmethod
    def of(cls, process: DeviceProcess) -> "Device":
        """The ready device a started device process is."""
        s = process.spec
        assert process.keys is not None                 # set when it started
        return cls(s.endpoint, s.host, process.port, s.identity, s.key, process.pid,
                   process.keys)


class Fleet:
    """N devices, started by ``start()`` (or ``with``), stopped by ``stop()``.

    ``server_keys``: each device's PSK (identity, key) at its coaps:// ``server`` by endpoint
    (``make_server_keys``, ``read_server_keys``); ``named``: each device named as its endpoint
    (commands carry it as their ``device``: what the admin server relays to an endpoint;
    otherwise every device has its image's name); ``extra(endpoint)`` gives further ``pipsim
    serve`` arguments for one device; ``keys`` a folder for the devices' domain keys
    (``keys/<endpoint>``; default: a private folder per device, removed when it stops)."""

    def __init__(self, n: int, *, image: str | None = None, arch: str | None = None,
                 server: str | None = None, lifetime: int | None = None,
                 engine: str = "local", scheduler: str | None = None, workers: int = 2,
                 host: str = "127.0.0.1", base_port: int | None = None, prefix: str = "dev",
                 keys: str | None = None, extra: Callable[[str], Sequence[str]] | None = None,
                 server_keys: Mapping[str, tuple[str, str]] | None = None, named: bool = False,
                 ready_timeout: float = READY_TIMEOUT):
        if not 1 <= n <= MAX_DEVICES:
            raise FleetError(f"a fleet has 1 to {MAX_DEVICES} devices, not {n}")
        if engine not in ENGINES:
            raise FleetError(f"unknown engine {engine!r}; engines: {', '.join(ENGINES)}")
        if engine == "local" and (scheduler is not None or host == WORKER):
            raise FleetError("--scheduler and --host worker are for --engine dask")
        if workers < 1:
            raise FleetError(f"a Dask cluster has at least 1 worker, not {workers}")
        if base_port is not None and not 1024 <= base_port <= 65536 - n:
            raise FleetError(f"ports {base_port}..{base_port + n - 1} are not all in "
                             "1024..65535")
        if not _NAME.fullmatch(prefix):
            raise FleetError(f"prefix {prefix!r}: letters, digits and '-', at most 32")
        if not 0 < ready_timeout <= 3600:
            raise FleetError(f"ready timeout {ready_timeout} s is not in (0, 3600]")
        names = [f"{prefix}-{i:03d}" for i in range(n)]
        if server_keys is not None:
            if server is None:
                raise FleetError("server keys are the devices' keys at their --server")
            missing = [name for name in names if name not in server_keys]
            if missing:
                raise FleetError(f"no server key for {', '.join(missing[:5])}"
                                 f"{' ...' if len(missing) > 5 else ''}")
        self.engine_name, self.server, self.ready_timeout = engine, server, ready_timeout
        self._engine = _Local() if engine == "local" else _Dask(workers, scheduler)
        ports: Sequence[int]
        if base_port is not None:
            ports = range(base_port, base_port + n)
        else:                   # local: chosen here, distinct; dask: on the device's worker
            ports = free_ports(host, n) if engine == "local" else [0] * n
        self.specs = [
            DeviceSpec(name, host, port, name, secrets.token_urlsafe(PSK_BYTES), image, arch,
                       server, lifetime, str(Path(keys) / name) if keys else None,
                       (("--name", name) if named else ())
                       + (tuple(extra(name)) if extra else ()),
                       (*server_keys[name],) if server_keys is not None else None)
            for name, port in zip(names, ports)]
        self.devices: list[Device] = []
        self._stopped: dict[str, Exit] | None = None

    def __enter__(self) -> "Fleet":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> list[Device]:
        """Launch every device and wait until all are ready (bounded); FleetError, every
        device stopped, if one is not."""
        if self.engine_name == "local":
            taken = [s for s in self.specs if not port_free(s.host, s.port)]
            if taken:
                raise FleetError("ports in use: " + ", ".join(
                    f"{s.host}:{s.port} ({s.endpoint})" for s in taken))
        try:
            ready = self._engine.start(self.specs, self.ready_timeout)
        except BaseException:
            self.stop()
            raise
        if len(ready) < len(self.specs):
            exits = self.stop()
            failed = [exits[s.endpoint] for s in self.specs if s.endpoint not in ready]
            raise FleetError(f"{len(failed)} of {len(self.specs)} devices did not start in "
                             f"{self.ready_timeout:g} s: " + "; ".join(map(str, failed)))
        self.devices = [ready[s.endpoint] for s in self.specs]
        return self.devices

    def exits(self) -> dict[str, Exit]:
        """The devices that have ended so far, by endpoint (not restarted)."""
        return self._stopped if self._stopped is not None else self._engine.exits()

    def alive(self) -> dict[str, bool]:
        """Whether each ready device still runs, by endpoint."""
        ended = self.exits()
        return {d.endpoint: d.endpoint not in ended for d in self.devices}

    def stop(self) -> dict[str, Exit]:
        """Stop every device still running (bounded: SIGTERM, then SIGKILL); every device's
        exit, by endpoint.  Idempotent."""
        if self._stopped is None:
            self._stopped = self._engine.stop()
        return self._stopped

    def table(self) -> dict:
        """The fleet table: for the admin server (endpoints, PSKs) and clients."""
        return {"engine": self.engine_name, "server": self.server,
                "devices": [{**asdict(d), "uri": d.uri} for d in self.devices]}

    def write_table(self, path: str | os.PathLike) -> None:
        """The table as JSON, mode 0600 (it holds keys), replacing ``path`` at once."""
        path = Path(path)
        partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        write_private(partial, json.dumps(self.table(), indent=1).encode())
        os.replace(partial, path)


def make_server_keys(n: int, prefix: str = "dev") -> dict[str, tuple[str, str]]:
    """Fresh PSKs for the devices of a fleet of ``n`` at their admin server, by endpoint: the
    identity is the endpoint, the key ``PSK_BYTES`` random bytes (16 characters)."""
    if not 1 <= n <= MAX_DEVICES:
        raise FleetError(f"a fleet has 1 to {MAX_DEVICES} devices, not {n}")
    return {name: (name, secrets.token_urlsafe(PSK_BYTES))
            for name in (f"{prefix}-{i:03d}" for i in range(n))}


def write_server_keys(path: str | os.PathLike, keys: Mapping[str, tuple[str, str]]) -> None:
    """The server keys as JSON ``{"psks": [{"endpoint", "identity", "key"}, ...]}``, created
    0600 (an existing file is not replaced)."""
    rows = [{"endpoint": e, "identity": i, "key": k} for e, (i, k) in keys.items()]
    try:
        write_private(path, json.dumps({"psks": rows}, indent=1).encode())
    except FileExistsError:
        raise FleetError(f"{path} exists: server keys are not replaced") from None


def read_server_keys(path: str | os.PathLike) -> dict[str, tuple[str, str]]:
    """The server keys of ``write_server_keys``'s file, by endpoint; FleetError naming what is
    wrong if the file is readable by others than its owner, malformed, repeats an endpoint or
    identity, or holds a key tinydtls cannot use."""
    try:
        mode = os.stat(path).st_mode
        if mode & 0o077:
            raise FleetError(f"{path} holds keys but others may read it (mode "
                             f"{mode & 0o777:o}): chmod 600")
        with open(path) as handle:
            rows = json.load(handle)["psks"]
        keys = {row["endpoint"]: (row["identity"], row["key"]) for row in rows}
    except OSError as error:
        raise FleetError(f"server keys {path}: {error.strerror}") from None
    except (ValueError, KeyError, TypeError):
        raise FleetError(f"server keys {path}: not {{\"psks\": [{{\"endpoint\", "
                         "\"identity\", \"key\"}, ...]}") from None
    identities = [identity for identity, _ in keys.values()]
    if len(keys) != len(rows) or len(set(identities)) != len(identities):
        raise FleetError(f"server keys {path}: an endpoint or identity appears twice")
    for endpoint, (identity, key) in keys.items():
        if not all(isinstance(v, str) and v for v in (endpoint, identity, key)):
            raise FleetError(f"server keys {path}: {endpoint!r}: endpoint, identity and key "
                             "are non-empty strings")
        try:
            check_psk_key(identity, key)
        except ValueError as error:
            raise FleetError(f"server keys {path}: {error}") from None
    return keys


class _Local:
    """Every device a child process of this one."""

    def __init__(self) -> None:
        self._processes: dict[str, DeviceProcess] = {}
        self._exits: dict[str, Exit] = {}

    def start(self, specs: list[DeviceSpec], timeout: float) -> dict[str, Device]:
        deadline = time.monotonic() + timeout
        for spec in specs:
            process = DeviceProcess(spec)
            process.start()
            self._processes[spec.endpoint] = process
        return {name: Device.of(p) for name, p in self._processes.items()
                if p.wait_ready(deadline)}

    def exits(self) -> dict[str, Exit]:
        for name, process in self._processes.items():
            if name not in self._exits and process.poll() is not None:
                self._exits[name] = process.exit()
        return dict(self._exits)

    def stop(self) -> dict[str, Exit]:
        running = {n: p for n, p in self._processes.items() if n not in self.exits()}
        for process in running.values():
            process.signal_stop()
        deadline = time.monotonic() + GRACE
        for name, process in running.items():
            self._exits[name] = process.stop(deadline)
        return dict(self._exits)


class _Dask:
    """Every device launched and supervised by a long-running task (``supervise``) on a
    worker of a Dask cluster; stopped through a distributed Event the tasks watch."""

    def __init__(self, workers: int, scheduler: str | None):
        self._workers, self._scheduler = workers, scheduler
        self.name = f"pipsim-fleet-{secrets.token_hex(6)}"
        self._stack = ExitStack()
        self._futures: dict = {}
        self._exits: dict[str, Exit] = {}
        self._beating = threading.Event()
        self._client = None

    def start(self, specs: list[DeviceSpec], timeout: float) -> dict[str, Device]:
        deadline = time.monotonic() + timeout
        d = distributed()
        self._client = client = self._stack.enter_context(
            dask_client(self._workers, self._scheduler))
        lease = d.Variable(f"{self.name}-lease", client=client)
        lease.set(0)
        threading.Thread(target=self._beat, args=(lease,), daemon=True).start()
        queue = d.Queue(f"{self.name}-ready", client=client)
        workers = sorted(client.scheduler_info()["workers"])
        for i, spec in enumerate(specs):        # spread over the workers, one after another
            self._futures[spec.endpoint] = client.submit(
                supervise, spec, self.name, timeout, key=f"{self.name}-{spec.endpoint}",
                workers=[workers[i % len(workers)]], allow_other_workers=True, pure=False)
        ready: dict[str, Device] = {}
        while len(ready) < len(specs) and time.monotonic() < deadline:
            if any(f.done() for n, f in self._futures.items() if n not in ready):
                break                            # one ended before it was ready
            try:
                device = Device(**queue.get(timeout=0.5))
            except TimeoutError:
                continue
            ready[device.endpoint] = device
        return ready

    def _beat(self, lease: Any) -> None:
        """The fleet's heartbeat: the tasks stop their devices when it stops (fleet gone)."""
        count = 0
        while not self._beating.wait(1.0):
            count += 1
            try:
                lease.set(count)
            except Exception:                   # the scheduler is gone: the tasks stop
                return

    def exits(self) -> dict[str, Exit]:
        for name, future in self._futures.items():
            if name not in self._exits and future.done():
                self._exits[name] = _outcome(name, future)
        return dict(self._exits)

    def stop(self) -> dict[str, Exit]:
        try:
            if self._futures:
                d = distributed()
                d.Event(f"{self.name}-stop", client=self._client).set()
                try:
                    d.wait(list(self._futures.values()), timeout=GRACE + 5)
                except TimeoutError:
                    pass
                self.exits()
                for name in self._futures.keys() - self._exits.keys():
                    self._exits[name] = Exit(name, None, "its task did not stop in time")
        finally:
            self._beating.set()
            self._stack.close()                 # a local cluster's workers go, with them
        return dict(self._exits)                # any device they still held (lifelines)


def _outcome(name: str, future: Any) -> Exit:
    try:
        return future.result()
    except Exception as error:                  # the task itself was lost (its worker died)
        return Exit(name, None, f"{type(error).__name__}: {error}")


def supervise(spec: DeviceSpec, fleet: str, ready_timeout: float) -> Exit:
    """One device's life as a long-running Dask task: launch it on this worker (``--host
    worker``: on the worker's address), tell the fleet when it is ready (the fleet's Queue),
    and stop it when the fleet sets its stop Event, when the fleet's heartbeat is older than
    ``LEASE`` (the fleet is gone), or return when the device dies by itself.  Its exit.
    Never launched twice: a task Dask re-runs after losing its worker returns at once."""
    d = distributed()
    d.secede()                                  # long-running: leave the worker's thread pool
    launched = d.Event(f"{fleet}-{spec.endpoint}-launched")
    if launched.is_set():
        return Exit(spec.endpoint, None, "not relaunched: its worker was lost")
    launched.set()
    if spec.host == WORKER:
        from distributed.comm import get_address_host
        spec = replace(spec, host=get_address_host(d.get_worker().address))
    try:
        device = DeviceProcess(spec)
    except ValueError as error:
        return Exit(spec.endpoint, None, str(error))
    device.start()
    try:
        if device.wait_ready(time.monotonic() + ready_timeout):
            d.Queue(f"{fleet}-ready").put(asdict(Device.of(device)))
            _watch(device, d.Event(f"{fleet}-stop"), d.Variable(f"{fleet}-lease"))
    finally:
        ended = device.stop()                   # also when anything above raised
    return ended


def _watch(device: DeviceProcess, stop: Any, lease: Any) -> None:
    """Until the device dies, the stop Event is set, or the heartbeat is ``LEASE`` old."""
    beat, seen = None, time.monotonic()
    while device.poll() is None and time.monotonic() - seen < LEASE:
        try:
            if stop.wait(timeout=1):
                return
            now = lease.get(timeout=1)
        except (OSError, TimeoutError):         # the scheduler is out of reach
            continue
        if now != beat:
            beat, seen = now, time.monotonic()


# ---- the command line ----

def register(subparsers: Any) -> None:
    """Add ``pipsim fleet`` to the command line's subcommands."""
    fleet = subparsers.add_parser("fleet", help="start N devices (pipsim serve), locally or on "
                                  "a Dask cluster, until SIGINT / SIGTERM",
                                  description=__doc__.split("\n\n")[0])
    fleet.add_argument("--devices", type=count, required=True, metavar="N",
                       help=f"how many devices (1..{MAX_DEVICES})")
    fleet.add_argument("--image", help="device-image manifest (default: the gateway)")
    fleet.add_argument("--arch", choices=("arm", "x86"), help="the image's machine")
    fleet.add_argument("--server", help="LwM2M server every device registers with")
    fleet.add_argument("--server-keys", metavar="FILE",
                       help="each device's PSK at its coaps:// --server (0600 JSON, "
                            "`--make-server-keys`; the admin server's --psk-file)")
    fleet.add_argument("--make-server-keys", metavar="FILE",
                       help="write fresh server keys for the N devices to FILE (0600), exit")
    fleet.add_argument("--named", action="store_true",
                       help="each device named as its endpoint (for the admin server's commands)")
    fleet.add_argument("--lifetime", type=count_in(1), help="registration lifetime (s)")
    fleet.add_argument("--engine", choices=ENGINES, default="local",
                       help="local processes, or Dask tasks (the dask extra)")
    fleet.add_argument("--scheduler", metavar="ADDRESS",
                       help="Dask scheduler (default: a local cluster of --workers workers)")
    fleet.add_argument("--workers", type=count_in(1), default=2, metavar="K",
                       help="workers of the local Dask cluster (default 2)")
    fleet.add_argument("--host", default="127.0.0.1",
                       help="address the devices bind (default 127.0.0.1; dask: 'worker', "
                            "each its worker's address)")
    fleet.add_argument("--base-port", type=count_in(1, 65535), metavar="P",
                       help="device i listens on P + i (default: free ports)")
    fleet.add_argument("--prefix", default="dev", help="endpoint names PREFIX-000, ...")
    fleet.add_argument("--keys", metavar="DIR",
                       help="the devices' domain keys in DIR/<endpoint>/ (default: private)")
    fleet.add_argument("--ready-timeout", type=positive_seconds, default=READY_TIMEOUT, metavar="S",
                       help=f"seconds for every device to be ready (default {READY_TIMEOUT:g})")
    fleet.add_argument("--table", help="write the fleet table (JSON, 0600) here")
    fleet.add_argument("--ready-file", help="written once every device is ready")
    fleet.set_defaults(func=_main)


def _main(args: Namespace) -> int:
    """Run until SIGINT / SIGTERM, reporting each device that dies; exit 1 if one did not end
    cleanly (died, or stopped with a status other than 0)."""
    if args.make_server_keys:
        write_server_keys(args.make_server_keys, make_server_keys(args.devices, args.prefix))
        print(f"fleet: server keys for {args.devices} devices in {args.make_server_keys}",
              file=sys.stderr)
        return 0
    server_keys = read_server_keys(args.server_keys) if args.server_keys else None
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    with Fleet(args.devices, image=args.image, arch=args.arch, server=args.server,
               lifetime=args.lifetime, engine=args.engine, scheduler=args.scheduler,
               workers=args.workers, host=args.host, base_port=args.base_port,
               prefix=args.prefix, keys=args.keys, server_keys=server_keys,
               named=args.named, ready_timeout=args.ready_timeout) as fleet:
        if args.table:
            fleet.write_table(args.table)
        print(f"fleet: {len(fleet.devices)} devices ready ({args.engine})", file=sys.stderr,
              flush=True)
        if args.ready_file:
            Path(args.ready_file).write_text(f"{len(fleet.devices)}\n")
        reported: set[str] = set()
        while not stopping.wait(0.5):
            for name, ended in fleet.exits().items():
                if name not in reported:
                    reported.add(name)
                    print(f"fleet: {ended}", file=sys.stderr, flush=True)
    unclean = {name for name, ended in fleet.stop().items() if ended.status != 0}
    for name in sorted(unclean - reported):
        print(f"fleet: {fleet.stop()[name]}", file=sys.stderr)
    print(f"fleet: stopped {len(fleet.devices)} devices", file=sys.stderr)
    return exits.NO if unclean else exits.OK
