"""Experiments as code: a function of (parameters, random generator) returning measurements,
registered under a name with its parameters, measurements and standard figures.

    @experiment("depth_cost", params=[Param("depth", 3, "tree depth", low=1)],
                measures={"kernel_pages": "pages the kernel uses"},
                figures=[Figure("pages", x="depth", y=("kernel_pages",))])
    def depth_cost(p, rng):
        \"\"\"What it measures, how, and the limits of measuring it in a simulator.\"\"\"
        return {"kernel_pages": ...}

An experiment that needs a part of the project that does not exist yet names it in
``requires`` (see CAPABILITIES); it is listed, and refused at run time with a clear message.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
from dataclasses import dataclass, field
from typing import Callable, Iterable

from .errors import ExperimentError
from .params import Param

#: parts of the project an experiment may require: name -> (module that provides it, what it is)
CAPABILITIES: dict[str, tuple[str, str]] = {
    "machine": ("pipkernel.machine", "the Unicorn machine (partition switches, real faults)"),
    "ipc": ("ipc", "the ODSI IPC runtime (mailboxes, parent relay)"),
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
        return [c for c in self.requires if not _installed(CAPABILITIES[c][0])]

    def check_runnable(self) -> None:
        for name in self.missing():
            module, what = CAPABILITIES[name]
            raise ExperimentError(f"experiment {self.name!r} needs {what} ({module}), which "
                                  f"this installation does not have yet")


_REGISTRY: dict[str, Experiment] = {}


def _installed(module: str) -> bool:
    """A real module (not just a folder: a namespace package has no origin) is importable."""
    try:
        spec = importlib.util.find_spec(module)
    except ImportError:
        return False
    return spec is not None and spec.origin is not None


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
