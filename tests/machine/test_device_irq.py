"""A device model raises an interrupt (Machine.raise_irq) and firmware takes it, on both
architectures: firmware/samples/devirq registers a handler for the device vectors, makes
its device raise one while it does not accept interrupts, then accepts them."""
import pathlib

import pytest

from pipsim.kernel.abi import DEVICE_VECTORS
from pipsim.kernel.machine import Machine
from pipsim.kernel.machine.devices import Registers

BUILD = pathlib.Path(__file__).resolve().parents[2] / "firmware" / "build"


def devirq(arch, vector):
    """A machine running devirq whose device, once its register 0 is written, shows 7 in
    its register 4 and raises `vector`."""
    def on_write(offset, value):
        if offset == 0 and value:
            device.set(4, 7)
            machine.raise_irq(vector)

    device = Registers("button", on_write=on_write)
    machine = Machine(arch, pages=256, devices=[device])
    machine.load(str(BUILD / arch / "devirq.elf"))
    machine.patch_word("device_va", machine.device_va("button"))
    return machine


@pytest.mark.parametrize("arch", ["arm", "x86"])
@pytest.mark.parametrize("vector", [DEVICE_VECTORS[0], 40, DEVICE_VECTORS[-1]])
def test_a_device_interrupt_waits_until_the_root_accepts_it(arch, vector):
    result = devirq(arch, vector).run(max_instructions=2_000_000)
    assert result.console.decode() == f"masked\ninterrupt {vector}, device register 4 = 7\n"
    assert (result.stop, result.exit_code) == ("halt", vector)
    assert result.counters["irqs"] == 1 and result.counters["irqs_dropped"] == 0


@pytest.mark.parametrize("vector", [0, DEVICE_VECTORS[0] - 1, DEVICE_VECTORS[-1] + 1, 255])
def test_only_device_vectors_can_be_raised(vector):
    with pytest.raises(ValueError, match="device interrupts are vectors 33..47"):
        Machine("arm", pages=256).raise_irq(vector)


@pytest.mark.parametrize("arch", ["arm", "x86"])
def test_a_device_model_that_raises_is_contained(arch):
    """A bug in a Python device model does not unwind through the engine: the error is kept in
    host_errors, the guest's store completes, and the machine runs on (here the awaited
    interrupt never comes: the budget ends the run)."""
    def broken(offset, value):
        raise ZeroDivisionError("device model bug")

    device = Registers("button", on_write=broken)
    machine = Machine(arch, pages=256, devices=[device])
    machine.load(str(BUILD / arch / "devirq.elf"))
    machine.patch_word("device_va", machine.device_va("button"))
    result = machine.run(max_instructions=200_000)
    assert result.stop == "budget" and result.console.decode() == "masked\n"
    assert [type(e) for e in machine.host_errors] == [ZeroDivisionError]
    assert machine.kernel.check_invariants() == []
