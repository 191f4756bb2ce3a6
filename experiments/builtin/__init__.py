"""The built-in experiments, one module each; importing this package registers them.

switch_cost requires the machine (requires=("machine",)); ipc_latency, IPC latency between
partitions against their distance in the tree, waits for the ipc package (docs/experiments.md).
"""
from . import (deletion, fault_containment, fault_propagation, memory_overhead,  # noqa: F401
               switch_cost, syscall_cost)
