"""The built-in experiments, one module each, named under the "pipsim.experiments" entry points
in pyproject.toml (importing this package registers nothing).

switch_cost and policy_attacks require the machine (requires=("machine",)); without it they are
listed and refused (docs/experiments.md).
"""
