"""Toy experiments for the runner tests (imported by the tests and by worker processes)."""
import os

from pipsim.experiments import Figure, Measure, Param, count, experiment


@experiment("toy", params=[Param("x", 1, "a number", low=0), Param("fail_at", -1, "x that raises"),
                           Param("crash_at", -1, "x that kills the worker process")],
            measures={"y": "2x", "r": "a draw of the run's generator"},
            figures=[Figure("y", x="x", y=("y", "r"))])
def toy(p, rng):
    """A toy: y = 2x, r = rng.random()."""
    if p["x"] == p["fail_at"]:
        raise ValueError(f"x={p['x']} fails on purpose")
    if p["x"] == p["crash_at"]:
        os._exit(3)
    return {"y": 2 * p["x"], "r": rng.random()}


@experiment("toy_undeclared", params=[], measures={"y": "declared"})
def toy_undeclared(p, rng):
    """Returns a measurement it did not declare."""
    return {"y": 1, "z": 2}


@experiment("toy_machine", params=[], measures={"y": "anything"}, requires=["machine"])
def toy_machine(p, rng):
    """Needs the machine."""
    return {"y": 1}


@experiment("toy_units", params=[Param("n", 1, "items handled", low=0, unit="items"),
                                 Param("variant", "a", "a series", choices=("a", "b", "c"))],
            measures={"pages": count("pages used", "pages"), "ratio": Measure("pages / 3"),
                      "time": Measure("time taken", "ns")},
            figures=[Figure("pages", x="n", y=("pages", "ratio", "time"))])
def toy_units(p, rng):
    """Measurements with units; every variant the same values (overlapping series)."""
    return {"pages": p["n"], "ratio": p["n"] / 3, "time": 1000.5 * p["n"]}
