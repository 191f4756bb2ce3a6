"""Object 26261 creates real domains (D3.3's opmux create / run / stop / delete): a child
partition of the owner running a domain manager, with the server key the command brings,
scheduled by the runtime; refused creates leave nothing behind."""
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from pipsim.domains import configuration
from pipsim.domains.gateway import APP_CONFIG, CREATE, DELETE, LIST, START, Gateway


@pytest.fixture
def gw():
    return Gateway()


def owner(gw, code, resource, value=None):
    token = gw.token("owner", "owner", f"{resource}:{code[0]}")
    (response,) = gw.submit("owner", gw.command("owner", code, resource, value, token=token))
    return response


def provider(gw, name, code, value=None, server=None):
    token = gw.token(server or name, name, f"{APP_CONFIG}:{code[0]}")
    (response,) = gw.submit(name, gw.command(name, code, APP_CONFIG, value, token=token))
    return response


def state(gw):
    """What a create may change: the root's children, its pool, the relay's endpoints."""
    k, rt = gw.image.kernel, gw.runtime
    return (k.children(k.root), len(rt.components["root"].configuration.allocator()),
            sorted(rt.topology.endpoints), sorted(rt.managers))


def test_create_start_use_stop_delete(gw):
    before = state(gw)
    key = gw.new_server("provider-c")
    created = owner(gw, "write", CREATE, {"name": "provider-c", "pages": 24, "key": key,
                                          "resources": {APP_CONFIG: "new"}})
    assert (created.status, created.value) == (201, "provider-c")
    k, rt = gw.image.kernel, gw.runtime
    assert len(k.children(k.root)) == len(before[0]) + 1 and "provider-c" in rt.managers
    assert provider(gw, "provider-c", "read").reason == "stopped"       # created stopped
    assert owner(gw, "write", START, "provider-c").accepted
    assert provider(gw, "provider-c", "read").value == "new"
    assert provider(gw, "provider-c", "write", "night").accepted
    assert provider(gw, "provider-c", "read").value == "night"
    # its tokens are checked with its own key: provider A's server cannot act for it
    assert provider(gw, "provider-c", "read", server="provider-a").reason == "unknown_key"
    assert owner(gw, "read", LIST).value["provider-c"]["running"] is True
    assert owner(gw, "write", "26261/0/10", "provider-c").accepted    # stop
    assert provider(gw, "provider-c", "read").reason == "stopped"
    deleted = owner(gw, "write", DELETE, "provider-c")
    assert (deleted.status, deleted.value) == (202, "provider-c")
    assert state(gw) == before and k.check_invariants() == []
    assert provider(gw, "provider-c", "read").reason == "no_such_domain"
    # the name is free again; the new domain gets a new endpoint id
    old_id = max(rt.topology.endpoints.values())
    assert owner(gw, "write", CREATE, {"name": "provider-c", "pages": 24,
                                       "key": gw.new_server("provider-c")}).status == 201
    assert rt.topology.endpoints["provider-c"] > old_id


def test_each_domain_is_an_instance_of_object_26261(gw):
    """D3.3 §4.2's resources per domain: 0 App Name, 1 Identity, 2 Access key (write-only),
    4 Code, 5 Created? (opmux exists: 0), 6 Running? (opmux isrun); 8 / 9 / 10 delete, start,
    stop that domain; 3 Local Port has no meaning for a partition (no such resource)."""
    listed = owner(gw, "read", LIST).value
    image = {name: d["instance"] for name, d in listed.items()}
    assert sorted(image.values()) == list(range(1, len(image) + 1))
    n = image["provider-a"]
    assert owner(gw, "read", f"26261/{n}/0").value == "provider-a"
    assert owner(gw, "read", f"26261/{n}/1").value == "provider-a-server"
    assert (owner(gw, "read", f"26261/{n}/5").value, owner(gw, "read", f"26261/{n}/6").value) == (
        0, 1)
    secret = owner(gw, "read", f"26261/{n}/2")
    assert (secret.status, secret.reason) == (405, "not_allowed")
    assert owner(gw, "read", f"26261/{n}/3").reason == "unknown_path"
    key = gw.new_server("provider-c")
    assert owner(gw, "write", CREATE, {"name": "provider-c", "pages": 48, "key": key,
                                       "code": {"image": "store", "resource": APP_CONFIG}}).accepted
    c = owner(gw, "read", LIST).value["provider-c"]["instance"]
    assert c == len(image) + 1
    assert [owner(gw, "read", f"26261/{c}/{r}").value for r in (0, 1, 4, 5, 6)] == [
        "provider-c", "provider-c-server", "store", 0, 0]
    assert owner(gw, "write", f"26261/{c}/9").accepted                  # start instance c
    assert owner(gw, "read", f"26261/{c}/6").value == 1
    assert provider(gw, "provider-c", "write", 5).accepted
    assert owner(gw, "write", f"26261/{c}/10").accepted                 # stop it
    assert owner(gw, "read", f"26261/{c}/6").value == 0
    deleted = owner(gw, "write", f"26261/{c}/8")
    assert (deleted.status, deleted.value) == (202, "provider-c")
    assert owner(gw, "read", f"26261/{c}/0").reason == "unknown_path"   # gone with its domain


@pytest.mark.parametrize("value, reason", [
    ({"name": "x", "pages": 24}, "malformed"),                                  # no key
    ({"name": "x", "pages": 23, "key": b"k"}, "malformed"),                     # too few pages
    ({"name": "x", "pages": 24, "key": b"\xa1\x01\x04"}, "malformed"),          # not a key
    ({"name": "x", "pages": 24, "key": None, "extra": 1}, "malformed"),
    ({"name": "x y", "pages": 24, "key": b"k"}, "malformed"),
    ({"name": "maintainer", "pages": 24, "key": b"k"}, "not_allowed"),         # exists
])
def test_refused_creates_change_nothing(gw, value, reason):
    before = state(gw)
    response = owner(gw, "write", CREATE, value)
    assert (response.accepted, response.reason) == (False, reason)
    assert state(gw) == before and gw.image.kernel.check_invariants() == []


def test_bad_resources_are_refused(gw):
    before = state(gw)
    response = owner(gw, "write", CREATE, {"name": "x", "pages": 24, "key": gw.new_server("x"),
                                           "resources": {"not/a/path/at/all": 1}})
    assert response.reason == "malformed" and "resources" in response.value
    assert state(gw) == before


def test_a_domain_that_cannot_start_is_rolled_back(gw, monkeypatch):
    """Too few pages for its manager: the partition is deleted again, nothing registered."""
    monkeypatch.setattr(configuration, "MIN_PAGES", 8)
    before = state(gw)
    response = owner(gw, "write", CREATE, {"name": "x", "pages": 8, "key": gw.new_server("x")})
    assert (response.reason, response.status) == ("failed", 500)
    assert "cannot run domain x in 8 pages" in response.value
    assert state(gw) == before and gw.image.kernel.check_invariants() == []


def test_a_create_the_runtime_cannot_register_is_refused_and_changes_nothing(gw, monkeypatch):
    """The relay has no endpoint id left (it never reuses one): the create is refused, its
    partition deleted again, and the owner's domain keeps serving (it used to stop)."""
    def no_more_ids(*args, **kwargs):
        raise ValueError("at most 511 endpoint ids")

    monkeypatch.setattr(type(gw.runtime.topology), "add", no_more_ids)
    before = state(gw)
    response = owner(gw, "write", CREATE, {"name": "x", "pages": 24, "key": gw.new_server("x")})
    assert (response.reason, response.status) == ("failed", 500)
    assert "at most 511 endpoint ids" in response.value
    assert state(gw) == before and gw.image.kernel.check_invariants() == []
    monkeypatch.undo()
    assert owner(gw, "read", LIST).accepted and not gw.runtime.faults


@pytest.mark.parametrize("budget", range(150, 420, 15))
def test_a_create_cut_short_by_the_call_budget_leaves_the_runtime_whole(budget):
    """The owner's activation runs out of kernel calls (Runaway) somewhere inside a create:
    what adopt had registered is undone, so the runtime's next rounds do not fail."""
    gw = Gateway()
    gw.runtime.budget = budget
    response = owner(gw, "write", CREATE, {"name": "x", "pages": 24, "key": gw.new_server("x")})
    rt = gw.runtime
    rt.run()                                        # raised KeyError out of the relay
    assert response.accepted or any("kernel calls" in f for f in rt.faults), response
    assert set(rt.topology.endpoints) >= set(rt.components)
    assert gw.image.kernel.check_invariants() == []


def test_the_pool_runs_out_cleanly(gw):
    """Creates until the owner's pool is spent (it holds a few 24-page domains): the create
    that does not fit is refused and leaves nothing behind."""
    for i in range(10):
        before = state(gw)
        response = owner(gw, "write", CREATE, {"name": f"d{i}", "pages": 24,
                                               "key": gw.new_server(f"d{i}")})
        if not response.accepted:
            break
    assert i >= 2 and (response.reason, response.status) == ("failed", 500)
    assert "no pages left" in response.value
    assert state(gw) == before and gw.image.kernel.check_invariants() == []


def create_with_code(gw, pages=48, code=None, name="provider-c"):
    code = code or {"image": "store", "resource": APP_CONFIG}
    return owner(gw, "write", CREATE, {"name": name, "pages": pages,
                                       "key": gw.new_server(name), "code": code})


def test_a_created_domain_runs_its_firmware_application(gw):
    """With code, the new domain is a subtree: its manager's partition and, below it, a
    firmware partition running the image the owner's config lists, serving one resource."""
    before = state(gw)
    assert create_with_code(gw).status == 201
    k, rt = gw.image.kernel, gw.runtime
    domain = rt.topology.node("provider-c").partition
    app = rt.topology.node("provider-c-app").partition
    assert k.children(domain) == [app] and "provider-c-app" in rt.firmware
    assert owner(gw, "write", START, "provider-c").accepted
    assert provider(gw, "provider-c", "write", 2**32 - 1).accepted
    assert provider(gw, "provider-c", "read").value == 2**32 - 1
    assert provider(gw, "provider-c", "write", -1).reason == "malformed"      # the app says
    assert rt.firmware["provider-c-app"].turns >= 3 and k.check_invariants() == []
    assert owner(gw, "write", DELETE, "provider-c").status == 202
    assert state(gw) == before and "provider-c-app" not in rt.firmware
    assert k.check_invariants() == []


def test_a_delete_deletepartition_would_refuse_changes_nothing(gw):
    """The owner's record of the domain's descriptor names no child (deletePartition would
    be refused: NOT_CHILD): the delete is refused before anything is forgotten or deleted;
    the domain and its application serve on, and a delete that can succeed still does."""
    before = state(gw)
    assert create_with_code(gw).status == 201
    assert owner(gw, "write", START, "provider-c").accepted
    assert provider(gw, "provider-c", "write", 7).accepted
    k, rt = gw.image.kernel, gw.runtime
    store = rt.components["root"].configuration.store
    record = store.load()
    desc = record["domains"]["provider-c"]["desc"]
    record["domains"]["provider-c"]["desc"] = desc + 4096        # a page, not a descriptor
    store.save(record)
    domain = rt.topology.node("provider-c").partition

    def world():
        return (state(gw), k.children(domain), sorted(rt.firmware), rt.stopped(),
                store.load(), owner(gw, "read", LIST).value)

    created = world()
    refused = owner(gw, "write", DELETE, "provider-c")
    assert (refused.reason, refused.status) == ("failed", 500)
    assert "deletePartition would be refused (NOT_CHILD)" in refused.value
    assert world() == created and not rt.faults
    assert provider(gw, "provider-c", "read").value == 7
    record["domains"]["provider-c"]["desc"] = desc
    store.save(record)
    assert owner(gw, "write", DELETE, "provider-c").status == 202
    assert state(gw) == before and k.check_invariants() == []


@pytest.mark.parametrize("code, reason", [
    ({"image": "shell"}, "malformed"),
    ({"image": "shell", "resource": APP_CONFIG}, "not_allowed"),
    ({"image": "store", "resource": "32769"}, "malformed"),
])
def test_bad_code_is_refused(gw, code, reason):
    before = state(gw)
    assert create_with_code(gw, code=code).reason == reason
    assert state(gw) == before


@pytest.mark.parametrize("pages, image", [(30, None), (48, "../firmware/build/{arch}/none.elf")])
def test_code_that_cannot_run_is_rolled_back(gw, pages, image):
    """Too few pages for the manager and its application, or an image that is not there:
    refused, and the partitions, pool, endpoints and machine are as before."""
    if image:
        gw.runtime.components["root"].configuration.codes["store"] = image
    before, hosts = state(gw), gw.image.machine._m.host_count
    response = create_with_code(gw, pages=pages)
    assert (response.reason, response.status) == ("failed", 500)
    assert state(gw) == before and gw.image.machine._m.host_count == hosts
    assert gw.image.kernel.check_invariants() == []


keys = st.sampled_from(["name", "pages", "key", "resources", "code", "image", "resource"])
hostile = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.text(max_size=12)
    | st.binary(max_size=24) | st.sampled_from(["provider-c", "store", APP_CONFIG, 24, 48]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=hostile)
def test_hostile_create_values_are_refused_and_change_nothing(gw, value):
    before = state(gw)
    response = owner(gw, "write", CREATE, value)
    assert not response.accepted
    assert response.reason in ("malformed", "oversized", "not_allowed", "failed")
    assert isinstance(response.value, str) and response.value
    assert state(gw) == before


def test_a_domain_deleted_while_the_runtime_polls(gw):
    """A command handled during a round (e.g. one forwarded over IPC) may delete a domain:
    the round goes on without it."""
    from pipsim.domains.commands import Command
    assert create_with_code(gw, name="x").status == 201
    assert owner(gw, "write", START, "x").accepted
    rt = gw.runtime
    cm = rt.components["root"].configuration
    first = next(iter(rt.components))
    polled = rt.components[first].poll

    def poll_then_delete():
        rt.components[first].poll = polled
        cm.delete(Command(0, "owner", "gateway", "write", (26261, 0, 8), "x"))
        return polled()

    rt.components[first].poll = poll_then_delete
    rt.step()
    assert "x" not in rt.components and "x-app" not in rt.firmware
    assert gw.image.kernel.check_invariants() == []


def test_d33s_exec_code_is_execute(gw):
    """A restart sent with D3.3's op code "exec" runs as execute (the refusal says the driver
    is not halted: it reached the handler)."""
    import cbor2
    command = gw.command("owner", "execute", "26261/0/12", "lamp-driver",
                         token=gw.token("owner", "owner", "26261/0/12:x"))
    frame = command.to_map()
    frame["operation"]["code"] = "exec"
    (response,) = gw.submit("owner", cbor2.dumps(frame))
    assert response.reason == "not_allowed" and "not a halted firmware" in response.value
