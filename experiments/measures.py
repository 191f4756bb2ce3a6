"""What an experiment measures: each measurement's meaning, unit and whether its values are
whole numbers (a count), which the figures label their axes and place their ticks by."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Measure:
    """One measurement: ``doc`` what it is; ``unit`` what it is counted or timed in ("" for a
    pure number: a ratio, a 0/1 flag, a bit set); ``integer`` whether its values are whole
    (an axis of it gets whole-number ticks)."""

    doc: str
    unit: str = ""
    integer: bool = False

    @classmethod
    def of(cls, declared: Measure | str) -> Measure:
        """A declaration's measure: a Measure, or its description alone (no unit)."""
        return declared if isinstance(declared, Measure) else cls(declared)


def count(doc: str, unit: str) -> Measure:
    """A measurement that counts ``unit`` (pages, calls, partitions...): whole values."""
    return Measure(doc, unit, integer=True)


def flag(doc: str) -> Measure:
    """A 0/1 measurement."""
    return Measure(doc, "0/1", integer=True)


def axis_label(name: str, unit: str) -> str:
    """How a figure labels an axis: "name (unit)", or the name of a pure number."""
    return f"{name} ({unit})" if unit else name
