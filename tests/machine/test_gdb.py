"""The GDB stub (docs/debugging.md "Debugging with GDB"): a real gdb-multiarch in batch mode
against `pipsim run IMAGE --gdb 127.0.0.1:0` on both architectures, a raw socket for what gdb
never sends (garbage, bad checksums, oversized packets, a client that leaves mid-step), and
in process, that stops and steps change nothing the guest sees."""
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys

import pytest

from pipsim.kernel import exits
from pipsim.kernel.abi import CTX_PC
from pipsim.kernel.machine import Machine
from pipsim.kernel.machine.gdb import PACKET_SIZE, GdbError, checksum, parse_address

BUILD = pathlib.Path(__file__).resolve().parents[2] / "firmware" / "build"
ARCHES = ["arm", "x86"]
WAIT = 60           # seconds: a bound on each wait, never a timing assertion


def image(arch: str, name: str) -> str:
    path = BUILD / arch / f"{name}.elf"
    assert path.exists(), f"{path} is missing: run `make firmware`"
    return str(path)


class Server:
    """`pipsim run IMAGE --gdb 127.0.0.1:0 ...` (or `run --restore FILE ...`: what) in a
    subprocess; port: what it listens on (its "listening on" line, awaited for at most WAIT
    seconds)."""

    def __init__(self, *what: str):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pipsim.kernel.cli", "run", *what, "--gdb", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        line = self.process.stderr.readline()         # the first line: it listens
        found = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if not found:
            self.process.kill()
            pytest.fail(f"no listening line: {line!r} {self.process.communicate(timeout=WAIT)}")
        self.port = int(found.group(1))

    def finish(self) -> tuple[int, str]:
        try:
            out, _ = self.process.communicate(timeout=WAIT)
        finally:
            if self.process.poll() is None:
                self.process.kill()
        return self.process.returncode, out


def gdb(path: str, server: Server, *commands: str) -> str:
    """gdb-multiarch in batch mode (for tests marked ``needs("gdb-multiarch")``): the image's
    symbols, attached, then commands."""
    args = [shutil.which("gdb-multiarch"), "-batch", "-nx", "-ex", "set confirm off", "-ex", f"file {path}",
            "-ex", f"target remote 127.0.0.1:{server.port}"]
    for command in commands:
        args += ["-ex", command]
    client = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}  # gdb: not under test,
    done = subprocess.run(args, capture_output=True, text=True, timeout=WAIT,  # nor under ASan
                          env=client)
    output = done.stdout + done.stderr
    assert "internal-error" not in output, output
    return output


def register(output: str, name: str) -> int:
    return int(re.findall(rf"^{name}\s+(0x[0-9a-f]+)", output, re.M)[-1], 16)


@pytest.mark.needs("gdb-multiarch")
@pytest.mark.parametrize("arch", ARCHES)
def test_break_step_registers_memory_and_run_on(arch):
    path = image(arch, "hello")
    main = Machine(arch).load(path).symbols["main"] & ~1
    server = Server(path)
    out = gdb(path, server, "break *main", "continue", "info registers", "x/4wx $sp",
              "stepi", "info registers pc" if arch == "arm" else "info registers eip",
              "continue")
    code, console = server.finish()
    assert "Breakpoint 1, " in out and "main ()" in out
    pc = "pc" if arch == "arm" else "eip"
    stops = [int(v, 16) for v in re.findall(rf"^{pc}\s+(0x[0-9a-f]+)", out, re.M)]
    assert stops[0] == main and stops[1] > main                # stepi ran one instruction
    assert re.search(r"^0x[0-9a-f]+:\s+0x[0-9a-f]{8}\s+0x", out, re.M)     # x/4wx read
    assert "exited normally" in out
    assert code == 0 and "Hello World" in console


@pytest.mark.needs("gdb-multiarch")
@pytest.mark.parametrize("arch", ARCHES)
def test_partitions_as_threads_watchpoints_refusals_and_kill(arch):
    path = image(arch, "scheduler")
    server = Server(path, "--max-instructions", "50000000")
    out = gdb(path, server, "break on_timer", "continue", "continue", "info threads",
              "thread 2", "info registers", "x/4wx $sp", "x/4wx 0x10000000",
              "thread 1", "delete", "watch ticks", "continue", "kill")
    code, console = server.finish()
    threads = dict(re.findall(r"^[* ] \d+\s+Thread (\d+) \(((?:[^()]|\([^()]*\))*)\)", out,
                              re.M))                    # info threads: id -> extra info
    assert threads.pop("1") == "root (pd 1), running"
    assert sorted(threads.values()) == [f"pd {pd}, waiting" for pd in sorted(threads)], out
    assert len(threads) == 2                               # children A and B
    child = min(threads, key=int)
    assert f"[Switching to thread 2 (Thread {child})]" in out
    sp = register(out.split("[Switching to thread 2")[1], "sp" if arch == "arm" else "esp")
    assert 0 < sp < 0x800000 and f"{sp:#x}:" in out          # the child's stack, its VA
    assert "Cannot access memory at address 0x10000000" in out
    assert "Hardware watchpoint 2: ticks" in out and "Old value = " in out
    assert code == 137 and "stopped by gdb (kill)" in console     # the run stopped cleanly


class Client:
    """A raw remote-protocol client: what gdb would never send."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def packet(self, payload: bytes) -> None:
        self.send(b"$" + payload + b"#" + checksum(payload))

    def byte(self) -> bytes:
        if not self.buffer:
            self.buffer = self.sock.recv(65536)
            assert self.buffer, "the stub closed the connection"
        byte, self.buffer = self.buffer[:1], self.buffer[1:]
        return byte

    def reply(self) -> bytes:
        """The next packet from the stub (acknowledgements skipped)."""
        while self.byte() != b"$":
            pass
        data = b""
        while (byte := self.byte()) != b"#":
            data += byte
        given = self.byte() + self.byte()
        assert given == checksum(data)
        return data

    def ask(self, payload: bytes) -> bytes:
        self.packet(payload)
        return self.reply()


@pytest.mark.parametrize("arch", ARCHES)
def test_bad_input_gets_clear_errors_and_the_run_goes_on(arch):
    server = Server(image(arch, "forever"), "--max-instructions", "3000000")
    client = Client(server.port)
    assert client.reply().startswith(b"T05thread:1;")      # the stop at attach
    client.send(b"-")                                       # refused: sent again
    assert client.reply().startswith(b"T05thread:1;")
    client.send(b"garbage \x00\xff+")                       # between packets: skipped
    client.send(b"$qC#00")                                  # a bad checksum
    assert client.byte() == b"-"
    client.send(b"$" + b"m" * (PACKET_SIZE + 16))           # oversized, never ended
    assert client.byte() == b"-"
    client.buffer = b""
    assert client.ask(b"qC") == b"QC1"
    assert client.ask(b"Hgfff") == b"E02"                   # no such partition
    assert client.ask(b"qThreadExtraInfo,fff") == b"E02"
    assert client.ask(b"Tfff") == b"E02"
    assert client.ask(b"m10000000,4") == b"E03"             # outside the partition
    assert client.ask(b"mzz,4") == b"E01"                   # not a number
    assert client.ask(b"M10000000,2:0102") == b"E03"
    assert client.ask(b"Z2,10000000,4") == b"E03"           # no memory to watch there
    assert client.ask(b"vFoo") == b""                       # unsupported
    assert client.ask(b"qfThreadInfo") == b"m1"
    client.packet(b"c")
    client.send(b"\x03")                                    # Ctrl-C while it runs
    stop = client.reply()
    assert stop.startswith(b"T02thread:"), stop
    client.packet(b"vCont;s")
    client.sock.close()                                     # gone mid-step: the run goes on
    code, console = server.finish()
    assert code == exits.BUDGET and "stopped: budget" in console


@pytest.mark.parametrize("arch", ARCHES)
def test_stops_and_steps_change_nothing_the_guest_sees(arch):
    """Exact mode: a run stepped through its first instructions (ARM: Thumb-2 IT blocks
    among them), stopped at breakpoints and watchpoints, ends as a plain run does."""
    path = image(arch, "scheduler")
    plain = Machine(arch)
    plain.load(path)
    expected = plain.run(max_instructions=50_000_000)
    machine = Machine(arch)
    symbols = machine.load(path).symbols
    ticks = machine.kernel.as_partition(machine.kernel.root).translate(symbols["ticks"], "r")
    machine.debug_point(None, symbols["Pip_Yield"] & ~1, 1, True)
    machine.debug_point("write", ticks, 4, True)
    stops = []

    def between(m) -> bool:
        stop = m.debug_stop()
        if stop:
            stops.append(stop[0])
            m.debug_resume(step=len(stops) < 3000)
        return False
    machine.debug_resume(step=True)
    result = machine.run(max_instructions=50_000_000, between=between)
    assert stops.count("step") > 2900 and "break" in stops and "watch" in stops
    assert (result.stop, result.console) == (expected.stop, expected.console)
    assert result.counters["instructions"] == expected.counters["instructions"]


def test_addresses_and_refusals():
    assert parse_address(":1234") == ("127.0.0.1", 1234)      # loopback unless told
    assert parse_address("0.0.0.0:0") == ("0.0.0.0", 0)
    for bad in ("1234", ":x", ":70000", "host:"):
        with pytest.raises(GdbError):
            parse_address(bad)
    run = subprocess.run([sys.executable, "-m", "pipsim.kernel.cli", "run", image("arm", "hello"),
                          "--gdb", "nonsense"], capture_output=True, text=True, timeout=WAIT)
    assert run.returncode == 2 and "--gdb 'nonsense'" in run.stderr
    run = subprocess.run([sys.executable, "-m", "pipsim.kernel.cli", "run", "--child",
                          image("arm", "hello"), "--gdb", ":0"], capture_output=True,
                         text=True, timeout=WAIT)
    assert run.returncode == 2 and "--gdb is for a root image" in run.stderr


def test_kill_before_the_run_stops_cleanly():
    server = Server(image("x86", "forever"))
    client = Client(server.port)
    assert client.reply().startswith(b"T05thread:1;")
    client.packet(b"k")
    code, console = server.finish()
    assert code == 137 and "stopped by gdb (kill) before the run started" in console


@pytest.mark.needs("gdb-multiarch")
@pytest.mark.parametrize("arch", ARCHES)
def test_a_debugging_session_starts_from_a_snapshot(arch, tmp_path):
    """A state saved once (`pipsim run --save-at N --snapshot F`) is where gdb attaches with
    `--restore F`: every partition a thread, each at the pc the snapshot holds for it."""
    path, saved = image(arch, "scheduler"), tmp_path / "booted.snap"
    subprocess.run([sys.executable, "-m", "pipsim.kernel.cli", "run", path, "--save-at", "200000",
                    "--snapshot", str(saved)], check=True, capture_output=True, timeout=WAIT)
    machine = Machine.from_snapshot(saved.read_bytes())
    server = Server("--restore", str(saved))
    out = gdb(path, server, "thread apply all p/x $pc", "kill")
    server.finish()
    threads = {int(pd): int(pc, 16) for pd, pc in re.findall(
        r"^Thread \d+ \(Thread (\d+) .*?\):\n\$\d+ = (0x[0-9a-f]+)", out, re.M)}
    assert len(threads) == 3, out
    thumb = 1 if arch == "arm" else 0          # ARM's Thumb bit is no part of an address
    for pd, pc in threads.items():
        assert pc == machine.context_of(pd)[CTX_PC] & ~thumb
