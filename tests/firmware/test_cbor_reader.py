"""libpip's CBOR reader (firmware/libpip/cbor.c), built for the host: it walks every
well-formed item cbor2 writes, refuses what it does not support, and never reads past
its buffer, whatever the bytes (the buffer ends at a guard page)."""
import ctypes
import io
import mmap
import shutil
import subprocess
from pathlib import Path

import cbor2
import pytest
from cffi import FFI
from hypothesis import given, strategies as st

ROOT = Path(__file__).resolve().parents[2] / "firmware"
MAX_DEPTH = 16
CDEF = """
typedef struct { const uint8_t *pos, *end; } pip_cbor_reader;
typedef struct { uint8_t major; uint64_t arg; const uint8_t *data; } pip_cbor_item;
void pip_cbor_reader_init(pip_cbor_reader *r, const void *buf, uint32_t len);
int pip_cbor_next(pip_cbor_reader *r, pip_cbor_item *it);
int pip_cbor_skip(pip_cbor_reader *r);
int pip_cbor_done(const pip_cbor_reader *r);
int pip_cbor_is_text(const pip_cbor_item *it, const char *s);
"""


@pytest.fixture(scope="module")
def cbor(tmp_path_factory):
    assert shutil.which("gcc"), "the host gcc builds the C core too: it must be installed"
    so = tmp_path_factory.mktemp("cbor") / "libcbor.so"
    subprocess.run(["gcc", "-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC",
                    f"-I{ROOT / 'include'}", str(ROOT / "libpip" / "cbor.c"), "-o", str(so)],
                   check=True)
    ffi = FFI()
    ffi.cdef(CDEF)
    return ffi, ffi.dlopen(str(so))


class Guarded:
    """Bytes placed right before an inaccessible page: any read past them faults."""

    def __init__(self):
        self.map = mmap.mmap(-1, 2 * mmap.PAGESIZE)
        self.base = ctypes.addressof(ctypes.c_char.from_buffer(self.map))
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.mprotect(ctypes.c_void_p(self.base + mmap.PAGESIZE),
                             mmap.PAGESIZE, 0) == 0          # PROT_NONE

    def place(self, data: bytes) -> int:
        assert len(data) <= mmap.PAGESIZE
        at = mmap.PAGESIZE - len(data)
        self.map[at:mmap.PAGESIZE] = data
        return self.base + at


@pytest.fixture(scope="module")
def guarded():
    return Guarded()


def skip(cbor, guarded, data: bytes) -> tuple[int, int]:
    """pip_cbor_skip on data: (result, bytes consumed)."""
    ffi, c = cbor
    address = guarded.place(data)
    r = ffi.new("pip_cbor_reader *")
    c.pip_cbor_reader_init(r, ffi.cast("void *", address), len(data))
    result = c.pip_cbor_skip(r)
    consumed = int(ffi.cast("uintptr_t", r.pos)) - address
    assert 0 <= consumed <= len(data)
    return result, consumed


def depth(value, level=0) -> int:
    """How deep the deepest item sits (the top item at 0)."""
    if isinstance(value, cbor2.CBORTag):
        return depth(value.value, level + 1)
    if isinstance(value, list):
        return max([level] + [depth(v, level + 1) for v in value])
    if isinstance(value, dict):
        return max([level] + [depth(v, level + 1) for kv in value.items() for v in kv])
    return level


scalars = (st.integers(-2**70, 2**70) | st.text(max_size=20) | st.binary(max_size=20)
           | st.booleans() | st.none() | st.floats(allow_nan=False))
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=4) | st.integers(0, 99), inner, max_size=4)
    | st.builds(cbor2.CBORTag, st.integers(6, 2**32), inner), max_leaves=30)


def nest(levels: int):
    value = 0
    for _ in range(levels):
        value = [value]
    return value


@given(values)
def test_skips_exactly_one_well_formed_item(cbor, guarded, value):
    data = cbor2.dumps(value)
    result, consumed = skip(cbor, guarded, data + b"\x00")       # another item follows
    if depth(value) <= MAX_DEPTH:
        assert (result, consumed) == (0, len(data))
    else:
        assert result == -1


@pytest.mark.parametrize("levels, ok", [(MAX_DEPTH, True), (MAX_DEPTH + 1, False)])
def test_nesting_is_bounded(cbor, guarded, levels, ok):
    assert skip(cbor, guarded, cbor2.dumps(nest(levels)))[0] == (0 if ok else -1)


@pytest.mark.parametrize("data", [
    b"\x9f\x01\xff",                  # indefinite-length array
    b"\x5f\x41a\xff",                 # indefinite-length byte string
    b"\x1c", b"\x3d", b"\xfe",        # reserved additional information 28..30
    b"\xff",                          # a lone break
    b"\x1b\x00\x00",                  # truncated 8-byte argument
    b"\x7a\xff\xff\xff\xff",          # a 4 GiB text string in 5 bytes
    b"\x9b" + b"\xff" * 8,            # an array of 2**64 - 1 items
    b"\xbb" + b"\xff" * 8 + b"\x01",  # a map of 2**64 - 1 pairs
    b"",
])
def test_refuses_what_it_does_not_support_or_cannot_hold(cbor, guarded, data):
    assert skip(cbor, guarded, data)[0] == -1


@given(st.binary(max_size=64))
def test_any_bytes_stay_within_the_buffer(cbor, guarded, data):
    """The guard page catches any overread; where cbor2 reads one item too, both agree
    on where it ends."""
    result, consumed = skip(cbor, guarded, data)
    fp = io.BytesIO(data)
    try:
        cbor2.CBORDecoder(fp).decode()
    except Exception:                  # cbor2 also checks UTF-8, tag contents, ...
        return
    if result == 0:
        assert consumed == fp.tell()


def test_next_reads_heads_and_strings(cbor, guarded):
    ffi, c = cbor
    data = cbor2.dumps({"reg": "period", "value": 2**32 - 1})
    r, it = ffi.new("pip_cbor_reader *"), ffi.new("pip_cbor_item *")
    c.pip_cbor_reader_init(r, ffi.cast("void *", guarded.place(data)), len(data))
    seen = []
    while not c.pip_cbor_done(r):
        assert c.pip_cbor_next(r, it) == 0
        text = bytes(ffi.buffer(it.data, it.arg)) if it.data else None
        seen.append((it.major, it.arg if it.major != 3 else None, text))
    assert seen == [(5, 2, None), (3, None, b"reg"), (3, None, b"period"), (3, None, b"value"),
                    (0, 2**32 - 1, None)]
    c.pip_cbor_reader_init(r, ffi.cast("void *", guarded.place(b"\x64read")), 5)
    assert c.pip_cbor_next(r, it) == 0
    assert c.pip_cbor_is_text(it, b"read") and not c.pip_cbor_is_text(it, b"rea")
