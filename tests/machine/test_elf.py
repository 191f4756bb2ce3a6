"""pipsim.kernel.elf, the one ELF reader: what it checks, and the messages its users print."""
import pathlib
import shutil
import struct
import subprocess

import pytest

from pipsim.kernel import elf
from pipsim.kernel.elf import ImageError

BUILD = pathlib.Path(__file__).resolve().parents[2] / "firmware" / "build"


def copy(tmp_path, arch, name, patch=None):
    data = bytearray((BUILD / arch / f"{name}.elf").read_bytes())
    if patch:
        patch(data)
    path = tmp_path / f"{name}.elf"
    path.write_bytes(bytes(data))
    return str(path)


def no_loads(data):
    """Every PT_LOAD program header becomes PT_NULL."""
    phoff, = struct.unpack_from("<I", data, 28)
    phentsize, phnum = struct.unpack_from("<HH", data, 42)
    for i in range(phnum):
        if struct.unpack_from("<I", data, phoff + i * phentsize)[0] == 1:
            struct.pack_into("<I", data, phoff + i * phentsize, 0)


@pytest.mark.parametrize("arch", ["arm", "x86"])
def test_an_image_for_its_arch(arch):
    image = elf.read(BUILD / arch / "hello.elf", arch)
    assert image.arch == arch and image.e_machine == {"arm": "EM_ARM", "x86": "EM_386"}[arch]
    assert [s.rights for s in image.segments] == ["rx", "rw"]
    assert all(len(s.data) <= s.size and s.memory.startswith(s.data) for s in image.segments)
    assert image.stack_top == image.symbols["__stack_top"]
    image.check_entry()


def test_the_messages(tmp_path):
    junk = tmp_path / "junk.elf"
    junk.write_bytes(b"junk")
    with pytest.raises(ImageError, match=rf"^{junk}: not an ELF image \("):
        elf.read(junk)
    with pytest.raises(ImageError, match=rf"^{tmp_path}/missing.elf: No such file"):
        elf.read(tmp_path / "missing.elf")
    hello = str(BUILD / "arm" / "hello.elf")
    with pytest.raises(ImageError) as error:
        elf.read(hello, "x86")
    assert str(error.value) == f"{hello} is built for EM_ARM, the image's arch is x86"
    empty = copy(tmp_path, "arm", "hello", no_loads)
    elf.read(empty)                                  # without an arch: not checked
    with pytest.raises(ImageError) as error:
        elf.read(empty, "arm")
    assert str(error.value) == f"{empty} has no loadable segment"


def test_the_stack_symbol_is_checked_once(tmp_path):
    stripped = copy(tmp_path, "x86", "temp_driver")
    subprocess.run([shutil.which("strip") or "strip", stripped], check=True)
    image = elf.read(stripped, "x86")                # a valid image...
    assert image.symbols == {}
    with pytest.raises(ImageError) as error:         # ...that cannot start
        image.stack_top
    assert str(error.value) == (f"{stripped} has no __stack_top symbol (its initial stack "
                                "pointer: link it with firmware/ld/image.ld)")


def test_spawn_child_refuses_an_image_without_its_stack_before_any_call(tmp_path):
    from pipsim.kernel.abi import CONSOLE_VA, SYSTEM_VA
    from pipsim.kernel.machine import Machine
    from pipsim.kernel.machine.spawn import spawn_child
    from pipsim.kernel.wrappers import PageAllocator
    stripped = copy(tmp_path, "x86", "compute_child")
    subprocess.run([shutil.which("strip") or "strip", stripped], check=True)
    m = Machine("x86", pages=512, python_root=True)
    k = m.kernel
    alloc = PageAllocator.for_root(k, exclude=(CONSOLE_VA, SYSTEM_VA))
    before = (k.partitions(), k.mappings(k.root))
    with pytest.raises(ImageError, match="has no __stack_top symbol"):
        spawn_child(m, k.as_partition(k.root), alloc, stripped)
    assert (k.partitions(), k.mappings(k.root)) == before
