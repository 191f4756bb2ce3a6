"""Bad images get a clear error; a fault nobody can take is a kernel panic with a report."""
import pathlib
import struct

import pytest

from pipsim.kernel.cli import main
from pipsim.kernel.machine import ImageError, Machine
from pipsim.kernel.machine.report import fault_report

BUILD = pathlib.Path(__file__).resolve().parents[2] / "firmware" / "build"


def patched(tmp_path, arch, name, offset_of, value):
    data = bytearray((BUILD / arch / f"{name}.elf").read_bytes())
    struct.pack_into("<I", data, offset_of(data), value)
    path = tmp_path / "patched.elf"
    path.write_bytes(bytes(data))
    return str(path)


def first_phdr_vaddr(data):
    phoff = struct.unpack_from("<I", data, 28)[0]
    return phoff + 8


def phdr_field(index, offset):
    """Where field `offset` of program header `index` lies in an ELF32 file."""
    return lambda data: struct.unpack_from("<I", data, 28)[0] + 32 * index + offset


def second_load_onto_first(tmp_path, arch="arm"):
    data = bytearray((BUILD / arch / "hello.elf").read_bytes())
    loads = [i for i in range(struct.unpack_from("<H", data, 44)[0])      # PT_LOAD, not empty
             if struct.unpack_from("<I", data, phdr_field(i, 0)(data))[0] == 1
             and struct.unpack_from("<I", data, phdr_field(i, 20)(data))[0]]
    first_va = struct.unpack_from("<I", data, phdr_field(loads[0], 8)(data))[0]
    struct.pack_into("<I", data, phdr_field(loads[1], 8)(data), first_va + 4)
    path = tmp_path / "overlap.elf"
    path.write_bytes(bytes(data))
    return str(path)


@pytest.mark.parametrize("make_image, message", [
    (lambda tmp: patched(tmp, "arm", "hello", phdr_field(0, 16), 0x100000), "more bytes in the file"),
    (lambda tmp: patched(tmp, "arm", "hello", phdr_field(0, 4), 0x7FFFF000), "pass the end of the file"),
    (second_load_onto_first, "overlaps segment"),
    (lambda tmp: patched(tmp, "arm", "hello", lambda d: 24, 0x900000), "not in an executable"),
])
def test_a_refused_image_changes_nothing(tmp_path, make_image, message):
    """Every check comes before the first page is written or its rights changed."""
    machine = Machine("arm", pages=512)
    k = machine.kernel
    before = (k.mappings(k.root), bytes(k.physical_memory()))
    with pytest.raises(ImageError, match=message):
        machine.load(make_image(tmp_path))
    assert (k.mappings(k.root), bytes(k.physical_memory())) == before
    machine.load(str(BUILD / "arm" / "hello.elf"))                  # and it still loads one
    assert machine.run(max_instructions=100_000).console == b"Hello World\n"


@pytest.mark.parametrize("option", ["--max-instructions", "--pages"])
@pytest.mark.parametrize("value, message", [("-5", "is negative"), ("many", "not a whole number")])
def test_the_command_line_refuses_bad_counts(capsys, option, value, message):
    with pytest.raises(SystemExit) as stop:
        main(["run", str(BUILD / "arm" / "hello.elf"), option, value])
    assert stop.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("make_image, message", [
    (lambda tmp: str(pathlib.Path(__file__)), "not an ELF image"),
    (lambda tmp: str(BUILD / "x86" / "hello.elf"), "is built for EM_386, the image.s arch is arm"),
    (lambda tmp: patched(tmp, "arm", "hello", first_phdr_vaddr, 0x1000), "outside the root's"),
    (lambda tmp: patched(tmp, "arm", "hello", lambda d: 24, 0x900000), "not in an executable"),
    (lambda tmp: str(tmp / "missing.elf"), "No such file"),
])
def test_bad_images_are_refused_clearly(tmp_path, make_image, message):
    with pytest.raises(ImageError, match=message):
        Machine("arm").load(make_image(tmp_path))


def test_the_command_line_reports_bad_images(tmp_path, capsys):
    assert main(["run", str(pathlib.Path(__file__))]) == 2
    assert "not an ELF image" in capsys.readouterr().err


@pytest.mark.parametrize("arch", ["arm", "x86"])
def test_a_root_fault_is_a_kernel_panic_with_a_report(arch):
    machine = Machine(arch)
    image = machine.load(str(BUILD / arch / "hello.elf"))
    data_page = next(va for va, size, flags in image.segments if "w" in flags)
    machine.start_at(data_page | (1 if arch == "arm" else 0))     # execute a data page
    result = machine.run(max_instructions=10_000)
    assert result.stop == "panic"
    assert result.fault["vector"] == 14 and result.fault["access"] == 3
    report = fault_report(machine, result.fault, panic=True)
    assert report.startswith("KERNEL PANIC: page fault in partition pd 1")
    assert f"execute access to {data_page:#010x} refused" in report


def test_run_command_prints_console_trace_and_summary(tmp_path, capsys):
    trace = tmp_path / "trace.jsonl"
    assert main(["run", str(BUILD / "x86" / "compute_small.elf"), "--trace", str(trace)]) == 0
    out = capsys.readouterr().out
    assert "compute: done" in out and "stopped: halt (exit code 0)" in out
    assert "partition pd" in out
    import json
    events = [json.loads(line) for line in trace.read_text().splitlines()]
    assert {"syscall", "switch"} <= {e["event"] for e in events}
