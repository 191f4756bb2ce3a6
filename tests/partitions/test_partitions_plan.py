"""The layout plan: computed once at validation, it is what the boot carries out, page for page
(pages, mailbox, devices, VIDT, what each child costs its parent), on every architecture."""
import pytest

from pipsim.domains.gateway import IMAGE
from pipsim.partitions import LayoutError, boot, load, parse
from pipsim.partitions.plan import child_plan, mailbox_vas, plan_image
from pipsim.kernel import Geometry, layout
from pipsim.kernel.abi import PAGE_SIZE


def spent_on(kernel, parent, child, parent_pool) -> int:
    """Pages of the parent's pool the child holds: mapped in it, or its kernel pages
    (the child's own children's pages included: they came out of what it was given)."""
    pa_of = {kernel.mappings(parent)[va].pa // PAGE_SIZE: va for va in parent_pool}
    held = {m.pa // PAGE_SIZE for m in kernel.mappings(child).values()}
    held |= set(kernel.config_pages(child))
    for grandchild in kernel.children(child):
        held |= set(kernel.config_pages(grandchild))
    return len(held & set(pa_of))


def check_carried_out(image):
    k, plan = image.kernel, image.manifest.plan
    for name, booted in image.partitions.items():
        p = plan[name]
        assert booted.plan is p and booted.pages == p.pages
        assert set(p.mailbox) <= set(p.pages) and len(p.mailbox) == 4
        assert p.mailbox[1] == p.mailbox[0] + PAGE_SIZE and p.mailbox[3] == p.mailbox[2] + PAGE_SIZE
        api = booted.api
        for va in p.mailbox:            # the mailbox is left free for the runtime
            assert api.translate(va, "w") is not None and not api.mapped_in_child(va)
        maps = k.mappings(booted.partition)
        assert set(p.devices.values()) <= set(maps)
        assert (k.geometry.vidt_va in maps) == (p.vidt or name == "root")
        for child in image.manifest.children(name):
            c = plan[child.name]
            assert len(k.config_pages(image.partitions[child.name].partition)) == c.kernel
            assert spent_on(k, booted.partition, image.partitions[child.name].partition,
                            p.pool) == c.cost


def test_a_python_image_is_booted_as_planned(valid, tmp_path):
    check_carried_out(boot(parse(valid, tmp_path)))


@pytest.mark.parametrize("arch", ["arm", "x86"])
def test_the_gateway_is_booted_as_planned(arch):
    image = boot(load(IMAGE, arch=arch))
    check_carried_out(image)
    plan = image.manifest.plan
    driver = next(p for p in image.manifest.partitions if p.runs_firmware)
    assert plan[driver.name].mailbox == plan[driver.name].pages[:4]      # its main's contract
    assert plan[driver.name].pages[0] == driver.runs.image_end
    assert image.machine.device_va("lamp") == plan["root"].devices["lamp"]


def test_the_mailbox_is_two_pairs_of_consecutive_pages():
    P = PAGE_SIZE
    assert mailbox_vas([P, 2 * P, 3 * P, 4 * P, 5 * P]) == (P, 2 * P, 3 * P, 4 * P)
    assert mailbox_vas([P, 3 * P, 4 * P, 6 * P, 8 * P, 9 * P]) == (3 * P, 4 * P, 8 * P, 9 * P)
    assert mailbox_vas([P, 2 * P, 3 * P]) == ()
    assert mailbox_vas([]) == ()


def test_a_child_plan_costs_what_the_kernel_takes():
    g = Geometry(2000, 16, 3)
    plan = child_plan(g, "c", 300, devices=["d"], schedules_firmware=True)
    assert plan.given == 301 and plan.vidt
    assert plan.pages == tuple(layout.child_vas(g, 300))
    assert plan.devices == {"d": layout.child_vas(g, 301)[300]}
    ranges = layout.child_ranges(g, 301) + layout.page_ranges([g.vidt_va])
    assert plan.kernel == layout.kernel_pages(g, ranges)


def test_shortages_name_their_partition(valid):
    from pipsim.partitions.spec import DeviceSpec, PartitionSpec
    g = Geometry(512, 16, 3)
    parts = (PartitionSpec("root", None, None), PartitionSpec("a", "root", 5000),
             PartitionSpec("b", "root", 100), PartitionSpec("c", "b", 100))
    with pytest.raises(LayoutError) as caught:
        plan_image(g, False, parts, ())
    assert [who for who, _ in caught.value.problems] == ["a"]
    with pytest.raises(LayoutError) as caught:
        plan_image(g, False, parts[:1] + parts[2:], ())
    assert [who for who, _ in caught.value.problems] == ["b"]
    assert "+ 4 for its mailbox" in caught.value.problems[0][1]
    many = tuple(DeviceSpec(f"d{i}", "registers", "root") for i in range(400))
    with pytest.raises(LayoutError) as caught:
        plan_image(g, False, parts[:1], many)
    assert caught.value.problems[0][0] == "device"
