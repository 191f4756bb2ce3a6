"""Component pieces on a bare kernel: page store, page replay cache, policy, routing."""
import hashlib

import pytest
from hypothesis import given, strategies as st

from pipsim.domains.admin import AdministrationManager
from pipsim.domains.security import SecurityValidator
from pipsim.domains.store import PageReplayCache, PageStore, StoreError
from pipsim.kernel import Kernel, MemoryFault
from pipsim.tokens import TokenError


@pytest.fixture
def root():
    k = Kernel(pages=256)
    api = k.as_partition(k.root)
    return api, sorted(k.mappings(k.root))[:8]


def test_page_store_roundtrip_and_bounds(root):
    api, vas = root
    store = PageStore(api, vas[0], 1)
    store.format({"a": 1})
    store.update("b", b"x")
    assert store.load() == {"a": 1, "b": b"x"}
    with pytest.raises(StoreError):
        store.save(b"x" * 5000)
    with pytest.raises(MemoryFault):
        PageStore(api, 0x0, 1).load()


def test_page_replay_cache(root):
    api, vas = root
    cache = PageReplayCache(api, vas[2], 1)
    cache.format()
    cache.remember("iss", b"1", until=100, now=0)
    with pytest.raises(TokenError) as e:
        cache.remember("iss", b"1", until=100, now=50)
    assert e.value.reason == "replayed"
    cache.remember("iss", b"1", until=300, now=150)      # expired entry is reused


def _reason(cache, cti, until, now):
    try:
        cache.remember("iss", cti, until, now)
    except TokenError as error:
        return error.reason
    return "accepted"


@pytest.mark.parametrize("pages", [1, 2])
def test_page_replay_cache_holds_its_stated_capacity(root, pages):
    """A cache of n pages holds n * 4096 / 32 - 1 live tokens (docs/domains.md): each is
    accepted, the next fails closed, every one of them is still a replay, and expired entries
    make room again."""
    api, vas = root
    cache = PageReplayCache(api, vas[2], pages)
    cache.format()
    capacity = pages * 4096 // 32 - 1
    ctis = [i.to_bytes(8, "little") for i in range(capacity)]
    assert [_reason(cache, cti, 100, 0) for cti in ctis] == ["accepted"] * capacity
    assert _reason(cache, b"one more", 100, 0) == "replay_cache_full"
    assert {_reason(cache, cti, 100, 50) for cti in ctis} == {"replayed"}
    assert [_reason(cache, cti, 300, 100) for cti in ctis] == ["accepted"] * capacity
    assert _reason(cache, b"one more", 300, 200) == "replay_cache_full"


@pytest.mark.parametrize("seed", [75, 0, 1])
def test_a_probe_costs_a_bounded_number_of_calls(root, seed):
    """Every entry of a full cache expired: each next token costs at most 3 * capacity + 3
    kernel calls (a read of the run, a write, a deletion's shift: reads and writes; deleting
    every expired entry it met cost more than an activation's 200,000 at 64 pages).  The
    digest key decides where entries sit; with key 75 the deletion's shift, in a table with no
    empty slot, once went round more than one lap."""
    from pipsim.domains.containment import Budget, MeteredAPI, Runaway
    api, vas = root
    pages = 4
    capacity = pages * 4096 // 32 - 1
    key = hashlib.sha256(seed.to_bytes(4, "little")).digest()[:16]
    api.write(vas[2], PageReplayCache._HEADER.pack(PageReplayCache._MAGIC, key)
              + bytes(capacity * PageReplayCache.ENTRY))
    filler = PageReplayCache(api, vas[2], pages)
    for i in range(capacity):
        filler.remember("iss", i.to_bytes(4, "little"), until=100, now=0)
    budget = Budget()
    cache = PageReplayCache(MeteredAPI(api, budget), vas[2], pages)
    for i in range(capacity):
        saved = budget.arm(3 * capacity + 3)
        try:
            cache.remember("iss", b"new" + i.to_bytes(4, "little"), until=300, now=200)
        except Runaway:
            pytest.fail(f"token {i} after the expiry made more than {3 * capacity + 3} calls")
        budget.restore(saved)


@given(st.lists(st.tuples(st.integers(0, 200), st.integers(1, 600), st.integers(0, 2)),
                min_size=150, max_size=300))
def test_page_replay_cache_against_a_model(ops):
    """Random tokens (few distinct ids, so replays are common), lifetimes and clock steps,
    against the contract: a live pair is replayed; else it is remembered if fewer than
    capacity pairs are live, else the cache fails closed.  A replay is never accepted."""
    k = Kernel(pages=64)
    api = k.as_partition(k.root)
    cache = PageReplayCache(api, sorted(k.mappings(k.root))[0], 1)
    cache.format()
    live, now = {}, 0                            # the model: cti -> until
    for cti, lifetime, step in ops:
        cti, now = cti.to_bytes(2, "little"), now + step
        live = {c: u for c, u in live.items() if u > now}
        expected = ("replayed" if cti in live else
                    "accepted" if len(live) < 127 else "replay_cache_full")
        assert _reason(cache, cti, now + lifetime, now) == expected
        if expected == "accepted":
            live[cti] = now + lifetime


def test_security_policy_longest_prefix_and_routes():
    sv = SecurityValidator(None, {"3303": "device", "3303/0/5700": "domain"})
    assert sv.rule((3303, 0, 5900)) == "device" and sv.rule((3303, 0, 5700)) == "domain"
    assert sv.rule((5, 0, 1)) == "domain"
    admin = AdministrationManager()
    admin.route("read write", "3303/0", "h")
    assert admin.knows("read", (3303, 0, 1)) and not admin.knows("delete", (3303, 0, 1))


def test_backlog_keeps_order_and_bounds():
    """Messages the outbox has no room for wait in the component's pages and leave in order
    (on_sent tells their sequence numbers); past the backlog's bound, send says None."""
    from pipsim.domains.component import BACKLOG_MAX
    from pipsim.domains.gateway import Gateway
    rt = Gateway().runtime
    manager = rt.components["sensor-manager"]
    sent, seen = [], []
    manager.on_sent = lambda tag, dest, seq: sent.append((tag, dest, seq))
    manager.on_message = lambda message: seen.append(message.payload["rid"])
    results = [manager.send("temp-driver", {"t": "req", "rid": i, "op": "read", "reg": "value"},
                            tag=i) for i in range(8 + BACKLOG_MAX + 1)]
    assert results == list(range(1, 9)) + [0] * BACKLOG_MAX + [None]
    rt.run()
    assert seen == list(range(8 + BACKLOG_MAX))                 # every answer, in order
    assert sent == [(i, "temp-driver", i + 1) for i in range(8, 8 + BACKLOG_MAX)]
    assert manager.send("temp-driver", {"t": "req", "rid": 99}) == 8 + BACKLOG_MAX + 1
