"""The registration directory on its own (a clock of the test's): lifetime expiry, replacement,
updates, identities, the bound, and hostile input changing nothing."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipsim.management.directory import Directory, Refusal

OBJECTS = b'</>;rt="oma.lwm2m";ct=60,</3/0>,</3311/0>'
IDENTITIES = {"lc1": "lc1", "lc2": "lc2"}


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def directory(limit=8):
    clock = Clock()
    return Directory(IDENTITIES, limit, clock=clock, wall=clock), clock


def register(d, endpoint="lc1", lifetime=60, identity=None, payload=OBJECTS):
    return d.register((f"ep={endpoint}", f"lt={lifetime}", "lwm2m=1.1", "b=U"), payload, 40,
                      identity or endpoint, remote=("peer", endpoint))


def test_a_registration_expires_unless_updated():
    d, clock = directory()
    first = register(d, lifetime=60)
    assert first.objects == ("/3/0", "/3311/0") and first.version == "1.1"
    clock.now += 59
    d.update(first.location, (), b"", None, "lc1", remote=("peer", "moved"))
    clock.now += 59
    entry = d.get("lc1")
    assert entry.remote == ("peer", "moved") and entry.updated == clock.now - 59
    clock.now += 1
    assert d.get("lc1") is None and d.devices() == []
    with pytest.raises(Refusal) as refused:
        d.update(first.location, (), b"", None, "lc1", remote=None)
    assert refused.value.code == 404


def test_an_update_changes_only_what_it_carries():
    d, clock = directory()
    registration = register(d)
    d.update(registration.location, ("lt=300",), b"", None, "lc1", remote=None)
    assert (d.get("lc1").lifetime, d.get("lc1").objects) == (300, ("/3/0", "/3311/0"))
    d.update(registration.location, (), b"</3/0>", 40, "lc1", remote=None)
    assert (d.get("lc1").lifetime, d.get("lc1").objects) == (300, ("/3/0",))


def test_registering_again_replaces_and_the_bound_holds():
    d, _ = directory(limit=1)
    first = register(d)
    again = register(d, payload=b"</3/0>")
    assert again.location != first.location and d.devices() == [again]
    with pytest.raises(Refusal) as refused:
        register(d, "lc2")
    assert refused.value.code == 503
    with pytest.raises(Refusal) as refused:
        d.deregister(first.location, "lc1")
    assert refused.value.code == 404
    d.deregister(again.location, "lc1")
    assert register(d, "lc2").endpoint == "lc2"


def test_identities_bind_endpoints():
    d, _ = directory()
    with pytest.raises(Refusal, match="its own PSK identity"):
        register(d, "lc1", identity="lc2")
    with pytest.raises(Refusal, match="no credentials"):
        register(d, "lc3", identity="lc3")
    with pytest.raises(Refusal, match="its own PSK identity"):             # unauthenticated
        d.register(("ep=lc1",), OBJECTS, 40, None, remote=None)
    plain = Directory(None)
    assert plain.register(("ep=anyone",), b"", None, None, remote=None).lifetime == 86400


queries = st.lists(st.sampled_from(["ep=lc1", "ep=lc2", "ep=", "ep=a b", "lt=60", "lt=-1",
                                    "lt=99999999999", "lt=", "lwm2m=1.1", "lwm2m=2", "b=U",
                                    "b=UQ", "b=X", "Q", "sms=1", "x=1", "ep"]), max_size=6)
payloads = st.one_of(st.just(OBJECTS), st.binary(max_size=64),
                     st.text(alphabet='</>;,="0123456789rt.', max_size=40).map(str.encode))


@given(st.lists(st.tuples(st.sampled_from(["register", "update", "deregister"]), queries,
                          payloads, st.sampled_from([None, 40, 0, 50]),
                          st.sampled_from(["lc1", "lc2", None])), max_size=12))
def test_hostile_requests_refuse_cleanly_and_change_nothing(steps):
    d, clock = directory(limit=1)
    for operation, query, payload, fmt, identity in steps:
        before = [(r.location, r.endpoint, r.objects, r.lifetime, r.binding, r.expires)
                  for r in d.devices()]
        location = before[0][0] if before else "/rd/none"
        try:
            if operation == "register":
                d.register(query, payload, fmt, identity, remote=None)
            elif operation == "update":
                d.update(location, query, payload, fmt, identity, remote=None)
            else:
                d.deregister(location, identity)
        except Refusal as refusal:
            assert refusal.code in (400, 403, 404, 413, 415, 503) and refusal.reason
            assert [(r.location, r.endpoint, r.objects, r.lifetime, r.binding, r.expires)
                    for r in d.devices()] == before
        assert len(d.devices()) <= 1
        clock.now += 1
