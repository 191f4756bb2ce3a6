"""A GDB remote stub for a machine (`pipsim run IMAGE --gdb HOST:PORT`, docs/debugging.md
"Debugging with GDB").  gdb-multiarch attaches over TCP; the machine runs in slices
(Machine.run(between=...)) and the stub serves the remote serial protocol between them:
each partition is a thread (its descriptor page is its thread id), registers and memory are
what the selected partition sees (its context, its VAs through its own Pip tables), and
breakpoints, watchpoints and steps are the machine's debug points (Machine.debug_point).
All-stop: a stop stops the whole machine; a step runs the CPU, i.e. the running partition."""
from __future__ import annotations

import select
import socket
from typing import Callable

from unicorn import x86_const

from ..abi import CTX_PC, CTX_REGS, CTX_STATUS, PAGE_SIZE
from ..errors import PipsimError
from ..types import Partition

#: the largest packet the stub takes (announced in qSupported; gdb sends no larger)
PACKET_SIZE = 0x4000
#: how long a wait (a connection, a command, an acknowledgement) sleeps before it looks at
#: the signals again
POLL_SECONDS = 0.1
#: how many times a reply gdb refused (a bad checksum: "-") is sent again
RESENDS = 3
#: GDB's signal numbers (gdb/signals.def) for stop replies
SIGINT, SIGTRAP, SIGABRT, SIGSEGV, SIGXCPU = 2, 5, 6, 11, 24
#: why a finished run ended, as the signal gdb is told (a halt is an exit code)
END_SIGNALS = {"panic": SIGSEGV, "budget": SIGXCPU}
#: stop-reply keys of the watchpoints' accesses (Machine.WATCH_ACCESSES)
WATCH_KEYS = {"write": "watch", "read": "rwatch", "access": "awatch"}
#: Z/z packet types: None a breakpoint (0 software, 1 hardware), else a watchpoint's access
POINT_TYPES = {"0": None, "1": None, "2": "write", "3": "read", "4": "access"}

_X86_EXTRA = (                          # registers gdb's i386 layout has beyond the context
    [("cs", 32, "int32", None), ("ss", 32, "int32", None)]
    + [(s, 32, "int32", 0) for s in ("ds", "es", "fs", "gs")]  # every load nulls them
    + [(f"st{i}", 80, "i387_ext", None) for i in range(8)]
    + [(n, 32, "int", None) for n in ("fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg",
                                      "fooff", "fop")])
_X86_SSE = [(f"xmm{i}", 128, "uint128", None) for i in range(8)] + [("mxcsr", 32, "int", None)]


class GdbError(PipsimError):
    """A --gdb address that cannot be served."""


def parse_address(spec: str) -> tuple[str, int]:
    """`--gdb`: ":PORT" (loopback), "HOST:PORT" -> (host, port); GdbError if malformed."""
    host, sep, port = spec.rpartition(":")
    try:
        number = int(port, 10)
    except ValueError:
        number = -1
    if not sep or not 0 <= number < 1 << 16:
        raise GdbError(f"--gdb {spec!r}: expected :PORT or HOST:PORT (PORT 0..65535)")
    return host or "127.0.0.1", number


def listen(spec: str) -> socket.socket:
    """A listening socket for `--gdb spec`; GdbError if it cannot be bound."""
    host, port = parse_address(spec)
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        server = socket.socket(info[0], socket.SOCK_STREAM)
    except OSError as error:
        raise GdbError(f"--gdb {spec!r}: {error.strerror or error}") from None
    try:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(info[4])
        server.listen(1)
    except OSError as error:
        server.close()
        raise GdbError(f"--gdb {spec!r}: cannot listen: {error.strerror or error}") from None
    return server


def checksum(data: bytes) -> bytes:
    return b"%02x" % (sum(data) & 0xFF)


def escape(data: bytes) -> bytes:
    """Binary data in a reply (qXfer): # $ } * escaped as } and the byte xor 0x20."""
    out = bytearray()
    for byte in data:
        if byte in b"#$}*":
            out += bytes((0x7D, byte ^ 0x20))
        else:
            out.append(byte)
    return bytes(out)


class Disconnected(Exception):
    """The client closed the connection (or it broke)."""


class Connection:
    """Packets over one client socket: framing, checksums, acknowledgements, and the 0x03
    (interrupt) byte gdb sends while the target runs.  Garbage between packets is skipped; a
    packet with a bad checksum, or longer than PACKET_SIZE, is refused with "-"."""

    def __init__(self, sock: socket.socket):
        self.sock, self.buffer, self.acks = sock, bytearray(), True
        self.last_reply, self.resends, self.interrupted = b"", 0, False
        sock.setblocking(False)

    def close(self) -> None:
        self.sock.close()

    def _receive(self, timeout: float) -> bool:
        """Read what came within timeout into the buffer; False if nothing did."""
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            return False
        try:
            data = self.sock.recv(PACKET_SIZE)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            raise Disconnected() from None
        if not data:
            raise Disconnected()
        self.buffer += data
        return True

    def _send_raw(self, data: bytes) -> None:
        try:
            self.sock.setblocking(True)
            self.sock.settimeout(5)
            self.sock.sendall(data)
        except OSError:
            raise Disconnected() from None
        finally:
            self.sock.setblocking(False)

    def send(self, payload: bytes) -> None:
        self.last_reply, self.resends = b"$" + payload + b"#" + checksum(payload), 0
        self._send_raw(self.last_reply)

    def packet(self) -> bytes | None:
        """The next whole packet in the buffer (acknowledged), or None; handles acks,
        interrupts, garbage, bad checksums and oversized packets on the way."""
        while self.buffer:
            start = self.buffer[0]
            if start != 0x24:                                # not '$'
                del self.buffer[0]
                if start == 0x03:
                    self.interrupted = True
                elif start == 0x2D and self.last_reply and self.resends < RESENDS:   # '-'
                    self.resends += 1
                    self._send_raw(self.last_reply)
                continue
            end = self.buffer.find(b"#")
            if end < 0 and len(self.buffer) > PACKET_SIZE + 4:
                self.buffer.clear()                          # oversized: refused, dropped
                self._send_raw(b"-")
                return None
            if end < 0 or len(self.buffer) < end + 3:
                return None                                  # not whole yet
            payload, given = bytes(self.buffer[1:end]), bytes(self.buffer[end + 1:end + 3])
            del self.buffer[:end + 3]
            if end - 1 > PACKET_SIZE or given.lower() != checksum(payload):
                if self.acks:
                    self._send_raw(b"-")
                continue
            if self.acks:
                self._send_raw(b"+")
            return payload
        return None

    def wait_packet(self, keep_waiting: Callable[[], bool]) -> bytes | None:
        """The next packet; waits while keep_waiting() (looked at every POLL_SECONDS); None if
        it said stop first."""
        while True:
            found = self.packet()
            if found is not None:
                return found
            if not keep_waiting():
                return None
            self._receive(POLL_SECONDS)

    def poll(self) -> None:
        """Take what arrived without waiting (the target runs: gdb may send 0x03)."""
        while self._receive(0):
            pass


class GdbStub:
    """One gdb client for a machine: wait_client() before the run, between(machine) as the
    run's between (or in it), finish(result) after.  names: {pd: name} known partitions."""

    def __init__(self, machine, server: socket.socket, names: dict[int, str] | None = None,
                 keep_waiting: Callable[[], bool] = lambda: True):
        self.machine, self.server, self.names = machine, server, dict(names or {})
        self.keep_waiting = keep_waiting        # False: a signal asks the stub to give up
        self.client: Connection | None = None
        self.killed = False
        self.thread = 0                         # Hg: the partition registers and memory are of
        #: the points gdb set, (Z type, address, kind) -> the machine's (Machine.debug_point)
        self.points: dict[tuple[str, int, int], tuple[str | None, int, int]] = {}
        self.abi = abi = machine.arch.ABI
        self.words = [CTX_PC if name == abi.pc else CTX_REGS + i
                      for i, name in enumerate(abi.registers)]
        self.names_core = list(abi.registers)
        if abi.pc not in abi.registers:
            self.words.append(CTX_PC)
            self.names_core.append(abi.pc)
        self.words.append(CTX_STATUS)
        self.names_core.append(abi.status)
        self.extra = _X86_EXTRA + _X86_SSE if abi.name == "x86" else []

    # ---- the connection ----
    @property
    def address(self) -> tuple[str, int]:
        return self.server.getsockname()[:2]

    def wait_client(self) -> bool:
        """Wait for gdb to connect (looking at keep_waiting every POLL_SECONDS); then serve it
        until it resumes the machine.  False if keep_waiting said stop first."""
        while self.client is None:
            if not self.keep_waiting():
                return False
            ready, _, _ = select.select([self.server], [], [], POLL_SECONDS)
            if ready:
                sock, _ = self.server.accept()
                self.client = Connection(sock)
        self.machine.debug_resume()
        return not self._serve(self._stop_reply(SIGTRAP))

    def between(self, machine) -> bool:
        """A slice ended: report a debug stop or a Ctrl-C from gdb and serve gdb until it
        resumes; True if the run should stop (gdb killed it, or a signal came while stopped)."""
        if self.client is None:
            return False
        stop = machine.debug_stop()
        try:
            if stop is None:
                self.client.poll()
                self.client.packet()               # stray bytes: acks, 0x03
                if not self.client.interrupted:
                    return False
                reply = self._stop_reply(SIGINT)
            else:
                why, address, access = stop
                reply = self._stop_reply(SIGTRAP, why, address, access)
            return self._serve(reply)
        except Disconnected:
            self._detach()
            return False

    def finish(self, result) -> None:
        """The run ended: tell gdb how (W exit code, X signal) and close."""
        if self.client is None:
            return
        try:
            if result.stop == "halt":
                self.client.send(b"W%02x" % (result.exit_code & 0xFF))
            elif result.stop != "interrupted":
                self.client.send(b"X%02x" % END_SIGNALS.get(result.stop, SIGABRT))
        except Disconnected:
            pass
        self.client.close()
        self.client = None

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        self.server.close()

    def _detach(self) -> None:
        """The client left: no more points, the run goes on."""
        for key in list(self.points):
            self._point(False, *key)
        self.machine.debug_resume()
        if self.client is not None:
            self.client.close()
        self.client = None

    # ---- serving a stopped machine ----
    def _serve(self, reply: bytes | None) -> bool:
        """Send the stop reply (if any) and answer packets until one resumes the machine;
        True if the run should stop."""
        client = self.client
        client.interrupted = False
        self.thread = 0
        if reply is not None:
            client.send(reply)
        while True:
            packet = client.wait_packet(self.keep_waiting)
            if packet is None:                      # a signal: the run stops
                return True
            command = self._handle(packet)
            if command == "resume":
                return False
            if command == "kill":
                self.killed = True
                client.close()
                self.client = None
                return True
            if command == "detach":
                self._detach()
                return False

    def _handle(self, packet: bytes) -> str | None:
        """Answer one packet; "resume", "kill" or "detach" when it is one of those."""
        try:
            text = packet.decode("ascii")
        except UnicodeDecodeError:
            self.client.send(b"E01")
            return None
        try:
            reply, command = self._answer(text)
        except (ValueError, IndexError, KeyError, OverflowError):
            reply, command = b"E01", None                 # malformed: numbers, fields
        if reply is not None:
            self.client.send(reply)
        return command

    def _answer(self, text: str) -> tuple[bytes | None, str | None]:
        """(reply or None, command or None) for one packet's text."""
        if not text:
            return b"", None
        head, rest = text[0], text[1:]
        if head in "cs" or text.startswith("vCont;"):
            return self._resume(text)
        if head in "CS" and rest:
            return self._resume(head.lower() + rest.partition(";")[2])
        if text == "?":
            return self._stop_reply(SIGTRAP), None
        if head == "D":
            return b"OK", "detach"
        if head == "k" or text.startswith("vKill"):
            return (b"OK" if head == "v" else None), "kill"
        if head == "H" and rest[:1] in ("g", "c"):
            return self._select(rest[0], rest[1:]), None
        if head == "T":
            return (b"OK" if self._alive(int(rest, 16)) else b"E02"), None
        if head == "g":
            return self._registers(), None
        if head == "G":
            return self._write_registers(bytes.fromhex(rest)), None
        if head == "p":
            return self._register(int(rest, 16)), None
        if head == "P":
            number, _, value = rest.partition("=")
            return self._write_register(int(number, 16), bytes.fromhex(value)), None
        if head == "m":
            address, _, size = rest.partition(",")
            return self._read_memory(int(address, 16), int(size, 16)), None
        if head == "M":
            where, _, data = rest.partition(":")
            address, _, size = where.partition(",")
            data = bytes.fromhex(data)
            if len(data) != int(size, 16):
                return b"E01", None
            return self._write_memory(int(address, 16), data), None
        if head in "Zz" and rest[:1] in POINT_TYPES and rest[:1]:
            kind, address, size = rest.split(";")[0].split(",")
            return self._point(head == "Z", kind, int(address, 16), int(size, 16)), None
        if head in "qQv":
            return self._query(text), None
        return b"", None                                   # not supported

    def _query(self, text: str) -> bytes:
        if text.startswith("qSupported"):
            return (b"PacketSize=%x;qXfer:features:read+;swbreak+;hwbreak+;vContSupported+;"
                    b"QStartNoAckMode+" % PACKET_SIZE)
        if text == "QStartNoAckMode":
            self.client.send(b"OK")
            self.client.acks = False
            return None
        if text.startswith("qXfer:features:read:"):
            annex, _, span = text[len("qXfer:features:read:"):].partition(":")
            if annex != "target.xml":
                return b"E00"
            offset, _, length = span.partition(",")
            document = self.target_xml().encode()
            offset, length = int(offset, 16), int(length, 16)
            chunk = document[offset:offset + min(length, PACKET_SIZE // 2)]
            more = offset + len(chunk) < len(document)
            return (b"m" if more else b"l") + escape(chunk)
        if text == "qfThreadInfo":
            return b"m" + b",".join(b"%x" % p.pd for p in self.machine.kernel.partitions())
        if text == "qsThreadInfo":
            return b"l"
        if text == "qC":
            return b"QC%x" % self.machine.kernel.current.pd
        if text == "qAttached":
            return b"1"
        if text.startswith("qThreadExtraInfo,"):
            pd = int(text.partition(",")[2], 16)
            if not self._alive(pd):
                return b"E02"
            return self.describe(pd).encode().hex().encode()
        if text.startswith("qSymbol"):
            return b"OK"
        if text == "vCont?":
            return b"vCont;c;C;s;S"
        return b""

    # ---- threads: the partitions ----
    def _alive(self, pd: int) -> bool:
        return 0 < pd < 1 << 32 and self.machine.kernel.is_partition(Partition(pd))

    def describe(self, pd: int) -> str:
        """A thread's extra info: the partition's name and pd, and its state."""
        name = self.names.get(pd)
        state = "running" if pd == self.machine.kernel.current.pd else "waiting"
        return f"{name} (pd {pd}), {state}" if name else f"pd {pd}, {state}"

    def _selected(self) -> int:
        """The partition Hg selected, the running one by default."""
        return self.thread or self.machine.kernel.current.pd

    def _select(self, which: str, spec: str) -> bytes:
        thread = int(spec, 16) if spec not in ("-1", "") else 0
        if thread and not self._alive(thread):
            return b"E02"
        if which == "g":
            self.thread = thread
        return b"OK"

    # ---- registers: the selected partition's context ----
    def target_xml(self) -> str:
        """The target description: gdb's register layout of this CPU."""
        if self.abi.name == "arm":
            architecture, feature = "arm", "org.gnu.gdb.arm.core"
        else:
            architecture, feature = "i386", "org.gnu.gdb.i386.core"
        types = {self.abi.pc: "code_ptr", self.abi.stack_pointer: "data_ptr"}
        core = [(name, 32, types.get(name, "uint32")) for name in self.names_core]
        core += [(name, bits, kind) for name, bits, kind, _ in self.extra[:len(_X86_EXTRA)]]
        lines = ['<?xml version="1.0"?>', '<!DOCTYPE target SYSTEM "gdb-target.dtd">',
                 "<target>", f"<architecture>{architecture}</architecture>",
                 f'<feature name="{feature}">']
        lines += [f'<reg name="{n}" bitsize="{b}" type="{t}"/>' for n, b, t in core]
        lines.append("</feature>")
        if self.extra:
            lines.append('<feature name="org.gnu.gdb.i386.sse">')
            lines += [f'<reg name="{n}" bitsize="{b}" type="{t}"/>'
                      for n, b, t, _ in self.extra[len(_X86_EXTRA):]]
            lines.append("</feature>")
        lines.append("</target>")
        return "\n".join(lines)

    def _values(self) -> list[bytes] | None:
        """The selected partition's registers in gdb's order, little-endian; an
        unavailable one as "xx" per byte; None if it is gone."""
        pd = self._selected()
        if not self._alive(pd):
            return None
        context = self.machine.context_of(pd)
        values = []
        for word in self.words:
            if context is None:
                values.append(b"xx" * 4)
                continue
            value = context[word] & ~1 if word == CTX_PC and self.abi.thumb else context[word]
            values.append(value.to_bytes(4, "little").hex().encode())
        for name, bits, _, constant in self.extra:
            if name in ("cs", "ss"):
                constant = self.machine.register(_uc_segment(name))
            values.append(b"xx" * (bits // 8) if constant is None
                          else constant.to_bytes(bits // 8, "little").hex().encode())
        return values

    def _registers(self) -> bytes:
        values = self._values()
        return b"E02" if values is None else b"".join(values)

    def _register(self, number: int) -> bytes:
        values = self._values()
        if values is None:
            return b"E02"
        return values[number] if 0 <= number < len(values) else b"E01"

    def _write_registers(self, data: bytes) -> bytes:
        core = data[:4 * len(self.words)]
        if len(core) != 4 * len(self.words):
            return b"E01"
        words = [int.from_bytes(core[i:i + 4], "little") for i in range(0, len(core), 4)]
        return self._set(dict(enumerate(words)))

    def _write_register(self, number: int, data: bytes) -> bytes:
        if not 0 <= number < len(self.words) or len(data) != 4:
            return b"E04"                              # only the context's registers
        return self._set({number: int.from_bytes(data, "little")})

    def _set(self, values: dict[int, int]) -> bytes:
        """Set registers (gdb numbers) of the selected partition: the running one only."""
        pd = self._selected()
        if pd != self.machine.kernel.current.pd:
            return b"E04"                              # a waiting partition's: not its CPU
        context = list(self.machine.context_of(pd))
        thumb = context[CTX_PC] & 1 if self.abi.thumb else 0
        for number, value in values.items():
            context[self.words[number]] = value
        if self.abi.thumb:                             # ARM: bit 0 of the pc word is T
            status = context[CTX_STATUS]
            if CTX_STATUS in (self.words[n] for n in values):
                thumb = 1 if status & self.abi.thumb else 0
            context[CTX_PC] = (context[CTX_PC] & ~1) | thumb
        self.machine.set_context(context)
        return b"OK"

    # ---- memory: the selected partition's VAs through its own tables ----
    def _spans(self, address: int, size: int, access: str) -> list[tuple[int, int]]:
        """(physical address, bytes) page by page while the partition maps [address, address +
        size) for access ("r": readable or executable; "w": writable), device pages never."""
        kernel = self.machine.kernel
        try:
            view = kernel.as_partition(Partition(self._selected()))
        except ValueError:
            return []
        devices, spans, done = kernel.device_pages(), [], 0
        while done < size and address + done < 1 << 32:
            at = address + done
            chunk = min(size - done, PAGE_SIZE - at % PAGE_SIZE)
            pa = view.translate(at, access)
            if pa is None and access == "r":
                pa = view.translate(at, "x")
            if pa is None or pa // PAGE_SIZE in devices:
                break
            spans.append((pa, chunk))
            done += chunk
        return spans

    def _read_memory(self, address: int, size: int) -> bytes:
        size = min(size, (PACKET_SIZE - 8) // 2)
        memory = self.machine.kernel.physical_memory()
        data = b"".join(bytes(memory[pa:pa + n]) for pa, n in self._spans(address, size, "r"))
        return data.hex().encode() if data or not size else b"E03"

    def _write_memory(self, address: int, data: bytes) -> bytes:
        spans = self._spans(address, len(data), "w")
        if sum(n for _, n in spans) != len(data):
            return b"E03"                              # all or nothing
        memory, done = self.machine.kernel.physical_memory(), 0
        for pa, n in spans:
            memory[pa:pa + n] = data[done:done + n]
            done += n
        self.machine.code_changed()                    # it may have been code
        return b"OK"

    # ---- breakpoints, watchpoints, resuming ----
    def _point(self, on: bool, kind: str, address: int, size: int) -> bytes:
        """Z / z: a breakpoint at a VA (of any partition); a watchpoint on the memory behind
        the selected partition's VAs (the engine's memory hooks see physical addresses), within
        one page."""
        access = POINT_TYPES[kind]
        if not 0 <= address < 1 << 32 or not 0 < size <= PAGE_SIZE:
            return b"E01"
        key = (kind, address, size)
        if on == (key in self.points):
            return b"OK"                               # gdb may set one twice
        if not on:
            point = self.points[key]
        elif access is None:
            point = (None, address, 1)                 # Z0 and Z1 at one address: one point
        else:
            spans = self._spans(address, size, "r") or self._spans(address, size, "w")
            if len(spans) != 1 or spans[0][1] != size:
                return b"E03"                          # not mapped, or across pages
            point = (access, spans[0][0], size)
        try:
            if point not in (v for k, v in self.points.items() if k != key):
                self.machine.debug_point(*point, on)
        except ValueError:
            return b"E05"
        if on:
            self.points[key] = point
        else:
            del self.points[key]
        return b"OK"

    def _resume(self, text: str) -> tuple[bytes | None, str | None]:
        if text.startswith("vCont;"):
            actions = [a.split(":")[0] for a in text[len("vCont;"):].split(";")]
            if not actions or any(a[:1] not in "cCsS" for a in actions):
                return b"E01", None
            step = any(a[:1] in "sS" for a in actions)
        else:
            step = text[0] == "s"
            if len(text) > 1:                          # resume at an address
                if not self._set({self.words.index(CTX_PC): int(text[1:], 16)}) == b"OK":
                    return b"E01", None
        self.machine.debug_resume(step)
        return None, "resume"

    def _stop_reply(self, signal: int, why: str | None = None, address: int = 0,
                    access: str | None = None) -> bytes:
        pd = self.machine.kernel.current.pd
        reply = b"T%02xthread:%x;" % (signal, pd)
        if why == "watch":                             # the machine's address: physical
            va = next((k[1] for k, v in self.points.items() if v[:2] == (access, address)),
                      address)
            reply += b"%s:%x;" % (WATCH_KEYS[access].encode(), va)
        elif why == "break":
            pc = self.machine.pc() & ~1 if self.abi.thumb else self.machine.pc()
            kinds = {k[0] for k, v in self.points.items() if v == (None, pc, 1)}
            if kinds:
                reply += b"swbreak:;" if "0" in kinds else b"hwbreak:;"
        return reply


def _uc_segment(name: str) -> int:
    """Unicorn's number of an x86 segment register."""
    return getattr(x86_const, f"UC_X86_REG_{name.upper()}")
