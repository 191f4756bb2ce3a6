"""The gateway image: session transcript, refusals, hostile commands, isolation, load."""
import io

import cbor2
import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from pipsim.domains import commands
from pipsim.domains.gateway import LAMP, TEMPERATURE, Gateway, run_default, session
from pipsim.kernel import MemoryFault


@pytest.fixture
def gw():
    return Gateway()


def test_run_default_meets_every_expectation():
    out = io.StringIO()
    assert run_default(out) == 0, out.getvalue()
    assert "UNEXPECTED" not in out.getvalue()


@pytest.mark.parametrize("arch", ["arm", "x86"])
def test_the_session_under_the_hardened_policy(arch):
    """The same session, every expectation met, with Pip's weak spots closed (docs/kernel.md
    §9): the image lends no right it does not hold, and no property of §10 breaks."""
    out = io.StringIO()
    assert run_default(out, arch=arch, policy="hardened") == 0, out.getvalue()
    text = out.getvalue()
    assert "kernel policy hardened" in text.splitlines()[0]
    assert "properties beyond Pip's (docs/kernel.md §10): all hold" in text


@pytest.mark.parametrize("reason", ["bad_signature", "expired", "replayed", "wrong_audience",
                                    "out_of_scope", "unknown_key", "missing_token_b", "malformed",
                                    "ipc_unauthorised", "memory_fault", "driver_fault",
                                    "wrong_device", "command_mismatch"])
def test_each_refusal_reason_is_in_the_transcript(reason):
    steps = session(Gateway())
    assert any(s.reason == reason and not s.accepted and ok for s, ok, _ in steps)


def test_kernel_invariants_after_session(gw):
    session(gw)
    assert gw.image.check_invariants() == []


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.binary(max_size=300),
                 st.recursive(st.none() | st.integers() | st.text(max_size=8) | st.binary(max_size=8),
                              lambda c: st.lists(c, max_size=4) | st.dictionaries(
                                  st.sampled_from(["id", "domain", "device", "operation", "value",
                                                   "token", "code", "objectId"]), c, max_size=6),
                              max_leaves=12).map(cbor2.dumps)))
def test_hostile_frames_are_refused_never_crash(frame):
    try:
        commands.decode(frame)
    except commands.Refused as refusal:
        assert refusal.status >= 400


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(code=st.sampled_from(tuple(commands.OPERATIONS)),
       path=st.lists(st.sampled_from([3303, 3311, 5, 32769, 26261, 0, 1, 5700, 5850, 65535]),
                     min_size=3, max_size=4),
       token=st.binary(min_size=1, max_size=40), to=st.sampled_from(["provider-a", "owner"]))
@example(code="read", path=[3303, 0, 5700, 0], token=b"x", to="provider-a")
def test_unauthenticated_commands_on_any_path_are_refused(gw, code, path, token, to):
    """Any path the command format allows (a resource instance included), with a token that
    is not one: one refusal, never an exception out of submit."""
    command = commands.Command(1, to, "gateway", code, tuple(path), None, token)
    refused = gw.runtime.submit(to, command.encode())
    gw.runtime.run()
    responses = [refused] if refused else gw.runtime.collect()
    assert len(responses) == 1 and not responses[0].accepted and responses[0].id in (1, None)


def test_a_domain_resource_has_no_instances(gw):
    """A token for a domain resource covers its (resource instance) paths, but the domain
    keeps only the resource's value: such paths are unknown, and the page store is unchanged."""
    store = gw.runtime.components["provider-a"].admin.handler("write", (32769, 0, 1)).__self__.store
    before = store.load()
    for code, value in (("write", "x"), ("read", None)):
        token = gw.token("provider-a", "provider-a", "32769/0/1:rw")
        (r,) = gw.submit("provider-a", gw.command("provider-a", code, "32769/0/1/7", value,
                                                  token=token))
        assert (r.status, r.reason) == (404, "unknown_path")
    assert store.load() == before


def test_hostile_frames_through_the_runtime(gw):
    for frame in (b"", b"\xff" * 2000, cbor2.dumps({"id": 1}), cbor2.dumps([1, 2])):
        responses = gw.submit("provider-a", frame)
        assert len(responses) == 1 and not responses[0].accepted


def test_owner_non_interference(gw):
    owner = gw.runtime.components["root"]
    token = gw.token("provider-a", "provider-a", "32769/0/1:w")
    before = list(owner.seen)
    (r,) = gw.submit("provider-a", gw.command("provider-a", "write", "32769/0/1", "x", token=token))
    assert r.accepted and owner.seen == before          # a domain resource: the owner saw nothing
    token = gw.token("maintainer", "maintainer", "3303/0/5900:w")
    b = gw.token("owner", "owner", "3303/0/5900:w")
    (r,) = gw.submit("maintainer", gw.command("maintainer", "write", "3303/0/5900", 9, token=token,
                                              token_b=b))
    assert r.accepted and owner.seen[len(before):] == ["write 3303/0/5900 for maintainer"]


def test_a_tampered_command_changes_nothing(gw):
    """The attack of issue 12: a captured "lamp off" whose value is changed to 1, sent with its
    original token (before or after the original), is refused and the lamp stays off; so is
    the same command for another device, or with a token B bound to another value."""
    grant = gw.token("provider-a", "provider-a", f"{LAMP}:w")
    off = gw.command("provider-a", "write", LAMP, 0, token=grant)
    for value, device in ((1, None), (0, "gateway-2")):
        tampered = gw.command("provider-a", "write", LAMP, value, token=off.token, device=device)
        (r,) = gw.submit("provider-a", tampered)
        assert r.reason == ("command_mismatch" if device is None else "wrong_device")
        assert r.status in (400, 401) and gw.lamp.get(0) == 0
    (r,) = gw.submit("provider-a", off)                  # the token was not spent
    assert r.accepted and gw.lamp.get(0) == 0
    period = "3303/0/5900"
    honest = gw.command("maintainer", "write", period, 9,
                        token_b=gw.token("owner", "owner", f"{period}:w"))
    sneaky = gw.command("maintainer", "write", period, 1,
                        token=gw.token("maintainer", "maintainer", f"{period}:w"),
                        token_b=honest.token_b)
    (r,) = gw.submit("maintainer", sneaky)
    assert r.reason == "command_mismatch" and gw.sensor.get(4) != 1


def test_sibling_cannot_reach_key_vault_pages(gw):
    kernel = gw.image.kernel
    victim = gw.runtime.components["provider-a"]
    storage = victim.vault_storage                  # its records' page and its key's
    vault_pas = {kernel.mappings(gw.image.partitions["provider-a"].partition)[va].pa
                 for va in (storage.store.va, storage.key_va)}
    attacker = gw.image.partitions["provider-b"]
    for va, m in kernel.mappings(attacker.partition).items():
        assert m.pa not in vault_pas
    root_vas = [va for va, m in kernel.mappings(kernel.root).items() if m.pa in vault_pas]
    for va in root_vas:
        with pytest.raises(MemoryFault):
            attacker.api.read(va, 4)


def test_relay_never_delivers_without_a_channel(gw):
    rt = gw.runtime
    for src in ("provider-b", "provider-a-app", "maintainer"):
        for dst in ("provider-a", "temp-driver", "lamp-driver", "provider-b-app"):
            if (src, dst) not in rt.relay.policy and src != dst:
                rt.topology.mailbox(src).send(dst, {"probe": src})
    rt.relay.run_until_idle()
    for dst in ("provider-a", "temp-driver", "lamp-driver", "provider-b-app"):
        assert rt.topology.mailbox(dst).receive() == []


@pytest.mark.parametrize("in_flight", [8, 32])
def test_load_no_command_lost_or_duplicated(gw, in_flight):
    """Both providers at once, up to 32 commands in flight: more than the outboxes hold,
    so messages wait in the components' backlogs; every command is answered once."""
    gw.sensor.set(0, 1234)
    ids = []
    for i in range(240):
        who = ("provider-a", "provider-b")[i % 2]
        token = gw.token(who, who, f"{TEMPERATURE}:r {LAMP}:w")
        code, res, value = ("read", TEMPERATURE, None) if i % 4 > 1 or who == "provider-b" \
            else ("write", LAMP, i % 8 // 4)
        c = gw.command(who, code, res, value, token=token)
        ids.append(c.id)
        gw.runtime.submit(who, c.encode())
        if i % in_flight == in_flight - 1:
            gw.runtime.run()
    gw.runtime.run()
    responses = gw.runtime.collect()
    assert sorted(r.id for r in responses) == sorted(ids)
    assert all(r.accepted for r in responses), {r.reason for r in responses}
    assert {r.value for r in responses if r.value is not None} == {1234}
    assert all(c.unanswered == 0 for c in gw.runtime.components.values())
    assert gw.image.check_invariants() == []


def test_stopped_domain_refuses_and_start_restores(gw):
    owner = gw.token("owner", "owner", "26261/0/10:w 26261/0/9:w")
    (r,) = gw.submit("owner", gw.command("owner", "write", "26261/0/10", "provider-b", token=owner))
    assert r.accepted
    token = gw.token("provider-b", "provider-b", f"{TEMPERATURE}:r")
    (r,) = gw.submit("provider-b", gw.command("provider-b", "read", TEMPERATURE, token=token))
    assert r.reason == "stopped"
    (r,) = gw.submit("owner", gw.command("owner", "write", "26261/0/9", "provider-b",
                                         token=gw.token("owner", "owner", "26261/0/9:w")))
    (r,) = gw.submit("provider-b", gw.command("provider-b", "read", TEMPERATURE,
                                              token=gw.token("provider-b", "provider-b", f"{TEMPERATURE}:r")))
    assert r.accepted
