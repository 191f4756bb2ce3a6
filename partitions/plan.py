"""The layout plan of a device image: computed once from the validated specs, frozen, and
consumed by validation, boot, the runtime and lifecycle (docs/layers.md).

For each partition it says where its own pages are, which of them hold its IPC mailbox, where
it sees its devices, whether it maps a VIDT, where its firmware image is, and what it costs its
parent (pages given, kernel pages).  The arithmetic is `pipsim.kernel.layout`'s; this module only
applies it to one image.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator

from pipsim.kernel.abi import IPC_MAILBOX_PAGES as MAILBOX_PAGES
from pipsim.kernel import layout
from pipsim.kernel.abi import PAGE_SIZE
from pipsim.kernel.errors import PipsimError
from pipsim.kernel.types import Geometry

from .spec import ROOT, DeviceSpec, PartitionSpec, Runs


class LayoutError(PipsimError, ValueError):
    """An image whose pages do not fit; `problems` holds (subject, message) pairs, the subject
    a partition's name (its pages; the root's: the image's), "device" or "root image"."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("\n".join(f"{who}: {why}" for who, why in problems))


@dataclass(frozen=True)
class PartitionPlan:
    """Where one partition's pages are, in its own address space, and what it costs."""

    name: str
    pages: tuple[int, ...]       # its own pages (the root: its free pool), layout order
    mailbox: tuple[int, ...]     # outbox pair, inbox pair: the first two pairs of `pages`
    devices: dict[str, int] = field(default_factory=dict, hash=False)  # device -> its VA here
    image: tuple[int, ...] = ()  # its firmware image's pages
    vidt: bool = False           # it maps a VIDT page (runs firmware or schedules it)
    given: int = 0               # pages its parent gives it: own, image, VIDT
    kernel: int = 0              # pages the kernel takes from its parent for it

    @property
    def pool(self) -> tuple[int, ...]:
        """Its pages but its mailbox: what its children and its component get."""
        return tuple(va for va in self.pages if va not in self.mailbox)

    @property
    def cost(self) -> int:
        """Pages its parent spends on it."""
        return self.given + self.kernel


@dataclass(frozen=True)
class ImagePlan:
    """Where every page of an image goes: each partition's plan, root first, and the root's
    VAs kept for its firmware image and heap."""

    geometry: Geometry
    partitions: dict[str, PartitionPlan] = field(hash=False)   # root first, tree order
    reserve: range = range(0)    # the root's VAs kept for its firmware image and heap

    def __getitem__(self, name: str) -> PartitionPlan:
        return self.partitions[name]

    def need(self, children: Iterable[str]) -> int:
        """Pages a parent needs to create `children` (names) and keep its mailbox."""
        return (sum(self.partitions[c].cost for c in children) + MAILBOX_PAGES
                + layout.build_spare(self.geometry))


def mailbox_vas(pages: Iterable[int]) -> tuple[int, ...]:
    """The mailbox in `pages`: its first pair of consecutive pages (outbox), then the next pair
    after it (inbox); () if there are no two such pairs."""
    free = set(pages)
    pairs = [va for va in sorted(free) if va + PAGE_SIZE in free]
    if not pairs:
        return ()
    inbox = next((va for va in pairs if va >= pairs[0] + 2 * PAGE_SIZE), None)
    return () if inbox is None else (pairs[0], pairs[0] + PAGE_SIZE, inbox, inbox + PAGE_SIZE)


def data_start(runs: Runs | None) -> int:
    """Where a child's own pages start: after its firmware image, if it runs one."""
    return runs.image_end if runs is not None and runs.firmware else layout.CHILD_VA_START


def child_plan(geometry: Geometry, name: str, pages: int, runs: Runs | None = None,
               devices: Iterable[str] = (), schedules_firmware: bool = False) -> PartitionPlan:
    """The plan of a child with `pages` own pages that runs `runs`, mapping the devices named
    `devices` after its pages and, when it runs firmware or schedules firmware children, a
    VIDT.  ValueError if its pages do not fit an address space."""
    firmware = runs is not None and runs.firmware
    start = data_start(runs)
    names = list(devices)
    vas = layout.child_vas(geometry, pages + len(names), start)
    image = tuple(runs.image_pages) if runs is not None and runs.firmware else ()
    vidt = firmware or schedules_firmware
    ranges = layout.child_ranges(geometry, pages + len(names), start) + layout.page_ranges(
        list(image) + ([geometry.vidt_va] if vidt else []))
    own = tuple(vas[:pages])
    return PartitionPlan(name, own, mailbox_vas(own), dict(zip(names, vas[pages:])), image, vidt,
                         pages + len(image) + vidt, layout.kernel_pages(geometry, ranges))


def plan_image(geometry: Geometry, emulated: bool, partitions: tuple[PartitionSpec, ...],
               devices: tuple[DeviceSpec, ...]) -> ImagePlan:
    """The plan of an image whose specs (root first, parents before children) are valid;
    LayoutError listing every page shortage otherwise."""
    problems: list[tuple[str, str]] = []
    root_spec = partitions[0]
    linear = layout.root_linear_vas(geometry)
    try:
        device_vas = layout.device_vas(linear, len(devices))
    except ValueError as error:
        raise LayoutError([("device", str(error))]) from None
    image_end = data_start(root_spec.runs) if root_spec.runs_firmware else 0
    reserve = layout.firmware_reserve(image_end)
    if image_end > min(device_vas, default=linear[-1] + PAGE_SIZE):
        problems.append(("root image", f"the image ends at {image_end:#x}, past the root's "
                         "free pages: raise image.pages"))
    taken = set(device_vas) | (set(linear[:2]) if emulated else set())
    pool = tuple(va for va in linear if va not in taken and va not in reserve)
    plans = {ROOT: PartitionPlan(ROOT, pool, mailbox_vas(pool),
                                 {d.name: va for d, va in zip(devices, device_vas)})}
    parents = {p.name: p.parent for p in partitions}

    def ancestry(name: str | None) -> Iterator[str]:
        while name is not None:
            yield name
            name = parents[name]

    for spec in partitions[1:]:
        assert spec.pages is not None                   # only the root's is None
        relayed = [d.name for d in devices if spec.name in ancestry(d.owner)]
        firmware_kids = any(c.runs_firmware for c in partitions if c.parent == spec.name)
        try:
            plans[spec.name] = child_plan(geometry, spec.name, spec.pages, spec.runs, relayed,
                                          firmware_kids)
        except ValueError:
            problems.append((spec.name, f"{spec.pages + len(relayed)} pages (with its devices) "
                             f"do not fit a partition's address space from "
                             f"{data_start(spec.runs):#x}"))
    if problems:
        raise LayoutError(problems)
    plan = ImagePlan(geometry, plans, reserve)
    for spec in partitions:
        kids = [c.name for c in partitions if c.parent == spec.name]
        has = len(plans[spec.name].pages)
        if kids and plan.need(kids) > has:
            detail = ", ".join(f'"{k}" {plans[k].given} + {plans[k].kernel} kernel' for k in kids)
            problems.append((spec.name, f'"{spec.name}" has {has} pages, its children need '
                             f"{plan.need(kids)} ({detail}, + {MAILBOX_PAGES} for its mailbox, "
                             f"+ {layout.build_spare(geometry)} spare while tables are built)"))
    if problems:
        raise LayoutError(problems)
    return plan
