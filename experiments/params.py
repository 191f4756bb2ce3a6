"""Experiment parameters and the sweep grammar of ``--param``.

``NAME=VALUE`` one value; ``NAME=A..B`` every integer from A to B (``A..B:STEP`` every STEP-th);
``NAME=A,B,C`` a list.  Values are converted to the type of the parameter's default and checked
against its bounds or choices; every error names the parameter and the bad value.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Sequence

from .errors import ExperimentError

_KIND_NAMES = {int: "an integer", float: "a number", str: "a string"}


@dataclass(frozen=True)
class Param:
    """One parameter of an experiment; its type is the type of ``default``; ``unit`` what its
    values count or measure ("" for none: a name, a depth), on the figures' axes."""

    name: str
    default: int | float | str
    doc: str
    low: int | float | None = None
    high: int | float | None = None
    choices: tuple = ()
    unit: str = ""

    def __post_init__(self) -> None:
        if type(self.default) not in _KIND_NAMES:
            raise TypeError(f"parameter {self.name}: default must be int, float or str")
        self.check(self.default)

    @property
    def kind(self) -> type:
        """The parameter's type: its default's (int, float or str)."""
        return type(self.default)

    def check(self, value: Any) -> None:
        """ExperimentError unless ``value`` is among the choices and within the bounds."""
        if self.choices and value not in self.choices:
            raise ExperimentError(f"parameter {self.name}={value!r} is not one of "
                                  f"{', '.join(map(str, self.choices))}")
        if self.low is not None and value < self.low:
            raise ExperimentError(f"parameter {self.name}={value!r} is below its minimum {self.low}")
        if self.high is not None and value > self.high:
            raise ExperimentError(f"parameter {self.name}={value!r} is above its maximum {self.high}")

    def convert(self, text: str) -> int | float | str:
        """The value written ``text`` (as on the command line or in a CSV), checked."""
        text = text.strip()
        if not text:
            raise ExperimentError(f"parameter {self.name}: empty value")
        try:
            value = self.kind(text)
        except ValueError:
            raise ExperimentError(f"parameter {self.name}: {text!r} is not "
                                  f"{_KIND_NAMES[self.kind]}") from None
        self.check(value)
        return value

    def values(self, spec: str) -> list:
        """The values of one ``--param`` right-hand side: ``V``, ``A..B[:STEP]`` or ``A,B,C``."""
        if ".." in spec:
            return self._range(spec)
        values = [self.convert(item) for item in spec.split(",")]
        return list(dict.fromkeys(values))

    def _range(self, spec: str) -> list[int]:
        if self.kind is not int:
            raise ExperimentError(f"parameter {self.name}: ranges A..B are for integer "
                                  f"parameters; list the values instead (A,B,C)")
        bounds, _, step_text = spec.partition(":")
        first, _, last = bounds.partition("..")
        a, b = self._int(first, spec), self._int(last, spec)
        step = self._int(step_text, spec) if step_text else 1
        if step < 1:
            raise ExperimentError(f"parameter {self.name}: step must be >= 1 in {spec!r}")
        if a > b:
            raise ExperimentError(f"parameter {self.name}: empty range {spec!r} ({a} > {b})")
        values = list(range(a, b + 1, step))
        for value in values:
            self.check(value)
        return values

    def _int(self, text: str, spec: str) -> int:
        try:
            return int(text)
        except ValueError:
            raise ExperimentError(f"parameter {self.name}: {text.strip()!r} in {spec!r} is "
                                  f"not an integer") from None


def parse_grid(experiment: str, params: Sequence[Param], assignments: Sequence[str]) -> dict:
    """``{name: [values]}`` for every parameter: the assignments given, defaults elsewhere."""
    by_name = {p.name: p for p in params}
    given: dict[str, list] = {}
    for assignment in assignments:
        name, sep, spec = assignment.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ExperimentError(f"expected NAME=VALUE, NAME=A..B or NAME=A,B,C; "
                                  f"got {assignment!r}")
        if name not in by_name:
            known = ", ".join(by_name) or "none"
            raise ExperimentError(f"unknown parameter {name!r} for experiment {experiment!r} "
                                  f"(its parameters: {known})")
        if name in given:
            raise ExperimentError(f"parameter {name} is given twice")
        given[name] = by_name[name].values(spec)
    return {p.name: given.get(p.name, [p.default]) for p in params}


def grid_points(grid: dict) -> list[dict]:
    """Every combination of the grid's values, the last parameter varying fastest."""
    names = list(grid)
    return [dict(zip(names, combo)) for combo in itertools.product(*grid.values())]
