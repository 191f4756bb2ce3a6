"""Pip-style partition simulator: the C proto-kernel core and its Python API.

``pipsim.kernel.Kernel`` runs on the C core; ``pipsim.kernel.model.Kernel`` is the
independent pure-Python reference model with the same API.
"""
from .abi import INVARIANTS, SYSCALLS, PipError
from .kernel import Kernel, PartitionAPI
from .types import Geometry, Mapping, MemoryFault, Partition, Prepared

__all__ = ["Kernel", "PartitionAPI", "Partition", "Mapping", "Prepared", "MemoryFault",
           "Geometry", "PipError", "INVARIANTS", "SYSCALLS"]
