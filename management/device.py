"""One device of a fleet: a ``pipsim serve`` process, seen from both ends.

The parent's side is ``DeviceProcess``: it checks the port free, launches the device, waits
(bounded) for its ready file, stops it (SIGTERM, then SIGKILL to its process group) and
reports how it ended.  The child's side is this module run as ``python -m pipsim.management.device``:
it reads the ``pipsim serve`` arguments from stdin as JSON, so the device's PSKs never appear
in its command line (``/proc/PID/cmdline`` is readable by every local user), and it holds a
*lifeline*, the read end of a pipe whose only write end the parent holds: when the parent
process ends in any way (even SIGKILL) the pipe reaches end-of-file and the device stops
itself as on SIGTERM (de-registering), or exits outright ``GRACE`` seconds later.  No device
outlives the process that launched it.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

GRACE = 10.0                 # seconds a device has to stop after SIGTERM (then SIGKILL)
TAIL = 2000                  # bytes of a device's stderr kept for its report
PORT_TRIES = 5               # free ports chosen in turn until one is still free when checked
                             # (another process may bind a port between choice and check)


@dataclass(frozen=True)
class DeviceSpec:
    """What one device of the fleet is: its endpoint, where it listens (``port`` 0: a free
    port chosen when it starts), its clients' DTLS PSK, and its ``pipsim serve`` options."""
    endpoint: str
    host: str
    port: int
    identity: str
    key: str
    image: str | None = None
    arch: str | None = None
    server: str | None = None
    lifetime: int | None = None
    keys: str | None = None          # where --export-keys writes (default: a private folder)
    extra: tuple[str, ...] = ()      # further ``pipsim serve`` arguments
    server_psk: tuple[str, str] | None = None   # (identity, key) at its coaps:// server


@dataclass(frozen=True)
class Exit:
    """How a device ended: its exit status (None: lost without one) and its stderr's tail."""
    endpoint: str
    status: int | None
    stderr: str

    def __str__(self) -> str:
        how = "was lost" if self.status is None else f"exited with status {self.status}"
        tail = self.stderr.strip().splitlines()[-3:]
        return f"{self.endpoint} {how}" + (": " + " | ".join(tail) if tail else "")


def port_free(host: str, port: int) -> bool:
    """Whether a UDP socket can bind (host, port) now."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                       socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_ports(host: str, n: int = 1) -> list[int]:
    """``n`` distinct UDP ports the system says are free on ``host`` (held together while
    chosen, so no two are the same)."""
    with ExitStack() as stack:
        probes = [stack.enter_context(socket.socket(
            socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM))
            for _ in range(n)]
        for probe in probes:
            probe.bind((host, 0))
        return [probe.getsockname()[1] for probe in probes]


class DeviceProcess:
    """A device's process, launched and supervised by this process."""

    def __init__(self, spec: DeviceSpec):
        """ValueError if its port is taken."""
        self.spec = spec
        for _ in range(PORT_TRIES if spec.port == 0 else 1):
            self.port = spec.port or free_ports(spec.host)[0]
            if port_free(spec.host, self.port):
                break
        else:
            raise ValueError(f"{spec.endpoint}: port {spec.host}:{self.port} is in use")
        self._folder = self._stderr = self._process = self._lifeline = None
        self._signalled = False
        self.keys = spec.keys

    def argv(self) -> list[str]:
        """The device's ``pipsim serve`` arguments."""
        s = self.spec
        argv = ["serve", *([s.image] if s.image else []), *(["--arch", s.arch] if s.arch else []),
                "--bind", f"{s.host}:{self.port}", "--psk", f"{s.identity}:{s.key}",
                "--endpoint", s.endpoint, "--export-keys", self.keys,
                "--ready-file", str(self._ready)]
        if s.server:
            argv += ["--server", s.server]
        if s.server_psk:
            argv += ["--server-psk", ":".join(s.server_psk)]
        if s.lifetime:
            argv += ["--lifetime", str(s.lifetime)]
        return argv + list(s.extra)

    @property
    def _ready(self) -> Path:
        return Path(self._folder.name) / "ready"

    def start(self) -> None:
        """Launch it (in a session of its own: a terminal's ^C reaches the fleet, which stops
        the devices in order)."""
        self._folder = tempfile.TemporaryDirectory(prefix=f"pipsim-{self.spec.endpoint}-")
        self.keys = self.spec.keys or str(Path(self._folder.name) / "keys")
        self._stderr = tempfile.TemporaryFile()
        readable, self._lifeline = os.pipe()
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "pipsim.management.device"], stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL, stderr=self._stderr, pass_fds=(readable,),
                start_new_session=True)
        except BaseException:                   # nothing runs: nothing of it is kept
            os.close(self._lifeline)
            self._stderr.close()
            self._folder.cleanup()
            raise
        finally:
            os.close(readable)
        try:
            with self._process.stdin as stdin:
                stdin.write(json.dumps({"argv": self.argv(), "lifeline": readable}).encode())
        except BrokenPipeError:                 # it died at once: its exit report says why
            pass

    @property
    def pid(self) -> int:
        return self._process.pid

    def wait_ready(self, deadline: float) -> bool:
        """Whether it is ready (its ready file written) before the ``time.monotonic()``
        deadline; False as soon as it exits."""
        while not self._ready.exists():
            if self.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def poll(self) -> int | None:
        return self._process.poll()

    def signal_stop(self) -> None:
        """Ask it to stop (SIGTERM: it de-registers and closes), once: a second SIGTERM,
        once its event loop has closed and with it its handler, would kill it outright."""
        if not self._signalled and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            self._signalled = True

    def stop(self, deadline: float | None = None) -> Exit:
        """Stop it: SIGTERM, then at the deadline (default: ``GRACE`` from now) SIGKILL to
        its whole process group; its exit report.  Nothing of it is left afterwards."""
        self.signal_stop()
        try:
            self._process.wait(timeout=max(0.0, (deadline or time.monotonic() + GRACE)
                                           - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(self._process.pid, signal.SIGKILL)     # its own session: pgid == pid
            self._process.wait()
        return self.exit()

    def exit(self) -> Exit:
        """Its exit report, once it has ended; its lifeline and private folder go."""
        status = self._process.wait()
        self._stderr.seek(max(0, self._stderr.seek(0, os.SEEK_END) - TAIL))
        tail = self._stderr.read().decode(errors="replace")
        self._stderr.close()
        if self._lifeline is not None:
            os.close(self._lifeline)
            self._lifeline = None
        self._folder.cleanup()
        return Exit(self.spec.endpoint, status, tail)


def _hold(lifeline: int) -> None:
    """Stop this process once the lifeline's write end is gone (the parent ended)."""
    while os.read(lifeline, 64):
        pass
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(GRACE)
    os._exit(1)


def main() -> int:
    order = json.loads(sys.stdin.read())
    threading.Thread(target=_hold, args=(order["lifeline"],), daemon=True).start()
    from pipsim.kernel.cli import main as pipsim
    return pipsim(order["argv"])


if __name__ == "__main__":
    sys.exit(main())
