"""Hypothesis: any input gives a Manifest or a ManifestError, never another exception; what
validates boots, with Pip's properties and the predicted kernel pages."""
import copy

from hypothesis import given, strategies as st

from pipsim.partitions import ManifestError, boot, parse
from partition_manifests import VALID

KEYS = ["image", "root", "partition", "device", "channel", "key", "name", "arch", "pages",
        "table_size", "levels", "parent", "runs", "python", "firmware", "domain", "kind",
        "owner", "from", "to", "max_size", "operations", "kid", "alg", "holder", "cose_key",
        "generate", "use", "x"]
WORDS = ["root", "owner", "sensor", "provider", "temperature", "registers", "python", "arm",
         "HMAC256/64", "ES256", "read", "issue", "json:JSONDecoder", "a b", "", "../x.elf"]
scalars = st.one_of(st.integers(-2, 5000), st.booleans(), st.floats(allow_nan=False),
                    st.sampled_from(WORDS), st.text(max_size=8))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)),
    max_leaves=25)


def outcome(data, tmp_path):
    try:
        return parse(data, tmp_path)
    except ManifestError as error:
        assert error.errors and all(": " in line for line in error.errors)
        return None


@given(st.dictionaries(st.sampled_from(KEYS), values, max_size=6))
def test_random_documents(tmp_path_factory, data):
    outcome(data, tmp_path_factory.mktemp("m"))


def paths(tree, prefix=()):
    """Every (path, value) inside a parsed manifest."""
    yield prefix, tree
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(
        tree, list) else ()
    for key, value in items:
        yield from paths(value, prefix + (key,))


@given(st.data())
def test_mutated_valid_manifests_boot_or_are_refused(tmp_path_factory, data):
    manifest = copy.deepcopy(VALID)
    for _ in range(data.draw(st.integers(1, 3))):
        spots = list(paths(manifest))
        path, _ = data.draw(st.sampled_from(spots[1:]))
        parent = manifest
        for key in path[:-1]:
            parent = parent[key]
        action = data.draw(st.sampled_from(["set", "delete", "pages"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "pages" and isinstance(parent[path[-1]], int):
            parent[path[-1]] = data.draw(st.integers(1, 600))
        else:
            parent[path[-1]] = data.draw(values)
    m = outcome(manifest, tmp_path_factory.mktemp("m"))
    if m is not None:
        check_boot(m)


@given(st.lists(st.tuples(st.integers(0, 5), st.integers(1, 90)), min_size=1, max_size=6),
       st.sampled_from([(16, 2, 230), (16, 3, 700), (32, 2, 900), (1024, 2, 700)]))
def test_random_trees_boot_exactly_when_they_validate(tmp_path_factory, shape, geometry):
    """Random trees with tight budgets: validation and the boot agree page for page."""
    ts, levels, pages = geometry
    parts = [{"name": f"p{i}", "parent": "root" if i == 0 or parent % (i + 1) == 0 else
              f"p{parent % i}", "pages": size} for i, (parent, size) in enumerate(shape)]
    devices = [{"name": f"d{i}", "kind": "registers", "owner": p["name"]}
               for i, p in enumerate(parts) if p["pages"] % 3 == 0]
    m = outcome({"image": {"name": "t", "pages": pages, "table_size": ts, "levels": levels},
                 "partition": parts, "device": devices}, tmp_path_factory.mktemp("m"))
    if m is not None:
        check_boot(m)


def check_boot(manifest):
    image = boot(manifest)
    assert image.check_invariants() == []
    for name, booted in image.partitions.items():
        if name != "root":
            assert len(image.kernel.config_pages(booted.partition)) == manifest.plan[name].kernel
