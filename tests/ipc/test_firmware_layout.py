"""libpip's C helper (firmware/libpip/ipc.c, payloads by cbor.c) speaks the same mailbox layout as ipc/.

The helper is built for the host and run on a copy of a partition's own mailbox pages,
read and written back through that partition's API: what the C code writes, the Python
relay and mailboxes read, and the other way round."""
import shutil
import subprocess
from pathlib import Path

import cbor2
import pytest
from cffi import FFI

from ipc_trees import count_errors

from pipsim.ipc import Policy, Reason, Relay
from pipsim.kernel.abi import PAGE_SIZE

ROOT = Path(__file__).resolve().parents[2] / "firmware"
CDEF = """
typedef struct { uint8_t *outbox; uint8_t *inbox; } pip_ipc_mailbox;
typedef struct { uint8_t *buf; uint16_t cap, len; int error; } pip_cbor;
int32_t pip_ipc_endpoint(const pip_ipc_mailbox *mb);
int32_t pip_ipc_send(const pip_ipc_mailbox *mb, uint16_t dst, const void *p, uint16_t len);
int32_t pip_ipc_receive(const pip_ipc_mailbox *mb, void *buf, uint16_t cap, uint16_t *src,
                        uint32_t *seq);
int32_t pip_ipc_refusal(const pip_ipc_mailbox *mb, uint16_t *dst, uint32_t *seq);
void pip_cbor_init(pip_cbor *w, void *buf, uint16_t cap);
void pip_cbor_int(pip_cbor *w, int32_t v);
void pip_cbor_text(pip_cbor *w, const char *s);
void pip_cbor_map(pip_cbor *w, uint16_t pairs);
void pip_cbor_array(pip_cbor *w, uint16_t items);
"""


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    assert shutil.which("gcc"), "the host gcc builds the C core too: it must be installed"
    so = tmp_path_factory.mktemp("ipc") / "libipc.so"
    subprocess.run(["gcc", "-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror", "-shared",
                    "-fPIC", f"-I{ROOT / 'include'}", str(ROOT / "libpip" / "ipc.c"),
                    str(ROOT / "libpip" / "cbor.c"), "-o",
                    str(so)], check=True)
    ffi = FFI()
    ffi.cdef(CDEF)
    return ffi, ffi.dlopen(str(so))


class CMailbox:
    """A partition's mailbox pages copied out through its own API, for the C helper."""

    def __init__(self, topo, name, lib):
        self.ffi, self.lib = lib
        self.node, self.api = topo.node(name), topo.api(topo.node(name))
        self.out = self.ffi.new("uint8_t[]", 2 * PAGE_SIZE)
        self.inb = self.ffi.new("uint8_t[]", 2 * PAGE_SIZE)
        self.mb = self.ffi.new("pip_ipc_mailbox *", (self.out, self.inb))

    def __enter__(self):
        self.ffi.memmove(self.out, self.api.read(self.node.outbox_va, 2 * PAGE_SIZE),
                         2 * PAGE_SIZE)
        self.ffi.memmove(self.inb, self.api.read(self.node.inbox_va, 2 * PAGE_SIZE),
                         2 * PAGE_SIZE)
        return self

    def __exit__(self, *exc):
        self.api.write(self.node.outbox_va, bytes(self.ffi.buffer(self.out)))
        self.api.write(self.node.inbox_va, bytes(self.ffi.buffer(self.inb)))


def cbor_from_c(lib):
    ffi, c = lib
    buf = ffi.new("uint8_t[]", 64)
    w = ffi.new("pip_cbor *")
    c.pip_cbor_init(w, buf, 64)
    c.pip_cbor_map(w, 3)
    c.pip_cbor_int(w, 1)
    c.pip_cbor_text(w, b"temp")
    c.pip_cbor_int(w, -300)
    c.pip_cbor_array(w, 2)
    c.pip_cbor_int(w, 70000)
    c.pip_cbor_int(w, 23)
    c.pip_cbor_text(w, b"k" * 30)
    c.pip_cbor_int(w, 255)
    assert not w.error
    return bytes(ffi.buffer(buf, w.len))


def test_the_c_cbor_writer_is_cbor(lib):
    assert cbor2.loads(cbor_from_c(lib)) == {1: "temp", -300: [70000, 23], "k" * 30: 255}
    ffi, c = lib
    w = ffi.new("pip_cbor *")
    c.pip_cbor_init(w, ffi.new("uint8_t[]", 4), 4)
    c.pip_cbor_text(w, b"too long")
    assert w.error


def test_c_sends_python_relays_and_receives(topo, lib):
    ffi, c = lib
    payload = cbor_from_c(lib)
    with CMailbox(topo, "a11", lib) as cm:
        assert c.pip_ipc_endpoint(cm.mb) == topo.node("a11").id
        dst = topo.node("b11").id
        assert [c.pip_ipc_send(cm.mb, dst, payload, len(payload)) for _ in range(2)] == [1, 2]
        assert c.pip_ipc_send(cm.mb, 0, payload, 1) == -2
        assert c.pip_ipc_send(cm.mb, dst, payload, 481) == -3
        assert c.pip_ipc_send(cm.mb, topo.node("a").id, payload, len(payload)) == 1
    Relay(topo, Policy([("a11", "b11")])).run_until_idle()
    got = topo.mailbox("b11").receive()
    assert [(m.src_name, m.seq, m.payload) for m in got] == [("a11", s, cbor2.loads(payload))
                                                            for s in (1, 2)]
    [refusal] = topo.mailbox("a11").refusals()           # a11 -> a is not authorised
    assert (refusal.reason, refusal.dst_name) == (Reason.UNAUTHORISED, "a")


def test_python_sends_c_receives_and_reads_refusals(topo, lib):
    ffi, c = lib
    topo.mailbox("b1").send("a11", {"cmd": "read"})
    topo.mailbox("b1").send("a11", [1, 2])
    with CMailbox(topo, "a11", lib) as cm:
        c.pip_ipc_send(cm.mb, 99, b"\x01", 1)              # nobody has id 99
    Relay(topo, Policy([("b1", "a11")])).run_until_idle()
    with CMailbox(topo, "a11", lib) as cm:
        buf, src, seq = ffi.new("uint8_t[480]"), ffi.new("uint16_t *"), ffi.new("uint32_t *")
        assert c.pip_ipc_receive(cm.mb, buf, 2, src, seq) == -6   # too small: left in place
        got = []
        while (n := c.pip_ipc_receive(cm.mb, buf, 480, src, seq)) >= 0:
            got.append((src[0], seq[0], cbor2.loads(bytes(ffi.buffer(buf, n)))))
        assert n == -5
        assert got == [(topo.node("b1").id, 1, {"cmd": "read"}), (topo.node("b1").id, 2, [1, 2])]
        dst = ffi.new("uint16_t *")
        assert c.pip_ipc_refusal(cm.mb, dst, seq) == Reason.UNDELIVERABLE
        assert (dst[0], seq[0]) == (99, 1)
        assert c.pip_ipc_refusal(cm.mb, dst, seq) == 0
    assert topo.mailbox("a11").receive() == []


def test_c_keeps_the_pending_counts(topo, lib):
    """The C helper raises the outbox count before a slot goes READY and lowers the inbox and
    status counts after it frees a slot: a relay past its first (full) pass, which reads only
    counted rings, carries its messages, and the counts stay exact."""
    ffi, c = lib
    relay = Relay(topo, Policy([("a11", "b1"), ("b1", "a11")]), rescan=None)
    relay.step()
    with CMailbox(topo, "a11", lib) as cm:
        for dst in ("b1", "b1", "a"):                  # a11 -> a: not authorised
            assert c.pip_ipc_send(cm.mb, topo.node(dst).id, b"\x01", 1) > 0
    assert list(topo.own_view(topo.node("a11")).pending()) == [3, 0, 0, 0]
    assert count_errors(topo) == {}
    topo.mailbox("b1").send("a11", "back")
    relay.run_until_idle()
    assert [m.seq for m in topo.mailbox("b1").receive()] == [1, 2]
    assert list(topo.own_view(topo.node("a11")).pending()) == [0, 1, 0, 1]
    with CMailbox(topo, "a11", lib) as cm:
        buf, src, seq = ffi.new("uint8_t[480]"), ffi.new("uint16_t *"), ffi.new("uint32_t *")
        assert c.pip_ipc_receive(cm.mb, buf, 480, src, seq) == 5
        assert c.pip_ipc_refusal(cm.mb, ffi.new("uint16_t *"), seq) == Reason.UNAUTHORISED
    assert list(topo.own_view(topo.node("a11")).pending()) == [0, 0, 0, 0]
    assert count_errors(topo) == {}
