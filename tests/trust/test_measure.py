"""Measured boot: PCR-style chains, the event log and its replay (pipsim.trust.measure)."""
import hashlib

import pytest

from pipsim import partitions
from pipsim.domains.gateway import IMAGE
from pipsim.trust.measure import CODE, CONFIG, DELETE, ZERO, Event, Measurements, extend, replay


def h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def test_extend_is_sha256_of_old_and_digest():
    assert extend(ZERO, h(b"a")) == h(ZERO + h(b"a"))
    assert extend(extend(ZERO, h(b"a")), h(b"b")) != extend(extend(ZERO, h(b"b")), h(b"a"))


def test_a_partitions_register_chains_its_code_then_its_configuration():
    m = Measurements()
    m.created("root", None, ("python x:Y", h(b"code")), {"k": 1})
    config = m.events[1].digest
    assert [e.kind for e in m.events] == [CODE, CONFIG]
    assert m.state.registers["root"] == extend(extend(ZERO, h(b"code")), config)
    tree = extend(extend(ZERO, m.events[0].tree_digest), m.events[1].tree_digest)
    assert m.state.tree == tree


def test_the_log_of_a_booted_image_replays_to_the_same_values():
    m = Measurements()
    image = partitions.boot(IMAGE, m)
    assert image.measurements is m
    assert [e.partition for e in m.events[::2]] == [p.name for p in image.manifest.partitions]
    again = replay(Event.from_list(e.to_list()) for e in m.events)
    assert (again.tree, again.registers, again.parents) == (m.state.tree, m.state.registers,
                                                             m.state.parents)
    assert again.parents["temp-driver"] == "sensor-manager"


def test_the_same_image_measures_the_same_and_the_other_architecture_differently():
    first, second, x86 = Measurements(), Measurements(), Measurements()
    partitions.boot(IMAGE, first)
    partitions.boot(IMAGE, second)
    partitions.boot(partitions.load(IMAGE, "x86"), x86)
    assert first.state.registers == second.state.registers
    differ = {n for n in first.state.registers
              if first.state.registers[n] != x86.state.registers[n]}
    assert differ == {"temp-driver", "lamp-driver"}


def test_a_deletion_is_an_event_that_ends_the_subtree():
    m = Measurements()
    m.created("root", None, ("a", h(b"a")), {})
    m.created("p", "root", ("b", h(b"b")), {})
    m.created("q", "p", ("c", h(b"c")), {})
    before = m.state.tree
    m.deleted("p")
    assert m.events[-1].kind == DELETE and set(m.state.registers) == {"root"}
    assert m.state.tree == extend(before, m.events[-1].tree_digest)
    m.created("p", "root", ("b", h(b"b")), {})          # a new incarnation starts from zero
    assert m.state.registers["p"] == extend(extend(ZERO, h(b"b")), m.events[-1].digest)
    assert "q" not in m
    assert replay(m.events).registers == m.state.registers


@pytest.mark.parametrize("events, why", [
    ([("code", "a", None), ("code", "a", None)], "created while it exists"),
    ([("code", "a", None), ("code", "b", "zz")], "parent zz does not exist"),
    ([("code", "a", None), ("code", "b", None)], "a second root"),
    ([("config", "a", None)], "which does not exist"),
    ([("code", "a", None), ("delete", "b", "a")], "which does not exist"),
    ([("code", "a", None), ("code", "b", "a"), ("config", "b", "root")], "does not exist under"),
])
def test_an_inconsistent_log_is_refused(events, why):
    with pytest.raises(ValueError, match=why):
        replay([Event(kind, name, parent, "x", h(b"x")) for kind, name, parent in events])


def test_a_refused_event_changes_nothing():
    m = Measurements()
    m.created("root", None, ("a", h(b"a")), {})
    state = (m.state.tree, dict(m.state.registers), len(m.events))
    with pytest.raises(ValueError):
        m.record(CODE, "root", None, "again", h(b"b"))
    assert (m.state.tree, m.state.registers, len(m.events)) == state


@pytest.mark.parametrize("item, why", [
    ("x", "list of 5"), (["bogus", "a", None, "d", bytes(32)], "unknown event kind"),
    (["code", 1, None, "d", bytes(32)], "text"), (["code", "a", None, "d", bytes(31)], "32 bytes"),
])
def test_malformed_events_are_refused(item, why):
    with pytest.raises(ValueError, match=why):
        Event.from_list(item)
