"""What bounds a Python component's activation: a budget of kernel calls.

A component acts only through its partition's system calls and memory accesses.  The
runtime hands it a ``MeteredAPI`` that spends one unit of the runtime's ``Budget`` per call;
``Runtime.run_as`` arms the budget for each activation (a poll, a frame, a report), so a
component that loops making calls is cut short with ``Runaway``, as a firmware partition is
cut at its instruction budget.  A loop that makes no call at all cannot be bounded from
Python (there is no preemption): docs/domains.md, Limits.
"""
from __future__ import annotations

import math

from pipsim.kernel import MemoryFault

CALL_BUDGET = 200_000          # kernel calls per activation: a command costs a few dozen


class Runaway(BaseException):
    """An activation spent its budget of kernel calls.  A BaseException: a component's own
    ``except Exception`` does not swallow it."""


class Budget:
    """Kernel calls the running activation may still make (unbounded outside one)."""

    __slots__ = ("left", "limit")

    def __init__(self):
        self.left, self.limit = math.inf, math.inf

    def arm(self, limit: int) -> tuple[float, float]:
        """Start an activation with ``limit`` calls; what to ``restore`` after it."""
        saved = self.left, self.limit
        self.left = self.limit = limit
        return saved

    def restore(self, saved: tuple[float, float]) -> None:
        self.left, self.limit = saved


class MeteredAPI:
    """A partition's PartitionAPI for a component: each call spends one unit of the budget
    (Runaway when none is left); attributes read through."""

    def __init__(self, api, budget: Budget):
        self._api, self._budget = api, budget

    def __getattr__(self, name: str):
        attr = getattr(self._api, name)
        if callable(attr):
            attr = _metered(attr, self._budget)
        setattr(self, name, attr)          # later lookups do not come back here
        return attr


def _metered(call, budget: Budget):
    def metered(*args, **kwargs):
        budget.left -= 1
        if budget.left < 0:
            raise Runaway(f"made {budget.limit} kernel calls without returning")
        return call(*args, **kwargs)
    return metered


def describe(error: BaseException) -> str:
    """A contained failure, for the fault report."""
    if isinstance(error, (MemoryFault, Runaway)):
        return str(error)
    return f"raised {type(error).__name__}: {error}"
