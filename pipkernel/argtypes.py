"""argparse types every pipsim command shares: a nonsense value is refused by the parser, as a
usage error naming it (exit status 2), before anything runs."""
from __future__ import annotations

import argparse
import math


def count(text: str) -> int:
    """A whole number >= 0 (decimal, or 0x.. hexadecimal)."""
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def seconds(text: str) -> float:
    """A finite number of seconds >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} seconds: a finite number >= 0")
    return value


def positive_seconds(text: str) -> float:
    """A finite number of seconds > 0 (a lifetime, a timeout)."""
    value = seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r} seconds: more than 0")
    return value


def count_in(low: int, high: int | None = None):
    """The type of a whole number from ``low`` to ``high`` (None: no upper bound): a port, a
    number of devices or workers."""
    def whole(text: str) -> int:
        value = count(text)
        if value < low or high is not None and value > high:
            raise argparse.ArgumentTypeError(
                f"{value}: {low} to {high}" if high is not None else f"{value}: at least {low}")
        return value
    whole.__name__ = f"count {low}..{'' if high is None else high}"
    return whole
