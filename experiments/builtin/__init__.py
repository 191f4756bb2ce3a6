"""The built-in experiments, one module each; importing this package registers them.

switch_cost and policy_attacks require the machine (requires=("machine",)), ipc_latency the
ipc package (requires=("ipc",)); without them they are listed and refused (docs/experiments.md).
"""
from . import (deletion, fault_containment, fault_propagation, ipc_latency,  # noqa: F401
               memory_overhead, policy_attacks, switch_cost, syscall_cost)
