"""What a partition wrote is decoded strictly (pipsim.kernel.wire), in its mailbox and in its page
stores: a tag stays a plain CBORTag (cbor2.loads would compile tag 35 into a regex and build a
datetime from tag 1), too deep nesting and trailing bytes are refused with the reason, and the
runtime goes on serving."""
import struct

import cbor2
import pytest
from cbor2 import CBORTag

from pipsim.ipc import mailbox
from pipsim.domains.gateway import Gateway
from pipsim.domains.store import MAGIC, PageStore, StoreError
from pipsim.ipc import Reason
from pipsim.ipc.mailbox import MAX_DEPTH, Header, Pending, RingKind, State
from pipsim.kernel import Kernel

REGEX, DATE = bytes.fromhex("d82363612a62"), bytes.fromhex("c11a00000000")   # 35("a*b"), 1(0)
TOO_DEEP = b"\x81" * 40 + b"\x00"
TRAILING = b"\xa0\x00"
RESOURCE = "32769/0/1"


def _read(gw, domain):
    token = gw.token(domain, domain, f"{RESOURCE}:rw")
    [response] = gw.submit(domain, gw.command(domain, "read", RESOURCE, token=token))
    return response


def test_a_compromised_partitions_messages(monkeypatch):
    """provider-a's application partition writes hostile slots into its own outbox for its
    manager: the tags arrive as plain tags, the rest is refused to it as MALFORMED; nobody
    faults and provider-a still answers."""
    gw = Gateway()
    rt = gw.runtime
    decoded = []
    real = mailbox.decode
    monkeypatch.setattr(mailbox, "decode", lambda data: decoded.append(real(data))
                        or decoded[-1])
    app, manager = rt.topology.node("provider-a-app"), rt.topology.node("provider-a")
    view = rt.topology.own_view(app)
    for slot, payload in enumerate((REGEX, DATE, TOO_DEEP, TRAILING)):
        view.raise_pending(Pending.OUTBOX)
        view.ring(RingKind.OUTBOX).put(slot, Header(State.READY, 0, len(payload), app.id,
                                                    manager.id, 100 + slot), payload)
    rt.run()
    assert CBORTag(35, "a*b") in decoded and CBORTag(1, 0) in decoded
    refused = rt.topology.mailbox("provider-a-app").refusals()
    assert [(r.reason, r.seq) for r in refused] == [(Reason.MALFORMED, 102),
                                                    (Reason.MALFORMED, 103)]
    assert rt.faults == [] and rt.running("provider-a") and rt.running("provider-a-app")
    assert _read(gw, "provider-a").value == "comfort"


def _resources(gw, domain) -> PageStore:
    """The page store of ``domain``'s own resource values (behind its read handler)."""
    return gw.runtime.components[domain].admin.handler("read", (32769, 0, 1)).__self__.store


def _overwrite(store: PageStore, data: bytes) -> None:
    store.api.write(store.va, struct.pack("<4sI", MAGIC, len(data)) + data)


@pytest.mark.parametrize("tag, value", [(REGEX, CBORTag(35, "a*b")), (DATE, CBORTag(1, 0))])
def test_a_tag_in_a_store_stays_plain(tag, value):
    gw = Gateway()
    _overwrite(_resources(gw, "provider-a"), b"\xa1" + cbor2.dumps(RESOURCE) + tag)
    response = _read(gw, "provider-a")
    assert response.accepted and response.value == value


@pytest.mark.parametrize("data, reason", [
    (b"\xa1" + cbor2.dumps(RESOURCE) + TOO_DEEP, "maximum container nesting depth"),
    (b"\xa1" + cbor2.dumps(RESOURCE) + b"\x00\x00", "1 extra bytes after the CBOR item"),
])
def test_a_store_the_decoder_refuses_stops_its_domain_only(data, reason):
    gw = Gateway()
    _overwrite(_resources(gw, "provider-a"), data)
    assert _read(gw, "provider-a").reason == "stopped"
    assert f"raised StoreError: the store at {_resources(gw, 'provider-a').va:#x} holds no " \
           f"acceptable CBOR: {reason}" in gw.runtime.faults[-1]
    assert _read(gw, "provider-b").accepted                 # the rest of the device goes on


def test_a_store_holds_a_backlog_of_the_deepest_payloads():
    """The store's depth bound leaves room for a backlog entry around a payload as deep as a
    mailbox takes."""
    k = Kernel(pages=256)
    api = k.as_partition(k.root)
    store = PageStore(api, sorted(k.mappings(k.root))[0], 1)
    deepest = cbor2.loads(b"\x81" * MAX_DEPTH + b"\x00")
    assert mailbox.decode(cbor2.dumps(deepest)) == deepest
    store.format([["dest", deepest, 1]])
    assert store.load() == [["dest", deepest, 1]]
    store.format([["dest", [deepest], 1]])
    with pytest.raises(StoreError, match="depth"):
        store.load()
