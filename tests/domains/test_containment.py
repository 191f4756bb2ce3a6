"""A hostile or faulty partition is contained: a component's fault (memory, any exception,
a runaway) stops its domain, a firmware partition's halts it, a mailbox the relay cannot use
closes it; each is reported to the parent, every command and message it had taken is
answered once, and everything else keeps serving (on arm and x86)."""
from collections import Counter

import pytest
from hypothesis import example, given, settings, strategies as st

from hostile import arm, loops
from lending import lend_mailbox

from pipsim.domains.gateway import APP_CONFIG, LAMP, RESTART, START, TEMPERATURE, Gateway
from pipsim.ipc import IpcError
from pipsim.tokens.scope import OPERATIONS


@pytest.fixture(params=["arm", "x86"])
def gw(request):
    gateway = Gateway(arch=request.param)
    gateway.sensor.set(0, 2150)
    return gateway


def command(gw, who, code, resource, value=None):
    token = gw.token(who, who, f"{resource}:{OPERATIONS[code]}")
    return gw.command(who, code, resource, value, token=token)


def ask(gw, who, code, resource, value=None):
    """Submit one command, run until idle: its one response."""
    (response,) = gw.submit(who, command(gw, who, code, resource, value))
    return response


def burst(gw, commands):
    """Submit (who, code, resource) commands at once, run until idle: {id: [responses]}."""
    rt, ids, responses = gw.runtime, {}, []
    for who, code, resource in commands:
        c = command(gw, who, code, resource)
        ids[c.id] = who
        responses += [r for r in [rt.submit(who, c.encode())] if r is not None]
    rt.run()
    answers = {}
    for response in responses + rt.collect():
        answers.setdefault(response.id, []).append(response)
    assert set(answers) == set(ids) and all(len(a) == 1 for a in answers.values()), answers
    return {rid: a[0] for rid, a in answers.items()}, ids


def serving(gw):
    """Domains that do not depend on a stopped one still serve."""
    assert ask(gw, "maintainer", "write", "5/0/1", "https://m.example/x.bin").accepted
    assert ask(gw, "provider-a", "write", APP_CONFIG, "still here").accepted
    assert gw.image.check_invariants() == []


def test_a_domain_that_lends_its_mailbox_pages_is_stopped(gw):
    """Provider B's partition gives its mailbox pages to the kernel: the relay's next pass
    faults on them, provider B is stopped and reported, the rest of the device serves."""
    rt = gw.runtime
    lend_mailbox(gw.runtime.topology, "provider-b")
    assert ask(gw, "provider-a", "read", TEMPERATURE).value == 2150
    reports = [f for f in rt.faults if f.startswith("provider-b:")]
    assert any("its mailbox is out of reach" in report for report in reports)
    assert all(report.endswith("reported to root, domain provider-b stopped") for report in reports)
    assert ask(gw, "provider-b", "read", TEMPERATURE).reason == "stopped"
    serving(gw)
    # started again it is still unable to use its mailbox: each command is answered, once
    assert ask(gw, "owner", "write", START, "provider-b").accepted
    assert ask(gw, "provider-b", "read", TEMPERATURE).reason == "stopped"
    serving(gw)


def test_a_driver_that_lends_its_mailbox_pages_is_halted_then_restarted(gw):
    lend_mailbox(gw.runtime.topology, "lamp-driver")
    assert ask(gw, "provider-a", "write", LAMP, 1).reason == "failed"
    assert gw.runtime.firmware["lamp-driver"].halted
    assert [f for f in gw.runtime.faults if f.startswith("lamp-driver:")][0].endswith(
        "reported to actuator-manager, halted")
    assert ask(gw, "provider-a", "read", TEMPERATURE).value == 2150
    assert ask(gw, "owner", "execute", RESTART, "lamp-driver").accepted
    assert ask(gw, "provider-a", "write", LAMP, 1).accepted and gw.lamp.get(0) == 1
    serving(gw)


def raise_at(component, method, call):
    """Make component.method raise RuntimeError on its call-th call (1-based)."""
    real, calls = getattr(component, method), Counter()

    def failing(*args):
        calls[method] += 1
        if calls[method] == call:
            raise RuntimeError(f"injected into {method}")
        return real(*args)

    setattr(component, method, failing)


def test_a_manager_that_raises_answers_every_command_it_had_taken(gw):
    """Provider A's manager raises on the third answer it receives: every command it had
    taken is answered once (the answers it had not handled are failed), it is stopped and
    reported; provider B's commands at the same time are served; started again, it serves."""
    rt = gw.runtime
    raise_at(rt.components["provider-a"], "on_message", 3)
    answers, ids = burst(gw, [("provider-a", "read", TEMPERATURE)] * 8
                         + [("provider-b", "read", TEMPERATURE)] * 4)
    mine = Counter((r.accepted, r.reason) for rid, r in answers.items() if ids[rid] == "provider-a")
    assert mine[True, "content"] == 2 and mine[False, "stopped"] == 6
    assert all(r.value == 2150 for rid, r in answers.items() if ids[rid] == "provider-b")
    [report] = rt.faults
    assert report.startswith("provider-a: raised RuntimeError: injected into on_message")
    assert report.endswith("reported to root, domain provider-a stopped")
    del rt.components["provider-a"].on_message
    assert ask(gw, "owner", "write", START, "provider-a").accepted
    assert ask(gw, "provider-a", "read", TEMPERATURE).value == 2150
    serving(gw)


def test_a_virtual_manager_that_raises_fails_every_request_once(gw):
    """The sensor manager (owner domain) raises on the second request it takes: the owner
    domain stops; each provider request, taken or waiting, is answered once with a failure;
    the providers' own resources keep serving."""
    rt = gw.runtime
    raise_at(rt.components["sensor-manager"], "on_message", 2)
    answers, _ = burst(gw, [("provider-a", "read", TEMPERATURE),
                            ("provider-b", "read", TEMPERATURE)] * 4)
    assert not any(r.accepted for r in answers.values())
    assert rt.faults[0].endswith("reported to root, domain owner stopped")
    assert ask(gw, "provider-a", "write", APP_CONFIG, "on").accepted
    assert ask(gw, "provider-b", "write", APP_CONFIG, "on").accepted
    assert ask(gw, "owner", "read", "26261/0/11").reason == "stopped"
    assert gw.image.check_invariants() == []


def test_a_frame_whose_handling_raises_is_answered(gw):
    rt = gw.runtime
    raise_at(rt.components["provider-a"].security, "check", 1)
    assert ask(gw, "provider-a", "read", TEMPERATURE).reason == "stopped"
    assert rt.faults[0].startswith("provider-a: raised RuntimeError")
    assert ask(gw, "provider-b", "read", TEMPERATURE).value == 2150


def test_a_looping_component_is_cut_at_its_budget(gw):
    """A handler that never returns (it keeps reading its pages) runs out of the kernel calls
    one activation may make: it is stopped like any fault, its command answered."""
    rt = gw.runtime
    rt.budget = 20_000
    arm(rt.components["provider-b"], "on_message", loops, [])
    assert ask(gw, "provider-b", "read", TEMPERATURE).reason == "stopped"
    assert rt.faults[0].startswith("provider-b: made 20000 kernel calls without returning")
    serving(gw)


hostile_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=300)
    | st.binary(max_size=300) | st.sampled_from(["req", "rep", "cmd", "read", "write", "value",
                                                 "period", "on", "next", 1, 2]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["t", "rid", "op", "reg", "value", "cmd", "id", "domain", "device",
                         "operation", "token", "tokenB", "code", "objectId"]) | st.integers(0, 3),
        inner, max_size=6),
    max_leaves=16)


@settings(deadline=None)
@given(sender_to=st.sampled_from([("maintainer", "root"), ("provider-a", "sensor-manager"),
                                  ("provider-a", "actuator-manager")]),
       payloads=st.lists(hostile_values, min_size=1, max_size=6))
@example(sender_to=("maintainer", "root"), payloads=[{"t": "cmd", "rid": "x" * 440}])
@example(sender_to=("maintainer", "root"), payloads=[{"t": "rep", "rid": [1]}])
@example(sender_to=("provider-a", "sensor-manager"),
         payloads=[{"t": "req", "rid": [], "op": "read"}])
def test_what_a_sibling_sends_never_stops_the_owner(sender_to, payloads):
    """A compromised maintainer or provider sends anything on its channels to the owner's
    partitions: nothing the owner does about it faults, and the owner still serves."""
    gw = Gateway()
    rt = gw.runtime
    sender, to = sender_to
    for payload in payloads:
        try:
            rt.topology.mailbox(sender).send(to, payload)
        except IpcError:
            pass                                  # more than a slot holds: never sent
    rt.run()
    assert not [f for f in rt.faults if not f.startswith(sender)], rt.faults
    assert ask(gw, "owner", "read", "26261/0/11").accepted
    gw.sensor.set(0, 2150)
    assert ask(gw, "provider-b", "read", TEMPERATURE).value == 2150


def test_an_answer_counts_only_from_the_peer_asked(gw):
    """The maintainer answers, again and again, the request the owner's manager has in
    flight to the sensor manager: only the sensor manager's answer reaches the asker."""
    rt = gw.runtime
    gw.sensor.set(0, 2150)
    forged_rid = rt.components["root"].pending.store.load()["next"]     # what the forward will take
    assert rt.submit("owner", command(gw, "owner", "read", TEMPERATURE).encode()) is None
    maintainer = rt.topology.mailbox("maintainer")
    for _ in range(100):
        maintainer.send("root", {"t": "rep", "rid": forged_rid, "status": 205, "value": -40})
        if not rt.step():
            break
    (response,) = rt.collect()
    assert response.value == 2150


def test_a_flood_of_requests_never_stops_the_owner(gw):
    """A provider floods the sensor manager with requests whose ids are long strings: the
    manager keeps its request table in one page (ids must be integers), and still serves."""
    rt, box = gw.runtime, gw.runtime.topology.mailbox("provider-a")
    for round_ in range(60):
        for i in range(8):
            try:
                box.send("sensor-manager", {"t": "req", "rid": f"{round_ * 8 + i:090}",
                                            "op": "read", "reg": "value"})
            except IpcError:
                break                                     # its outbox is full this round
        rt.step()
    rt.run()
    assert not [f for f in rt.faults if not f.startswith("provider-a")], rt.faults
    gw.sensor.set(0, 2150)
    assert ask(gw, "provider-b", "read", TEMPERATURE).value == 2150
