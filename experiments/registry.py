"""Experiments as code: a function of (parameters, random generator) returning measurements,
registered under a name with its parameters, measurements and standard figures.

    @experiment("depth_cost", params=[Param("depth", 3, "tree depth", low=1)],
                measures={"kernel_pages": "pages the kernel uses"},
                figures=[Figure("pages", x="depth", y=("kernel_pages",))])
    def depth_cost(p, rng):
        \"\"\"What it measures, how, and the limits of measuring it in a simulator.\"\"\"
        return {"kernel_pages": ...}

An experiment that needs a part of the project that may be missing names it in ``requires``
(see CAPABILITIES); without it the experiment is listed as such, and refused at run time with
a clear message saying what is missing.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from . import firmware
from .errors import ExperimentError
from .params import Param


@dataclass(frozen=True)
class Capability:
    """A part of the project an experiment may require: modules that must import (real
    modules, not bare folders) and files that must exist (given by a function, so that
    where they are is decided when checked)."""

    what: str
    modules: tuple[str, ...]
    files: Callable[[], Iterable[Path]] = tuple
    hint: str = ""

    def problem(self) -> str | None:
        """Why this installation lacks the capability, or None if it has it."""
        for module in self.modules:
            reason = _import_problem(module)
            if reason:
                return f"{module} {reason}"
        missing = [str(path) for path in self.files() if not Path(path).is_file()]
        if missing:
            return f"missing {', '.join(missing)}" + (f" ({self.hint})" if self.hint else "")
        return None


#: parts of the project an experiment may require
CAPABILITIES: dict[str, Capability] = {
    "machine": Capability("the Unicorn machine (partition switches, real faults)",
                          ("pipkernel.machine",), firmware.required_images,
                          "build them with `make setup` or `make -C firmware`"),
}


@dataclass(frozen=True)
class Figure:
    """A standard figure: one panel per measure in `y` against `x` (a parameter or a
    measure), one line per combination of the parameters in `by` (default: every varying
    parameter but x), error bars = standard deviation of the runs averaged at each x."""

    name: str
    x: str
    y: tuple[str, ...]
    by: tuple[str, ...] | None = None
    title: str = ""
    logx: bool = False


@dataclass(frozen=True)
class Experiment:
    name: str
    func: Callable[[dict, object], dict]
    params: tuple[Param, ...]
    measures: dict[str, str]
    figures: tuple[Figure, ...] = ()
    requires: tuple[str, ...] = ()
    module: str = field(default="", compare=False)

    @property
    def doc(self) -> str:
        return inspect.getdoc(self.func) or ""

    @property
    def summary(self) -> str:
        return self.doc.split("\n", 1)[0]

    def missing(self) -> list[str]:
        """The capabilities this experiment requires that are not installed."""
        return [c for c in self.requires if CAPABILITIES[c].problem()]

    def check_runnable(self) -> None:
        for name in self.requires:
            problem = CAPABILITIES[name].problem()
            if problem:
                raise ExperimentError(f"experiment {self.name!r} needs "
                                      f"{CAPABILITIES[name].what}, which this installation "
                                      f"does not have: {problem}")


_REGISTRY: dict[str, Experiment] = {}


def _import_problem(module: str) -> str | None:
    """Why `module` is not a real importable module (a bare folder, a namespace package, has
    no origin), or None."""
    try:
        spec = importlib.util.find_spec(module)
    except ImportError as error:
        return f"cannot be found ({error})"
    if spec is None or spec.origin is None:
        return "is not installed"
    try:
        importlib.import_module(module)
    except Exception as error:          # a missing dependency, an unbuilt extension...
        return f"cannot be imported ({type(error).__name__}: {error})"
    return None


def experiment(name: str, *, params: Iterable[Param], measures: dict[str, str],
               figures: Iterable[Figure] = (), requires: Iterable[str] = ()):
    """Register the decorated function as experiment `name` (see the module docstring)."""
    params, figures, requires = tuple(params), tuple(figures), tuple(requires)
    names = [p.name for p in params]
    if len(set(names)) != len(names) or set(names) & set(measures):
        raise ValueError(f"experiment {name}: parameter and measurement names must be distinct")
    for fig in figures:
        if (fig.x not in names and fig.x not in measures) or not set(fig.y) <= set(measures) \
                or not set(fig.by or ()) <= set(names):
            raise ValueError(f"experiment {name}: figure {fig.name} plots unknown columns")
    for cap in requires:
        if cap not in CAPABILITIES:
            raise ValueError(f"experiment {name}: unknown capability {cap!r}")

    def register(func):
        old = _REGISTRY.get(name)
        if old is not None and old.module != func.__module__:
            raise ValueError(f"experiment {name!r} is already registered by {old.module}")
        _REGISTRY[name] = Experiment(name, func, params, dict(measures), figures, requires,
                                     func.__module__)
        return func
    return register


def _load_builtins() -> None:
    importlib.import_module("experiments.builtin")


def get(name: str) -> Experiment:
    _load_builtins()
    if name not in _REGISTRY:
        raise ExperimentError(f"unknown experiment {name!r}; known: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def all_experiments() -> list[Experiment]:
    _load_builtins()
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]
