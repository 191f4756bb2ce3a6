"""Argument validation of the model's API (before touching state)."""
import pytest

from pipsim.kernel.abi import RESUME_SELF
from pipsim.kernel.model import Kernel
from pipsim.kernel.types import Partition


@pytest.fixture(scope="module")
def k():
    return Kernel(pages=64, table_size=16, levels=2)


@pytest.mark.parametrize("call, exc, name", [
    (lambda a: a.create_partition(True, 0x20000, 0x21000, 0x22000, 0x23000), TypeError, "desc"),
    (lambda a: a.create_partition(0x20000, 1 << 20, 0, 0, 0), ValueError, "pd"),
    (lambda a: a.create_partition(0x20000, 0, 0, 0, -1), ValueError, "ll"),
    (lambda a: a.delete_partition("x"), TypeError, "desc"),
    (lambda a: a.add_vaddr(0x20000, 0x21000, 0x22000, 2, 0, 0), ValueError, "r"),
    (lambda a: a.add_vaddr(0x20000, 0x21000, 0x22000, 1, None, 0), TypeError, "w"),
    (lambda a: a.add_vaddr(0x20000, 0x21000, 1.5, 1, 0, 0), TypeError, "dst"),
    (lambda a: a.remove_vaddr(0, 1 << 20), ValueError, "va"),
    (lambda a: a.prepare(0, 0, False), TypeError, "first_free_va"),
    (lambda a: a.collect(0, -5), ValueError, "va"),
    (lambda a: a.count_to_map(None, 0), TypeError, "desc"),
    (lambda a: a.mapped_in_child(1 << 40), ValueError, "va"),
    (lambda a: a.dispatch(0, 1 << 32, 0, 0, 0), ValueError, "vint"),
    (lambda a: a.dispatch(0, 0, 0, -1, 0), ValueError, "data1"),
    (lambda a: a.resume(0, 1 << 32), ValueError, "pipflags"),
    (lambda a: a.resume(0xFFFFFFFE, 0), ValueError, "desc"),
    (lambda a: a.yield_(0, 0, 0, 0, "1"), TypeError, "flags_on_wake"),
    (lambda a: a.yield_(0, -1, 0, 0, 0), ValueError, "target_interrupt"),
    (lambda a: a.get_int_state(1 << 20), ValueError, "desc"),
    (lambda a: a.set_int_state(1 << 32), ValueError, "value"),
    (lambda a: a.read(0x20000, -1), ValueError, "n"),
    (lambda a: a.read(0x20000, 1.0), TypeError, "n"),
    (lambda a: a.write(0x20000, "text"), TypeError, "data"),
    (lambda a: a.translate(0x20000, "rw"), ValueError, "access"),
    (lambda a: a.translate(0x20000, 1), TypeError, "access"),
])
def test_bad_arguments(k, call, exc, name):
    before = (k.last_error, k.current, bytes(k._s.mem.data))
    with pytest.raises(exc, match=name):
        call(k.as_partition(k.root))
    assert (k.last_error, k.current, bytes(k._s.mem.data)) == before


def test_good_arguments_accepted(k):
    api = k.as_partition(k.root)
    api.add_vaddr(0x20000, 0x21000, 0x22000, True, 0, 1)    # bools and 0/1 ints
    assert api.resume(RESUME_SELF, 0) in (0, 5, 8)          # the special descriptor
    api.write(0x20000, bytearray(b"ab"))
    api.write(0x20000, memoryview(b"ab"))
    assert api.read(0x20000, 2) == b"ab"


def test_as_partition_and_observers(k):
    with pytest.raises(ValueError):
        k.as_partition(Partition(2))
    with pytest.raises(TypeError):
        k.as_partition(1)
    with pytest.raises(ValueError):
        k.mappings(Partition(7))


def test_cpu_context(k):
    k.cpu_context = range(20)
    assert k.cpu_context == tuple(range(20))
    with pytest.raises(ValueError):
        k.cpu_context = [0] * 19
    with pytest.raises(ValueError):
        k.cpu_context = [0] * 19 + [1 << 32]
    with pytest.raises(TypeError):
        k.cpu_context = [0] * 19 + [1.0]
    assert k.cpu_context == tuple(range(20))


def test_debug_words(k):
    k.debug_write_word(0x1000 + 4 * 12, 0xDEADBEEF)
    assert k.debug_read_word(0x1000 + 4 * 12) == 0xDEADBEEF
    k.debug_write_word(0x1000 + 4 * 12, 0)
    for bad in (-4, 64 * 4096, 2):
        with pytest.raises(ValueError):
            k.debug_read_word(bad)
    with pytest.raises(ValueError):
        k.debug_write_word(0, 1 << 32)
