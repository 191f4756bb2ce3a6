"""Pure-Python reference model of the Pip-style protokernel (docs/kernel.md).

Written from the contract and Pip's specification only; it is the oracle of the differential
tests against the C core and the baseline of the benchmark.

Modules: ``memory`` (the RAM bytearray), ``state``, ``mal`` (entry encodings, Pip's MAL),
``ll`` (configuration-pages list), ``internal`` (Internal.v helpers), ``services`` (the eight
memory services), ``control`` (yield, dispatch, resume, interrupt state), ``policy`` (the checks
of the ``hardened`` policy), ``boot`` (boot layout), ``observe`` (StateLib getters),
``invariants`` (the proved properties as executable checks), ``extra_properties`` (the properties
beyond Pip's), ``kernel`` (the public API).
"""
from .kernel import Kernel, PartitionAPI

__all__ = ["Kernel", "PartitionAPI"]
