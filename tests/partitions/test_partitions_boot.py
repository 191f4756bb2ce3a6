"""Booting manifests: the tree, pages, kernel overhead and device delegation, all via syscalls."""
from pathlib import Path

import pytest

from pipsim.partitions import boot, parse
from pipsim.kernel import Kernel
from pipsim.kernel.layout import child_vas, root_free_pages, root_linear_vas
from pipsim.kernel.model import Kernel as ModelKernel

REPO = Path(__file__).resolve().parents[2]


def test_root_accounting_matches_both_kernels():
    """The layout's root pages (the C core's computation, without booting) are what the C core
    and the independent reference model map when they boot."""
    for pages, ts, levels in [(60, 16, 2), (200, 16, 2), (300, 16, 3), (4096, 1024, 2),
                              (3000, 64, 3), (7000, 32, 4)]:
        for k in (Kernel(pages, ts, levels), ModelKernel(pages, ts, levels)):
            g = k.geometry
            maps = k.mappings(k.root)
            assert len(maps) == root_free_pages(g)
            assert sorted(va for va in maps if va != g.vidt_va) == root_linear_vas(g)


def test_python_boot(valid, tmp_path):
    image = boot(parse(valid, tmp_path))
    k, m = image.kernel, image.manifest
    assert image.machine is None and image.check_invariants() == []
    parts = image.partitions
    assert k.children(k.root) == [parts["owner"].partition, parts["provider"].partition]
    assert k.children(parts["owner"].partition) == [parts["sensor"].partition]
    assert k.current == k.root
    for name, b in parts.items():
        if name != "root":
            assert len(k.config_pages(b.partition)) == m.plan[name].kernel
            assert list(b.pages) == child_vas(m.geometry, m.partition(name).pages)
            maps = k.mappings(b.partition)
            assert set(b.pages) | set(b.devices.values()) == set(maps)
            assert all(maps[va].w and not maps[va].x for va in b.pages)
    sensor = k.mappings(parts["sensor"].partition)      # a leaf keeps all its pages
    assert all(sensor[va].accessible for va in parts["sensor"].pages)
    assert image.names[parts["sensor"].partition] == "sensor"
    assert [c.from_ for c in image.channels] == ["provider"] and image.keys[0].kid == "owner-mac"


def test_kernel_slot_is_skipped_and_ll_pages_counted(valid, tmp_path):
    """ts=16, L=3: the kernel slot starts at 1 MiB (256 pages); 6 tables fill an LL page."""
    valid["image"]["pages"] = 2000
    valid["partition"][0]["pages"] = 700
    valid["partition"][1]["pages"] = 300
    image = boot(parse(valid, tmp_path))
    sensor = image.partitions["sensor"]
    assert sensor.pages[254] == 0xFF000 and sensor.pages[255] == 0x200000
    assert image.check_invariants() == []
    for name, b in image.partitions.items():
        if name != "root":
            assert len(image.kernel.config_pages(b.partition)) == image.manifest.plan[name].kernel


def test_devices_are_delegated_down_the_tree(valid, tmp_path):
    image = boot(parse(valid, tmp_path))
    k, parts = image.kernel, image.partitions
    root_va = parts["root"].devices["temperature"]
    owner_va, sensor_va = parts["owner"].devices["temperature"], parts["sensor"].devices["temperature"]
    pa = k.mappings(k.root)[root_va].pa
    assert k.mappings(parts["owner"].partition)[owner_va].pa == pa
    assert k.mappings(parts["sensor"].partition)[sensor_va].pa == pa
    assert "temperature" not in parts["provider"].devices
    parts["sensor"].api.write(sensor_va, b"21.5C")
    assert parts["root"].api.read(root_va, 5) == b"21.5C"
    assert root_va not in parts["root"].pages                 # not in the root's pool
    assert image.devices == {"temperature": None}


def test_the_example_image_boots():
    image = boot(str(REPO / "partitions" / "example.toml"))
    assert image.check_invariants() == []
    assert set(image.partitions) == {"root", "owner-config", "sensor-driver", "provider-a",
                                     "provider-a-app", "provider-a-sensor"}
    assert set(image.partitions["provider-a"].devices) == {"heater"}


def test_python_components_resolve_lazily(valid, tmp_path):
    valid["partition"][0]["runs"] = {"python": "json:JSONDecoder"}
    valid["partition"][2]["runs"] = {"python": "json:NoSuchClass"}
    image = boot(parse(valid, tmp_path))
    import json
    assert image.component("owner") is json.JSONDecoder
    with pytest.raises(ValueError, match='partition "provider": cannot load json:NoSuchClass'):
        image.component("provider")
    with pytest.raises(ValueError, match="runs no Python component"):
        image.component("sensor")


@pytest.mark.parametrize("arch", ["arm", "x86"])
def test_machine_boot_with_root_firmware(valid, tmp_path, arch):
    elf = REPO / "firmware" / "build" / arch / "hello.elf"
    valid["image"] = {"name": "hw", "arch": arch, "pages": 1024}
    valid["root"]["runs"] = {"firmware": str(elf)}
    image = boot(parse(valid, tmp_path))
    assert image.check_invariants() == []
    machine, parts = image.machine, image.partitions
    assert parts["root"].devices["temperature"] == machine.device_va("temperature")
    reserve = image.manifest.plan.reserve
    assert reserve.start == 0x802000 and not set(parts["root"].pages) & set(reserve)
    assert image.kernel.current == image.kernel.root
    result = machine.run(max_instructions=1_000_000)
    assert (result.stop, result.exit_code, result.console) == ("halt", 0, b"Hello World\n")
    assert image.check_invariants() == []


def test_machine_boot_without_firmware(valid, tmp_path):
    valid["image"] = {"name": "hw", "arch": "arm", "pages": 512}
    image = boot(parse(valid, tmp_path))
    assert image.check_invariants() == [] and image.machine.image is None
    assert 0x800000 not in image.partitions["root"].pages       # console and system stay
