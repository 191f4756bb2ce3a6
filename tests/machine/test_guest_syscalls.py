"""Guest code drives the kernel with random system calls (firmware sample `syscalls`):
the results seen by the guest equal those of the same calls through the Python API on
an identical machine, the states end equal, and Pip's properties hold."""
import pathlib
import struct

import hypothesis.strategies as st
from hypothesis import event, given

from pipsim.kernel import MemoryFault, elf
from pipsim.kernel.abi import PAGE_SIZE
from pipsim.kernel.machine import Machine

BUILD = pathlib.Path(__file__).resolve().parents[2] / "firmware" / "build"
STORE = 0x1000
MEMORY_CALLS = [1, 2, 3, 4, 5, 6, 7, 8, 12, 13]


def symbols(arch):
    table = elf.read(BUILD / arch / "syscalls.elf").symbols
    return {n: table[n] for n in ("script", "script_count", "results", "__image_end")}


def heap(arch, pages=24):
    start = (symbols(arch)["__image_end"] + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
    return [start + i * PAGE_SIZE for i in range(pages)]


def draw_script(data, arch):
    """Calls with arguments that often make sense: descriptors of children created
    earlier in the script, free lists built by stores, heap pages, child VAs; and
    anything at all sometimes."""
    pages = heap(arch)
    own = st.sampled_from(pages)
    child_va = st.sampled_from([i * PAGE_SIZE for i in range(1, 8)] + [0xFFFFF000])
    descs = []
    script = []
    for _ in range(data.draw(st.integers(1, 40), label="length")):
        desc = st.sampled_from(descs) if descs else own
        anything = st.one_of(own, child_va, desc, st.just(0), st.integers(0, 2**32 - 1))
        kind = data.draw(st.sampled_from(["create", "chain", "map", "call", "call"]))
        if kind == "create":
            args = data.draw(st.lists(own, min_size=5, max_size=5, unique=True))
            script.append((1, *args))
            descs.append(args[0])
        elif kind == "chain":                  # a free list for prepare
            chain = data.draw(st.lists(own, min_size=1, max_size=5, unique=True))
            script += [(STORE, va, nxt) for va, nxt in zip(chain, chain[1:] + [0])]
            script.append((5, data.draw(desc), data.draw(child_va), chain[0]))
        elif kind == "map":
            bits = data.draw(st.tuples(st.just(1), st.integers(0, 1), st.integers(0, 1)))
            script.append((3, data.draw(own), data.draw(desc), data.draw(child_va), *bits))
        else:
            number = data.draw(st.sampled_from(MEMORY_CALLS))
            args = [data.draw(anything) for _ in range(3)]
            args += [data.draw(st.integers(0, 1)) for _ in range(3)] if number == 3 else [
                data.draw(anything) for _ in range(3)]
            script.append((number, *args))
    return script


def machine(arch):
    m = Machine(arch, pages=512)
    m.load(str(BUILD / arch / "syscalls.elf"))
    return m


def through_the_guest(arch, script):
    m, sym = machine(arch), symbols(arch)
    words = [w for entry in script for w in (list(entry) + [0] * 7)[:7]]
    m.write_root_image(sym["script"], struct.pack(f"<{len(words)}I", *words))
    m.write_root_image(sym["script_count"], struct.pack("<I", len(script)))
    result = m.run(max_instructions=5_000_000)
    assert (result.stop, result.exit_code) == ("halt", 0), result
    api = m.kernel.as_partition(m.kernel.root)
    raw = api.read(sym["results"], 4 * len(script))
    return m, list(struct.unpack(f"<{len(script)}I", raw))


def through_the_api(arch, script):
    """Run the script through the API; stores the root may not do are dropped from it
    (in the guest they would be page faults of the root, i.e. a kernel panic)."""
    m = machine(arch)
    api = m.kernel.as_partition(m.kernel.root)
    calls = {1: api.create_partition, 2: api.delete_partition, 3: api.add_vaddr,
             4: api.remove_vaddr, 5: api.prepare, 6: api.collect, 7: api.count_to_map,
             8: api.mapped_in_child, 12: api.get_int_state, 13: api.set_int_state}
    arity = {1: 5, 2: 1, 3: 6, 4: 2, 5: 3, 6: 2, 7: 2, 8: 1, 12: 1, 13: 1}
    results, kept = [], []
    for number, *args in script:
        if number == STORE:
            try:
                api.write(args[0], struct.pack("<I", args[1]))
            except MemoryFault:
                continue
            results.append(None)
            kept.append((number, *args))
            continue
        kept.append((number, *args))
        value = calls[number](*args[:arity[number]])
        if number == 5:
            value = value.next_va | value.ok
        results.append(0 if value is None else int(value))
    return m, results, kept


def state(m):
    k = m.kernel
    return [(p, k.mappings(p), k.config_pages(p)) for p in k.partitions()]


@given(data=st.data(), arch=st.sampled_from(["arm", "x86"]))
def test_guest_calls_match_the_api_and_keep_the_properties(data, arch):
    """15 scripts of up to 60 calls per run; `make test-deep` raises it."""
    twin, api_results, script = through_the_api(arch, draw_script(data, arch))
    guest, guest_results = through_the_guest(arch, script)
    for entry, got, expected in zip(script, guest_results, api_results):
        if expected is not None:
            assert got == expected, entry
    assert state(guest) == state(twin)
    event(f"partitions after the script: {len(guest.kernel.partitions())}")
    assert guest.kernel.check_invariants() == []


def test_a_python_device_is_reached_through_the_roots_page_tables():
    from pipsim.kernel.machine.devices import Registers
    writes = []
    sensor = Registers("sensor", on_write=lambda offset, value: writes.append((offset, value)))
    sensor.words[0] = 2150                           # 21.50 degrees
    m = Machine("x86", pages=512, devices=[sensor])
    m.load(str(BUILD / "x86" / "syscalls.elf"))
    va, sym = m.device_va("sensor"), symbols("x86")
    script = [(0x1001, va), (STORE, va + 4, 1)]
    words = [w for entry in script for w in (list(entry) + [0] * 7)[:7]]
    m.write_root_image(sym["script"], struct.pack(f"<{len(words)}I", *words))
    m.write_root_image(sym["script_count"], struct.pack("<I", len(script)))
    assert m.run(max_instructions=1_000_000).stop == "halt"
    api = m.kernel.as_partition(m.kernel.root)
    assert struct.unpack("<I", api.read(sym["results"], 4))[0] == 2150
    assert writes == [(4, 1)]


def test_host_calls_reach_python_handlers():
    m = Machine("arm", pages=512)
    m.load(str(BUILD / "arm" / "syscalls.elf"))
    seen = []
    m.host_calls[0x100] = lambda machine, args: seen.append(args) or sum(args)
    m.host_calls[0x101] = lambda machine, args: 1 // 0          # a buggy tool
    sym = symbols("arm")
    script = [(0x100, 1, 2, 3, 4, 5, 6), (0x101,), (0x102,)]
    words = [w for entry in script for w in (list(entry) + [0] * 7)[:7]]
    m.write_root_image(sym["script"], struct.pack(f"<{len(words)}I", *words))
    m.write_root_image(sym["script_count"], struct.pack("<I", len(script)))
    assert m.run(max_instructions=1_000_000).stop == "halt"
    results = struct.unpack("<3I", m.kernel.as_partition(m.kernel.root).read(sym["results"], 12))
    assert results == (21, 0xFFFFFFFF, 0xFFFFFFFF) and seen == [[1, 2, 3, 4, 5, 6]]
    assert isinstance(m.host_errors[0], ZeroDivisionError)
