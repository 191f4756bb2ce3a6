"""A running device on loopback (``pipsim serve``), and libcoap's clients."""
import shutil
import socket
import subprocess
import sys
import time

import pytest

PSK = ("lc1", "123456")        # D3.3 §3.2's example endpoint


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def libcoap(tool: str) -> str:
    """A libcoap command (tools/setup-system.sh installs Debian's libcoap3-bin)."""
    found = shutil.which(tool)
    if found is None:
        pytest.fail(f"{tool} is missing: run tools/setup-system.sh (make setup does)")
    return found


class Device:
    """``pipsim serve`` in a process of its own, listening on loopback."""

    def __init__(self, tmp_path, *extra):
        self.port, self.keys = free_port(), tmp_path / "keys"
        ready = tmp_path / "ready"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pipkernel.cli", "serve", "--bind", f"127.0.0.1:{self.port}",
             "--psk", ":".join(PSK), "--export-keys", str(self.keys), "--ready-file",
             str(ready), *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not ready.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"pipsim serve did not start: {self.output}")
            time.sleep(0.05)
        self.uri = ready.read_text().strip()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.output = self.process.stdout.read().decode(errors="replace")

    @property
    def running(self) -> bool:
        return self.process.poll() is None


@pytest.fixture(scope="module")
def device(tmp_path_factory):
    served = Device(tmp_path_factory.mktemp("device"))
    yield served
    served.stop()
