"""Component pieces on a bare kernel: page store, page replay cache, policy, routing."""
import pytest

from domains.admin import AdministrationManager
from domains.security import SecurityValidator
from domains.store import PageReplayCache, PageStore, StoreError
from pipkernel import Kernel, MemoryFault
from tokens import TokenError


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
    from domains.component import BACKLOG_MAX
    from domains.gateway import Gateway
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
