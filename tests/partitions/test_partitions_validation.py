"""Every kind of bad manifest is refused with a message naming the field."""
import pytest

from pathlib import Path

from pipsim.partitions import ManifestError, load, parse

BUILD = Path(__file__).resolve().parents[2] / "firmware" / "build"


def only(lines):
    assert len(lines) == 1, lines
    return lines[0]


def test_the_valid_manifest_parses(valid, tmp_path):
    m = parse(valid, tmp_path)
    assert [p.name for p in m.partitions] == ["root", "owner", "provider", "sensor"]
    assert m.partition("sensor").parent == "owner" and m.root.domain == "owner"
    assert m.channels[0].from_ == "provider" and m.channels[0].operations == ("read",)
    assert m.keys[0].use == ("issue", "verify") and m.keys[0].generate


def test_unknown_keys_at_every_level(valid, errors):
    valid["imag"] = {}
    valid["image"]["page"] = 3
    valid["partition"][1]["parnet"] = "owner"
    valid["channel"][0]["max"] = 1
    lines = errors(valid)
    assert 'imag: unknown key (did you mean "image"?)' in lines
    assert 'image.page: unknown key (did you mean "pages"?)' in lines
    assert 'partition[1].parnet: unknown key (did you mean "parent"?)' in lines
    assert any(line.startswith("channel[0].max: unknown key") for line in lines)


@pytest.mark.parametrize("field, value, expected", [
    ("pages", "64", "partition[0].pages: must be an integer, not a string"),
    ("pages", True, "partition[0].pages: must be an integer, not a boolean"),
    ("pages", 0, "partition[0].pages: must be in [1, 1048576], not 0"),
    ("name", 3, "partition[0].name: must be a string, not an integer"),
    ("name", "a b", 'partition[0].name: "a b" is not a name'),
    ("runs", "x", "partition[0].runs: must be a table, not a string"),
])
def test_types(valid, errors, field, value, expected):
    valid["partition"][0][field] = value
    assert errors(valid)[0].startswith(expected)      # (then: references to "owner" fail)


def test_the_machine_mode(valid, errors, tmp_path):
    """image.mode: how the machine's time runs (docs/abi.md "Run modes")."""
    assert parse(valid, tmp_path).mode == "exact"                        # the default
    assert parse(valid, tmp_path, mode="fast").mode == "fast"            # an override
    valid["image"]["mode"] = "turbo"
    assert errors(valid)[0].startswith('image.mode: "turbo" is not one of')


def test_the_kernel_policy(valid, errors, tmp_path):
    from pipsim.partitions import parse
    assert parse(valid, tmp_path).policy == "pip"                        # the default: Pip
    assert parse(valid, tmp_path, policy="hardened").policy == "hardened"    # an override
    valid["image"]["policy"] = "strict"
    assert errors(valid)[0].startswith('image.policy: "strict" is not one of')


def test_sections_of_the_wrong_shape(errors):
    lines = errors({"image": [], "partition": {"name": "x"}, "device": [3]})
    assert "image: must be a table, not an array" in lines
    assert "partition: must be an array of tables ([[partition]]), not a table" in lines
    assert "device[0]: must be a table, not an integer" in lines
    assert "image.name: missing" in lines


def test_missing_image_and_fields(valid, errors):
    del valid["image"], valid["partition"][2]["pages"]
    lines = errors(valid)
    assert lines[0].startswith("image: missing") and "partition[2].pages: missing" in lines


def test_duplicate_names(valid, errors):
    valid["partition"][2]["name"] = "owner"
    valid["device"].append({"name": "temperature", "kind": "registers", "owner": "owner"})
    valid["key"].append({"kid": "owner-mac", "alg": "ES256", "holder": "owner", "generate": True})
    lines = errors(valid)
    assert 'partition[2].name: "owner" is already partition[0]' in lines
    assert 'device[1].name: "temperature" is already device[0]' in lines
    assert 'key[1].kid: "owner-mac" is already key[0]' in lines


def test_root_is_reserved(valid, errors):
    valid["partition"][0]["name"] = "root"
    assert 'partition[0].name: "root" is the implicit root partition' in errors(valid)[0]


def test_missing_parent_suggests_a_name(valid, errors):
    valid["partition"][1]["parent"] = "ownr"
    assert only(errors(valid)) == ('partition[1].parent: "ownr" is not a partition '
                                  '(did you mean "owner"?)')


def test_parent_cycles(valid, errors):
    valid["partition"][0]["parent"] = "sensor"          # owner -> sensor -> owner
    valid["partition"].append({"name": "self", "parent": "self", "pages": 1})
    lines = errors(valid)
    assert 'partition[0].parent: cycle "owner" → "sensor" → "owner"' in lines
    assert 'partition[3].parent: cycle "self" → "self"' in lines
    assert len(lines) == 2


def test_missing_files(valid, errors, tmp_path):
    valid["key"][0] = {"kid": "k", "alg": "EdDSA", "holder": "owner", "cose_key": "keys/k.cose"}
    valid["image"]["arch"] = "arm"
    del valid["image"]["table_size"], valid["image"]["levels"]
    valid["root"]["runs"] = {"firmware": "fw/none.elf"}
    lines = errors(valid)
    assert f'key[0].cose_key: no file "keys/k.cose" (looked at {tmp_path}/keys/k.cose)' in lines
    assert any(line.startswith('root.runs.firmware: no file "fw/none.elf"') for line in lines)


def test_key_file_relative_to_the_manifest(valid, tmp_path):
    (tmp_path / "k.cose").write_bytes(b"\xa0")
    valid["key"][0] = {"kid": "k", "alg": "EdDSA", "holder": "owner", "cose_key": "k.cose"}
    assert parse(valid, tmp_path).keys[0].cose_key == tmp_path / "k.cose"


def test_over_committed_memory(valid, errors):
    valid["partition"][1]["pages"] = 200                 # sensor needs more than owner has
    assert only(errors(valid)).startswith(
        'partition[0].pages: "owner" has 120 pages, its children need ')
    valid["partition"][1]["pages"] = 20
    valid["partition"][2]["pages"] = 400                 # the root's pool is smaller
    assert only(errors(valid)).startswith('image.pages: "root" has ')


def test_exact_fit_is_accepted_one_less_is_not(valid, tmp_path, errors):
    m = parse(valid, tmp_path)
    need = m.plan.need(["sensor"])
    valid["partition"][0]["pages"] = need
    assert parse(valid, tmp_path).partition("owner").pages == need
    valid["partition"][0]["pages"] = need - 1
    assert "its children need" in only(errors(valid))


def test_address_space_capacity(valid, errors):
    valid["image"] = {"name": "t", "pages": 200, "table_size": 16, "levels": 2}
    valid["partition"] = [{"name": "big", "parent": "root", "pages": 300}]
    del valid["device"], valid["channel"], valid["key"]
    assert "do not fit a partition's address space" in only(errors(valid))


def test_device_owner_kind(valid, errors):
    valid["device"][0].update(owner="sensr", kind="regs")
    lines = errors(valid)
    assert 'device[0].owner: "sensr" is not a partition (did you mean "sensor"?)' in lines
    assert any(line.startswith('device[0].kind: "regs" is not one of "registers"') for line in lines)


def test_channel_endpoints(valid, errors):
    valid["channel"] += [{"from": "nobody", "to": "owner"}, {"from": "owner", "to": "owner"},
                         {"from": "provider", "to": "sensor"},
                         {"from": "owner", "to": "provider", "operations": ["read", "fly"]},
                         {"from": "owner", "to": "sensor", "max_size": 0}]
    lines = errors(valid)
    assert 'channel[1].from: "nobody" is not a partition' in lines
    assert 'channel[2].to: a channel from "owner" to itself' in lines
    assert 'channel[3]: "provider" → "sensor" is already channel[0]' in lines
    assert any(line.startswith("channel[4].operations: must be a non-empty array") and "'fly'" in line
               for line in lines)
    assert "channel[5].max_size: must be in [1, 1073741824], not 0" in lines


def test_keys(valid, errors):
    valid["key"] = [{"kid": "a", "alg": "RS256", "holder": "owner", "generate": True},
                    {"kid": "b", "alg": "ES256", "holder": "ghost", "generate": True},
                    {"kid": "c", "alg": "ES256", "holder": "owner"},
                    {"kid": "d", "alg": "ES256", "holder": "owner", "generate": True,
                     "use": ["sign"]}]
    lines = errors(valid)
    assert any(line.startswith('key[0].alg: "RS256" is not one of "HMAC256/64"') for line in lines)
    assert 'key[1].holder: "ghost" is not a partition' in lines
    assert 'key[2]: give exactly one of cose_key = "FILE" or generate = true' in lines
    assert any(line.startswith("key[3].use: must be a non-empty array") for line in lines)


def test_algorithms_are_the_token_layers(valid, tmp_path):
    """Every algorithm the token layer has is a key's alg, spelled as pipsim.tokens.keys resolves it."""
    from pipsim.tokens.keys import ALGORITHMS, algorithm
    for alg in ALGORITHMS.values():
        valid["key"][0]["alg"] = alg.name.replace(" ", "")
        key = parse(valid, tmp_path).keys[0]
        assert algorithm(key.alg) is alg


def test_geometry_is_pipkernels(valid, errors):
    valid["image"]["table_size"] = 48
    assert only(errors(valid)).startswith("image.table_size: table_size must be a power of two")
    valid["image"].update(table_size=16, levels=1)
    assert only(errors(valid)).startswith("image.levels: levels must be >= 2")
    valid["image"].update(levels=2, pages=100_000)
    assert only(errors(valid)).startswith("image.pages: 100000 pages do not fit")
    valid["image"].update(arch="arm", levels=3, pages=512)
    assert only(errors(valid)).startswith("image.table_size: the arm machine has table_size 1024")


def test_python_components(valid, errors, tmp_path):
    valid["partition"][0]["runs"] = {"python": "json:JSONDecoder"}
    assert parse(valid, tmp_path).partition("owner").runs.target == "json:JSONDecoder"
    valid["partition"][0]["runs"] = {"python": "no_such_pkg.mod:Thing"}
    valid["partition"][1]["runs"] = {"python": "not a component"}
    valid["partition"][2]["runs"] = {"python": "json:X", "firmware": "x.elf"}
    lines = errors(valid)
    assert any(line.startswith('partition[0].runs.python: cannot import "no_such_pkg.mod"')
               or line == 'partition[0].runs.python: no module "no_such_pkg.mod"'
               for line in lines)
    assert 'partition[1].runs.python: "not a component" is not "package.module:Class"' in lines
    assert 'partition[2].runs: must name exactly one of "python" or "firmware"' in lines


def test_firmware_rules(valid, errors):
    hello = str(BUILD / "arm" / "hello.elf")
    valid["root"]["runs"] = {"firmware": hello}
    assert only(errors(valid)) == 'root.runs.firmware: firmware needs arch "arm" or "x86", not "python"'
    valid["image"] = {"name": "t", "arch": "x86", "pages": 1024}
    valid["partition"][0]["runs"] = {"firmware": hello}
    lines = errors(valid)
    assert "root.runs.firmware: " + hello + " is built for EM_ARM, the image's arch is x86" in lines
    assert "partition[0].runs.firmware: " + hello + " is built for EM_ARM, the image's arch is x86" in lines


def test_firmware_partition_rules(valid, errors):
    """A firmware partition below the root: its parent runs Python, it has room for its
    mailbox, and "{arch}" in its path names the image's architecture."""
    valid["image"] = {"name": "t", "arch": "x86", "pages": 1024}
    valid["partition"][1]["runs"] = {"firmware": str(BUILD / "{arch}" / "temp_driver.elf")}
    valid["partition"][1]["pages"] = 3
    lines = errors(valid)
    assert 'partition[1].runs.firmware: its parent "owner" must run a Python component' in lines[0]
    assert lines[1] == ("partition[1].pages: a firmware partition needs 4 pages at least: its "
                        "first 4 hold its mailbox, not 3")
    assert len(lines) == 2
    valid["partition"][0]["runs"] = {"python": "pipsim.domains.virtual:VirtualManager"}
    valid["partition"][1]["pages"] = 4
    m = parse(valid, ".")
    sensor = m.partition("sensor")
    assert sensor.runs.target.endswith("x86/temp_driver.elf")
    assert m.plan["sensor"].pages[0] == sensor.runs.image_end > 0x1000
    # its image, its VIDT and its pages come from the owner, which gets a VIDT itself
    assert m.plan["sensor"].given == 4 + len(sensor.runs.image_pages) + 1
    assert m.plan["owner"].given == 120 + 1 and m.plan["owner"].vidt


def test_not_an_elf(valid, errors, tmp_path):
    (tmp_path / "junk.elf").write_bytes(b"junk")
    valid["image"] = {"name": "t", "arch": "arm", "pages": 1024}
    valid["root"]["runs"] = {"firmware": "junk.elf"}
    assert "not an ELF image" in only(errors(valid))


def test_several_errors_are_reported_together(valid, errors):
    valid["image"]["arch"] = "risc-v"
    valid["partition"][1]["parent"] = "nobody"
    valid["device"][0]["owner"] = "nobody"
    valid["key"][0]["alg"] = "none"
    valid["channel"][0]["to"] = "nobody"
    lines = errors(valid)
    assert [line.split(":")[0] for line in lines] == [
        "image.arch", "partition[1].parent", "device[0].owner", "channel[0].to", "key[0].alg"]


def test_files_that_are_not_manifests(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[image\nname = 1")
    with pytest.raises(ManifestError, match="bad.toml: not valid TOML"):
        load(bad)
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(ManifestError, match="not UTF-8"):
        load(bad)
    with pytest.raises(ManifestError, match="cannot read it"):
        load(tmp_path / "missing.toml")
    with pytest.raises(ManifestError, match="manifest: must be a table"):
        parse([1, 2])


def test_parents_may_come_after_their_children(valid, tmp_path):
    valid["partition"].reverse()
    m = parse(valid, tmp_path)
    assert [p.name for p in m.partitions] == ["root", "provider", "owner", "sensor"]


def test_a_firmware_partition_needs_its_stack_symbol(valid, errors, tmp_path):
    """spawn_child starts it at __stack_top: an image without symbols is refused."""
    import shutil
    import subprocess
    stripped = tmp_path / "driver.elf"
    shutil.copy(BUILD / "x86" / "temp_driver.elf", stripped)
    subprocess.run(["strip", str(stripped)], check=True)
    valid["image"] = {"name": "t", "arch": "x86", "pages": 1024}
    valid["partition"][0]["runs"] = {"python": "pipsim.domains.virtual:VirtualManager"}
    valid["partition"][1]["runs"] = {"firmware": str(stripped)}
    assert only(errors(valid)) == (f"partition[1].runs.firmware: {stripped} has no __stack_top "
                                   "symbol (its initial stack pointer: link it with "
                                   "firmware/ld/image.ld)")


@pytest.mark.parametrize("memory, expected", [
    ({"stack": "8K", "heap": 0}, None),                       # what temp_driver was linked with
    ({"stack": 4096}, None),                                  # at least: less is fine
    ({"stack": "16K"}, "partition[1].runs.stack: {elf} has 8192 bytes of stack, fewer than the "
                       "16384 asked for: link it with pipsim cc --stack 16384"),
    ({"heap": "1M"}, "partition[1].runs.heap: {elf} has 0 bytes of heap, fewer than the "
                     "1048576 asked for: link it with pipsim cc --heap 1048576"),
    ({"stack": "lots"}, "partition[1].runs.stack: 'lots' is not a size (bytes, or with K or M)"),
    ({"stack": True}, "partition[1].runs.stack: True is not a size"),
    ({"heap": "2M"}, "partition[1].runs.heap: must be in [0, 0x100000] bytes, not 2097152"),
])
def test_memory_sizes_of_a_firmware_image(valid, errors, tmp_path, memory, expected):
    """runs.stack / runs.heap: what the image must have been linked with, checked against
    its ELF (docs/sdk.md); the gateway's drivers are children: 8 KiB stack, no heap (this
    tree's images use no C library)."""
    path = BUILD / "x86" / "temp_driver.elf"
    valid["image"] = {"name": "t", "arch": "x86", "pages": 1024}
    valid["partition"][0]["runs"] = {"python": "pipsim.domains.virtual:VirtualManager"}
    valid["partition"][1]["runs"] = {"firmware": str(path), **memory}
    if expected is None:
        assert parse(valid, tmp_path).partition("sensor").runs.firmware
    else:
        assert only(errors(valid)) == expected.format(elf=path)


def test_memory_sizes_need_firmware_linked_with_the_sdk(valid, errors, tmp_path):
    import shutil
    import subprocess
    stripped = tmp_path / "driver.elf"
    shutil.copy(BUILD / "x86" / "temp_driver.elf", stripped)
    subprocess.run(["strip", "-K", "__stack_top", str(stripped)], check=True)
    valid["image"] = {"name": "t", "arch": "x86", "pages": 1024}
    valid["partition"][0]["runs"] = {"python": "pipsim.domains.virtual:VirtualManager",
                                     "stack": "8K"}
    valid["partition"][1]["runs"] = {"firmware": str(stripped), "heap": "4K"}
    lines = errors(valid)
    assert "partition[0].runs.stack: only a firmware image has one" in lines
    assert (f"partition[1].runs.heap: {stripped} marks no heap (link it with pipsim cc, "
            "docs/sdk.md)") in lines
