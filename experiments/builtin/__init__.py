"""The built-in experiments, one module each; importing this package registers them.

Planned, waiting for parts of the project that do not exist yet (docs/experiments.md):
partition-switch and fault-delivery costs on the machine (requires="machine"), and IPC latency
between siblings against their distance in the tree (requires="ipc").
"""
from . import deletion, fault_containment, memory_overhead, syscall_cost  # noqa: F401
