"""The machine: firmware in partitions on a Unicorn engine, isolated by the core's
page tables (docs/abi.md).  One engine per machine, opened and owned by the C glue
(pipkernel/c/machine.c) through the functions of the library the Unicorn binding
loaded; the core's physical memory is mapped once (zero-copy); translation, kernel
calls, switches, interrupts and the timer run in C."""
from __future__ import annotations

import ctypes
import functools
import itertools
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, NamedTuple, Sequence

import cbor2
from unicorn.unicorn_py3.unicorn import uclib     # the library the binding loaded

from .._pipcore import ffi, lib
from ..abi import (CONSOLE_VA, CONTEXT_WORDS, CTX_PC, DEVICE_VECTORS, MACHINE_LEVELS,
                   MACHINE_TABLE_SIZE, PAGE_SIZE, RUN_MODES, SYSTEM_VA)
from .. import elf
from ..kernel import Kernel
from ..layout import device_vas
from ..types import Partition
from . import arm, snapshot, x86
from .devices import Device
from .loader import Image, ImageError, load_image
from .snapshot import Snapshot

ARCHES = {"arm": arm, "x86": x86}
STOPS = {lib.PIP_STOP_HALT: "halt", lib.PIP_STOP_PANIC: "panic", lib.PIP_STOP_BUDGET: "budget",
         lib.PIP_STOP_ERROR: "error", lib.PIP_STOP_HOST: "host", lib.PIP_STOP_DEBUG: "debug"}
#: why a debugger's stop came (Machine.debug_stop)
DEBUG_STOPS = {lib.PIP_DEBUG_BREAK: "break", lib.PIP_DEBUG_STEP: "step",
               lib.PIP_DEBUG_WATCH: "watch"}
#: a debug point's access (Machine.debug_point): 0 is a breakpoint
WATCH_ACCESSES = {"read": lib.PIP_WATCH_READ, "write": lib.PIP_WATCH_WRITE,
                  "access": lib.PIP_WATCH_ACCESS}
#: a sliced run (Machine.run(between=...)): host time per slice; the console, the trace and a
#: pending signal are looked at between slices
SLICE_SECONDS = 0.02
#: run modes (docs/abi.md "Run modes"): exact (the default) counts every block and
#: instruction and runs the timer on that count; fast has no per-block hook, its timer is
#: host time and it counts no instructions
MODES = {"exact": lib.PIP_MODE_EXACT, "fast": lib.PIP_MODE_FAST}
assert tuple(MODES) == RUN_MODES
DEFAULT_MODE = RUN_MODES[0]


@functools.cache
def _bind_unicorn() -> None:
    """Hand the C glue the Unicorn functions it calls (the fields of pip_unicorn, by name):
    their addresses in the library the binding loaded, so both use one library."""
    functions = ffi.new("pip_unicorn *")
    for name, _ in ffi.typeof("pip_unicorn").fields:
        address = ctypes.cast(getattr(uclib, name), ctypes.c_void_p).value
        setattr(functions, name, ffi.cast("void *", address))
    if lib.pip_machine_bind(functions):
        raise RuntimeError("the Unicorn library lacks a function the machine calls")


class Event(NamedTuple):
    """One event of the machine's trace (pipsim.kernel.machine.trace names it)."""
    kind: int                   # lib.PIP_EVENT_*
    partition: int              # the partition it happened to (a fault: the faulting one)
    number: int                 # call number, vector
    result: int                 # the call's result; the partition control passed to
    reason: int                 # a refused kernel call: PipError's value (0: none)
    pc: int                     # where the partition was (an instruction event: its address)
    args: tuple                 # a call's six arguments; a fault: (address, access, ...)
    time: int                   # exact mode: instructions run; fast mode: host ns since start


@dataclass
class RunResult:
    """How a run ended (stop), the guest's exit code, its console output, the machine's
    counters, the last fault and per-partition counters."""

    stop: str                   # halt | panic | budget | error | host | interrupted
    exit_code: int
    console: bytes
    counters: dict = field(default_factory=dict)
    fault: dict | None = None   # the last fault (vector, address, access, partition, pc, context)
    partitions: dict = field(default_factory=dict)   # per-partition counters
    mode: str = "exact"         # how time ran (MODES): fast mode counts no instructions


_SERIALS = itertools.count(1)

# pip_machine address -> Machine, for the host-call callback (weak: a machine nobody uses
# is freed, its engine with it)
_MACHINES: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def _machine(m: Any) -> "Machine | None":
    return _MACHINES.get(int(ffi.cast("uintptr_t", m)))


@ffi.def_extern()
def pip_host_call_py(m: Any, number: int, args: Any) -> int:
    """Kernel calls numbered >= HOST_CALL_BASE (docs/abi.md): served by Python handlers."""
    machine = _machine(m)
    handler = machine.host_calls.get(number) if machine else None
    if machine is None or handler is None:
        return 0xFFFFFFFF
    try:
        return handler(machine, [args[i] for i in range(6)]) & 0xFFFFFFFF
    except Exception as error:            # a host tool's bug must not unwind through C
        machine.host_errors.append(error)
        return 0xFFFFFFFF


@ffi.def_extern()
def pip_device_read_py(m: Any, index: int, offset: int, size: int) -> int:
    """A guest load from the page of a device written in Python (machine.devices)."""
    machine = _machine(m)
    if machine is None:                   # a machine being freed: nothing is there
        return 0
    try:
        return machine.mapped_devices[index].read(offset, size) & 0xFFFFFFFF
    except Exception as error:            # as for host calls
        machine.host_errors.append(error)
        return 0


@ffi.def_extern()
def pip_device_write_py(m: Any, index: int, offset: int, size: int, value: int) -> None:
    """A guest store to the page of a device written in Python (machine.devices)."""
    machine = _machine(m)
    if machine is None:
        return
    try:
        machine.mapped_devices[index].write(offset, size, value)
    except Exception as error:
        machine.host_errors.append(error)


class Machine:
    """An emulated ARMv7-A or x86-32 CPU running the partitions of one kernel."""

    def __init__(self, arch: str = "arm", pages: int = 4096, devices: Sequence[Device] = (),
                 python_root: bool = False, policy: str = "pip", mode: str = DEFAULT_MODE):
        """python_root: the root partition is Python code acting through the API (no root
        image): firmware partitions run until they pass control back to the root.  policy:
        the kernel's (docs/kernel.md §9); the console, system and device pages are marked
        as device pages, which "hardened" never lets become kernel structures.  mode: how
        time runs (MODES)."""
        if arch not in ARCHES:
            raise ValueError(f"arch must be one of {', '.join(ARCHES)}, not {arch!r}")
        _check_mode(mode)
        names = [d.name for d in devices]
        if len(set(names)) != len(names):
            raise ValueError(f"device names must be distinct: {names}")
        _bind_unicorn()
        self.arch = ARCHES[arch]
        self.kernel = Kernel(pages=pages, table_size=MACHINE_TABLE_SIZE, levels=MACHINE_LEVELS,
                             policy=policy)
        k = self.kernel
        maps = k.mappings(k.root)
        self.console_pa, self.system_pa = maps[CONSOLE_VA].pa, maps[SYSTEM_VA].pa
        assert self.system_pa == self.console_pa + PAGE_SIZE
        linear = sorted(va for va in maps if va != k.geometry.vidt_va)
        if len(devices) > lib.PIP_MAX_DEVICES:
            raise ValueError(f"at most {lib.PIP_MAX_DEVICES} devices, not {len(devices)}")
        #: {name: (VA, device)}; a snapshot also asks a device for state() / set_state()
        self.devices: dict[str, tuple[int, Any]] = {
            d.name: (va, d) for d, va in zip(devices, device_vas(linear, len(devices)))}
        for pa in [self.console_pa, self.system_pa] + [maps[va].pa for va, _ in
                                                       self.devices.values()]:
            k.mark_device(pa // PAGE_SIZE)        # before the engine maps the rest as RAM
        self._m = ffi.new("pip_machine *")
        code = lib.pip_machine_init(self._m, k.handle,
                                    lib.PIP_ARCH_ARM if arch == "arm" else lib.PIP_ARCH_X86,
                                    self.console_pa, self.system_pa)
        weakref.finalize(self, lib.pip_machine_free, self._m)
        if code:
            raise RuntimeError(f"cannot set up the engine (step {-code})")
        self.image: Image | None = None
        #: this process's machines, numbered from 1 in the order made (a trace's "machine")
        self.serial = next(_SERIALS)
        #: {call number >= HOST_CALL_BASE: handler(machine, args[6]) -> result}
        self.host_calls: dict[int, Callable[[Machine, list[int]], int]] = {}
        #: what host-call handlers and devices raised (they must not unwind through C)
        self.host_errors: list[Exception] = []
        self._m.host_call = lib.pip_host_call_py
        self._m.device_read, self._m.device_write = lib.pip_device_read_py, lib.pip_device_write_py
        #: the devices written in Python, by the index the C glue gave their page
        self.mapped_devices = [device for _, device in self.devices.values()]
        for index, (va, device) in enumerate(self.devices.values()):
            if lib.pip_machine_map_device(self._m, maps[va].pa) != index:
                raise RuntimeError(f"cannot map the page of device {device.name!r}")
        _MACHINES[int(ffi.cast("uintptr_t", self._m))] = self
        if python_root:
            self.add_python_partition(k.root)
        self.mode = mode

    @property
    def mode(self) -> str:
        """How time runs: "exact" or "fast" (MODES); may change between runs."""
        return "fast" if self._m.mode == lib.PIP_MODE_FAST else "exact"

    @mode.setter
    def mode(self, mode: str) -> None:
        _check_mode(mode)
        if lib.pip_machine_set_mode(self._m, MODES[mode]):
            raise RuntimeError(f"cannot switch the engine to mode {mode}")

    def device_va(self, name: str) -> int:
        """Where the root sees the device `name`."""
        if name not in self.devices:
            raise KeyError(f"no device {name!r}; devices: {', '.join(self.devices) or 'none'}")
        return self.devices[name][0]

    def raise_irq(self, vector: int) -> None:
        """A device interrupt (DEVICE_VECTORS: 33..47) for the root, delivered when it
        accepts one (its interrupt state is not 0); a device model calls it, e.g. from its
        write hook."""
        if vector not in DEVICE_VECTORS:
            raise ValueError(f"device interrupts are vectors {DEVICE_VECTORS[0]}.."
                             f"{DEVICE_VECTORS[-1]}, not {vector}")
        lib.pip_machine_raise_irq(self._m, vector)      # delivered before the next block

    # ---- loading ----
    def load(self, path: elf.ImageSource) -> Image:
        """Load a root image and point the CPU at its entry (docs/abi.md "Memory map")."""
        self.image = load_image(self, path)
        lib.pip_machine_code_changed(self._m)   # host writes do not invalidate translated code
        self.kernel.cpu_context = self.arch.ABI.start_context(self.image.entry,
                                                              self.image.stack_top)
        lib.pip_machine_load_cpu(self._m)
        return self.image

    def code_changed(self) -> None:
        """The host wrote code over pages the CPU may have run (a Python parent spawning a
        child in pages that held other code: an updated driver): what was translated from
        them is dropped (host writes do not invalidate it)."""
        lib.pip_machine_code_changed(self._m)

    def add_python_partition(self, partition: Partition) -> None:
        """Mark a partition as run by Python code (no CPU context): when control passes to
        it, the run stops with "host"."""
        m = self._m
        if m.host_count >= lib.PIP_MAX_HOSTS:
            raise ValueError(f"at most {lib.PIP_MAX_HOSTS} Python partitions per machine")
        m.hosts[m.host_count] = partition.pd
        m.host_count += 1

    def is_python_partition(self, pd: int) -> bool:
        """The partition with descriptor page ``pd`` is run by Python code."""
        m = self._m
        return any(m.hosts[i] == pd for i in range(m.host_count))

    def remove_python_partition(self, partition: Partition) -> None:
        """Forget a Python partition (it was deleted: its descriptor page may serve again)."""
        m = self._m
        hosts = [m.hosts[i] for i in range(m.host_count) if m.hosts[i] != partition.pd]
        for i, pd in enumerate(hosts):
            m.hosts[i] = pd
        m.host_count = len(hosts)

    @property
    def timer_period(self) -> int:
        """Blocks between timer interrupts (0: off); the system page's register.  Fast mode
        counts a block as PIP_FAST_NS_PER_BLOCK ns of host time."""
        return int(self._m.timer_period)

    @timer_period.setter
    def timer_period(self, blocks: int) -> None:
        if type(blocks) is not int or not 0 <= blocks < 2**32:
            raise ValueError(f"timer_period must be an int in [0, 2**32), not {blocks!r}")
        lib.pip_machine_set_timer(self._m, blocks)

    def enter(self) -> None:
        """After a Python partition's yield / dispatch / resume through the API switched to a
        firmware partition (Kernel.current): give the CPU its context (then call run)."""
        lib.pip_machine_load_cpu(self._m)

    def register(self, uc_register: int) -> int:
        """The engine's register (a unicorn UC_*_REG_* number): what the CPU holds."""
        return int(lib.pip_machine_register(self._m, uc_register))

    def pc(self) -> int:
        """Where the CPU is: the running partition's pc, as a context's pc word (ARM: bit 0
        set in Thumb state)."""
        return int(lib.pip_machine_pc(self._m))

    def clock(self) -> int:
        """A trace's time now: instructions run (exact mode), or host ns since the machine
        started (fast mode: CLOCK_MONOTONIC, as the C glue's)."""
        if self.mode == "exact":
            return int(self._m.instructions)
        return time.monotonic_ns() - int(self._m.started_ns)

    def patch_word(self, symbol: str, value: int) -> None:
        """Set the 32-bit data word at an ELF symbol of the loaded root image (a runner's
        parameter: the word must be in .data, since the start file clears .bss)."""
        if self.image is None or symbol not in self.image.symbols:
            raise KeyError(f"the loaded image has no symbol {symbol!r}")
        self.write_root_image(self.image.symbols[symbol], (value & 0xFFFFFFFF).to_bytes(4, "little"))

    def start_at(self, pc: int) -> None:
        """Point the running partition's CPU at pc (bit 0: Thumb on ARM)."""
        words = list(self.kernel.cpu_context)
        words[CTX_PC] = pc
        self.kernel.cpu_context = words
        lib.pip_machine_load_cpu(self._m)

    def set_root_rights(self, va: int, r: bool, w: bool, x: bool) -> None:
        """Give the root's page at ``va`` the rights r w x (ImageError if it maps none)."""
        if lib.pip_root_set_rights(self.kernel.handle, va, r, w, x):
            raise ImageError(f"the root does not map {va:#x}")

    def write_root_image(self, va: int, data: bytes) -> None:
        """Copy bytes to the root's VAs through its page tables, whatever their rights."""
        memory, done = self.kernel.physical_memory(), 0
        for pa, size in self._root_spans(va, len(data)):
            memory[pa:pa + size] = data[done:done + size]
            done += size

    def read_root_image(self, va: int, size: int) -> bytes:
        """The bytes at the root's VAs [va, va + size), through its page tables, whatever
        their rights."""
        memory = self.kernel.physical_memory()
        return b"".join(bytes(memory[pa:pa + n]) for pa, n in self._root_spans(va, size))

    def _root_spans(self, va: int, size: int) -> list[tuple[int, int]]:
        """(physical address, bytes) of [va, va + size) page by page in the root; ValueError
        naming the first VA the root does not map, before anything is read or written."""
        if type(va) is not int or type(size) is not int or va < 0 or size < 0 \
                or va + size > 1 << 32:
            raise ValueError(f"{va!r}+{size!r} is not a range of 32-bit VAs")
        maps, spans, done = self.kernel.mappings(self.kernel.root), [], 0
        while done < size:
            at = va + done
            chunk = min(size - done, PAGE_SIZE - (at & 0xFFF))
            mapping = maps.get(at & ~0xFFF)
            if mapping is None:
                raise ValueError(f"the root does not map {at:#x}")
            spans.append((mapping.pa + (at & 0xFFF), chunk))
            done += chunk
        return spans

    # ---- running ----
    def run(self, max_instructions: int = 0, max_blocks: int = 0, max_seconds: float = 0,
            between: Callable[["Machine"], bool] | None = None,
            slice_seconds: float = SLICE_SECONDS) -> RunResult:
        """Run until the firmware halts, the kernel panics, a budget (0 = none) is spent, or
        (python_root) control comes back to the Python root: stop "host".  At most
        max_instructions / max_blocks (exact mode: they are counted) and max_seconds of
        host time (either mode).  between: the run goes in slices of slice_seconds of host
        time (shorter when the console buffer or the trace ring fills), and between(machine)
        is called after each, the CPU stopped before a block; it may take_console() and
        take_trace(); a true result stops the run: stop "interrupted".  Slices change
        nothing the guest sees (exact mode: the same counts and trace)."""
        for name, value in (("max_instructions", max_instructions), ("max_blocks", max_blocks)):
            if type(value) is not int or value < 0:
                raise ValueError(f"{name} must be an int >= 0, not {value!r}")
            if value and self.mode == "fast":
                raise ValueError(f"{name}: fast mode counts no instructions or blocks; "
                                 "use max_seconds, or mode exact")
        for name, seconds in (("max_seconds", max_seconds), ("slice_seconds", slice_seconds)):
            if not (isinstance(seconds, (int, float)) and 0 <= seconds < 1e9):
                raise ValueError(f"{name} must be a number of seconds >= 0, not {seconds!r}")
        if between is not None and not slice_seconds > 0:
            raise ValueError(f"slice_seconds must be > 0 with between, not {slice_seconds!r}")
        m = self._m
        if between is None:
            stop = STOPS.get(lib.pip_machine_run(m, max_blocks, max_instructions,
                                                 int(max_seconds * 1e9)), "error")
        else:
            stop = self._run_sliced(max_blocks, max_instructions, max_seconds, between,
                                    slice_seconds)
        counters = self.counters()
        fault = None
        if m.faults:
            f = m.fault
            fault = {"vector": f.vector, "address": f.address, "access": f.access,
                     "partition": f.partition, "pc": f.pc,
                     "context": tuple(f.context[i] for i in range(CONTEXT_WORDS))}
        return RunResult(stop, int(m.exit_code), self.take_console(), counters, fault,
                         self.partition_stats(), self.mode)

    def _run_sliced(self, max_blocks: int, max_instructions: int, max_seconds: float,
                    between: Callable[["Machine"], bool], slice_seconds: float) -> str:
        m = self._m
        if lib.pip_machine_begin(m, max_blocks, max_instructions, int(max_seconds * 1e9)):
            return "error"
        while True:
            stop = lib.pip_machine_slice(m, max(1, int(slice_seconds * 1e9)))
            if between(self):
                return "interrupted"
            if stop != lib.PIP_STOP_SLICE:
                return STOPS.get(stop, "error")

    def take_console(self) -> bytes:
        """What the guest wrote to the console since the last call, taken."""
        m = self._m
        console = bytes(ffi.buffer(m.out, m.out_len))
        m.out_len = 0
        return console

    def counters(self) -> dict[str, int]:
        """What the machine did since it started (instructions, syscalls, faults, ...);
        instructions and blocks only as counted in exact mode."""
        m = self._m
        return {name: int(getattr(m, name)) for name in
                ("instructions", "blocks", "syscalls", "switches", "faults", "swis", "irqs",
                 "irqs_dropped", "tlb_fills", "child_raised_events", "console_dropped",
                 "trace_dropped")}

    def partition_stats(self) -> dict[int, dict]:
        """{pd page: instructions (exact mode), syscalls, faults, switches_in, host_ns (host
        time it ran, the Python partitions' between runs included), pc (where it last left
        the CPU; 0: never)} since the machine started."""
        return {s.pd: {"instructions": s.instructions, "syscalls": s.syscalls,
                       "faults": s.faults, "switches_in": s.switches_in, "host_ns": s.host_ns,
                       "pc": s.pc}
                for s in self._m.stats if s.pd}

    def take_trace(self) -> list[Event]:
        """The events recorded since the last call (tracing on), oldest first, taken;
        pipsim.kernel.machine.trace names them.  The ring holds PIP_TRACE_CAP events: a sliced
        run drains it in time; what found it full is counters()["trace_dropped"]."""
        m = self._m
        events = [Event(e.kind, e.partition, e.number, e.result, e.reason, e.pc,
                        tuple(e.args), e.time)
                  for e in (m.trace[i] for i in range(m.trace_len))]
        m.trace_len = 0
        return events

    def trace_instructions(self, begin: int = 0, end: int = 0xFFFFFFFF,
                           partition: int = 0) -> None:
        """Exact mode, tracing on: an event for each instruction at [begin, end] (of the
        partition with that descriptor page; 0: any) before it runs.  begin > end: none."""
        for name, value in (("begin", begin), ("end", end), ("partition", partition)):
            if type(value) is not int or not 0 <= value < 1 << 32:
                raise ValueError(f"{name} must be a 32-bit address, not {value!r}")
        if self.mode != "exact" and begin <= end:
            raise ValueError("an instruction trace needs mode exact")
        if lib.pip_machine_trace_code(self._m, begin, end, partition):
            raise RuntimeError("the engine refused the instruction hook")

    # ---- snapshots (docs/debugging.md "Snapshots and replay") ----
    def identity(self) -> dict:
        """What a snapshot must match to be restored in this machine (snapshot.IDENTITY)."""
        g = self.kernel.geometry
        return {"arch": self.arch.NAME, "pages": g.pages, "table_size": g.table_size,
                "levels": g.levels, "policy": self.kernel.policy, "devices": list(self.devices),
                "device_pages": sorted(self.kernel.device_pages())}

    def snapshot(self) -> bytes:
        """The whole machine, stopped between runs, as a snapshot file's bytes
        (pipsim.kernel.machine.snapshot): memory, CPU, timer, counters, what it knows of its
        Python partitions, the console and trace not yet taken, the devices' registers.  A
        device written in Python must say its registers (state() / set_state(), as
        devices.Registers): SnapshotError otherwise, rather than a partial snapshot."""
        mute = [name for name, (_, d) in self.devices.items() if not hasattr(d, "set_state")]
        if mute:
            raise snapshot.SnapshotError(f"device {mute[0]!r} has no state() / set_state(): a "
                                         f"snapshot would miss its registers")
        size = lib.pip_machine_save(self._m, ffi.NULL, 0)
        record = ffi.new("uint8_t[]", size)
        if lib.pip_machine_save(self._m, record, size) != size:
            raise MemoryError("no memory for the machine's state record")
        devices = cbor2.dumps({name: d.state() for name, (_, d) in self.devices.items()})
        return snapshot.encode(self.identity(), self.mode, self.counters(),
                               {"state": ffi.buffer(record)[:],
                                "memory": bytes(self.kernel.physical_memory()),
                                "devices": devices})

    @classmethod
    def from_snapshot(cls, data: bytes, devices: Sequence[Device] = ()) -> "Machine":
        """A new machine as the snapshot says (its arch, pages, policy and mode; devices:
        the same devices written in Python, by name, as the machine it was taken of)."""
        taken = snapshot.decode(data)
        h = taken.header
        machine = cls(h["arch"], pages=h["pages"], devices=devices, policy=h["policy"],
                      mode=h["mode"])
        machine._restore(taken)
        return machine

    def restore(self, data: bytes) -> None:
        """This machine as the snapshot `data` (Machine.snapshot's bytes) says, its translated
        code and TLB flushed; SnapshotError naming what is wrong or differs, the machine then
        as it was.  The loaded image's description goes (Machine.image: None)."""
        self._restore(snapshot.decode(data))

    def _restore(self, taken: Snapshot) -> None:
        snapshot.check_fits(taken, self.identity())
        states, record = snapshot.device_states(taken), taken.sections["state"]
        memory, previous = taken.sections["memory"], {}
        try:
            for name, (_, device) in self.devices.items():
                previous[name] = device.state()
                device.set_state(states[name])
            code = lib.pip_machine_restore(self._m, record, len(record), memory, len(memory))
            if code:
                raise snapshot.refusal(code)
        except Exception:
            for name, state in previous.items():
                self.devices[name][1].set_state(state)
            raise
        self.image = None

    # ---- a debugger's view and stops (pipsim.kernel.machine.gdb), between runs or slices ----
    def context_of(self, pd: int) -> tuple[int, ...] | None:
        """Partition pd's context record: the running partition's from the CPU, another's as
        it last left the CPU; None if none is known (it never left the CPU)."""
        words = ffi.new(f"uint32_t[{CONTEXT_WORDS}]")
        if lib.pip_machine_context(self._m, pd, words):
            return None
        return tuple(words)

    def set_context(self, words: Iterable[int]) -> None:
        """Set the running partition's registers (a context record; its status word only as
        far as user mode may set it, docs/abi.md "Privilege")."""
        words = tuple(words)
        if len(words) != CONTEXT_WORDS or any(type(w) is not int or not 0 <= w < 1 << 32
                                              for w in words):
            raise ValueError(f"a context is {CONTEXT_WORDS} 32-bit words")
        lib.pip_machine_set_context(self._m, words)

    def debug_point(self, access: str | None, address: int, size: int, on: bool) -> None:
        """Set (on) or clear a breakpoint (access None: at a VA, in whichever partition runs
        there) or a watchpoint on the physical memory [address, address + size) (access:
        WATCH_ACCESSES; the engine's memory hooks see physical addresses); the run stops
        before the instruction at a breakpoint, and before the one after an access a
        watchpoint caught (debug_stop says why).  ValueError: the table is full (at most
        PIP_MAX_BREAKPOINTS / PIP_MAX_WATCHPOINTS), or there is no such point to clear."""
        if access is not None and access not in WATCH_ACCESSES:
            raise ValueError(f"access must be None or one of {', '.join(WATCH_ACCESSES)}")
        if type(address) is not int or not 0 <= address < 1 << 32 or type(size) is not int \
                or not 0 < size <= PAGE_SIZE:
            raise ValueError(f"not a point: {address!r} size {size!r}")
        kind = 0 if access is None else WATCH_ACCESSES[access]
        code = lib.pip_machine_debug_point(self._m, kind, address, size, int(bool(on)))
        if code == -1:
            raise ValueError(f"at most {lib.PIP_MAX_BREAKPOINTS} breakpoints and "
                             f"{lib.PIP_MAX_WATCHPOINTS} watchpoints")
        if code == -2:
            raise ValueError(f"no such point at {address:#x}")
        if code:
            raise RuntimeError("the engine refused a debugger's hook")

    def debug_resume(self, step: bool = False) -> None:
        """Before the next run or slice: go on (the instruction the running partition is at
        runs once without stopping), or with step stop before the next instruction run."""
        if lib.pip_machine_debug_resume(self._m, int(bool(step))):
            raise RuntimeError("the engine refused a debugger's hook")

    def debug_stop(self) -> tuple[str, int, str | None] | None:
        """Why the last slice stopped for a debugger: (DEBUG_STOPS name, the watchpoint's
        (physical) address, its access) — 0 and None unless "watch"; None if it did not."""
        d = self._m.debug
        why = DEBUG_STOPS.get(d.stopped)
        if why is None:
            return None
        if why != "watch":
            return why, 0, None
        access = next(name for name, value in WATCH_ACCESSES.items() if value == d.watch_access)
        return why, int(d.watch_address), access

    @property
    def tracing(self) -> bool:
        """The machine records events (take_trace); off by default."""
        return bool(self._m.tracing)

    @tracing.setter
    def tracing(self, on: bool) -> None:
        self._m.tracing = int(on)


def _check_mode(mode: object) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
