"""Experiments as code: a function of (parameters, random generator) returning measurements,
declared with its name, parameters, measurements (each a Measure: meaning, unit, whether
whole; or its meaning alone) and standard figures.

    @experiment("depth_cost", params=[Param("depth", 3, "tree depth", low=1)],
                measures={"kernel_pages": count("pages the kernel uses", "pages")},
                figures=[Figure("pages", x="depth", y=("kernel_pages",))])
    def depth_cost(p, rng):
        \"\"\"What it measures, how, and the limits of measuring it in a simulator.\"\"\"
        return {"kernel_pages": ...}

``@experiment`` only declares: it checks the declaration at once (a misuse is refused where it
is written) and turns the function into an ``Experiment``; importing a module registers
nothing.  The experiments ``pipsim`` knows are those a distribution names under the
"pipsim.experiments" entry points (name = "module:function"; the built-in ones in
pyproject.toml), and those of the modules loaded with :func:`load` (``--load MODULE``).

An experiment that needs a part of the project that may be missing names it in ``requires``
(see CAPABILITIES); without it the experiment is listed as such, and refused at run time with
a clear message saying what is missing.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Callable, Iterable

from . import firmware
from .errors import ExperimentError
from .measures import Measure, axis_label
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
                          ("pipsim.kernel.machine",), firmware.required_images,
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
    """An experiment as ``@experiment`` declares it: its function ``f(p, rng)``, parameters,
    measurements (name: unit and meaning), figures and required capabilities."""

    name: str
    func: Callable[[dict, object], dict]
    params: tuple[Param, ...]
    measures: dict[str, Measure]
    figures: tuple[Figure, ...] = ()
    requires: tuple[str, ...] = ()

    def axis(self, column: str) -> tuple[str, bool]:
        """A figure's axis of ``column`` (a parameter or a measurement): its label, "name
        (unit)", and whether its values are whole numbers."""
        for param in self.params:
            if param.name == column:
                return axis_label(column, param.unit), param.kind is int
        measure = self.measures[column]
        return axis_label(column, measure.unit), measure.integer

    @property
    def module(self) -> str:
        """The module that defines the experiment."""
        return self.func.__module__

    @property
    def ref(self) -> str:
        """Where the experiment is, as an entry point names it: "module:function"."""
        return f"{self.module}:{self.func.__name__}"

    @property
    def doc(self) -> str:
        """The experiment function's docstring."""
        return inspect.getdoc(self.func) or ""

    @property
    def summary(self) -> str:
        """The first line of its docstring."""
        return self.doc.split("\n", 1)[0]

    def missing(self) -> list[str]:
        """The capabilities this experiment requires that are not installed."""
        return [c for c in self.requires if CAPABILITIES[c].problem()]

    def check_runnable(self) -> None:
        """ExperimentError naming the first required capability this installation lacks."""
        for name in self.requires:
            problem = CAPABILITIES[name].problem()
            if problem:
                raise ExperimentError(f"experiment {self.name!r} needs "
                                      f"{CAPABILITIES[name].what}, which this installation "
                                      f"does not have: {problem}")


#: the entry-point group of experiments: name = "module:function" (an Experiment)
ENTRY_POINTS = "pipsim.experiments"

_known: dict[str, Experiment] = {}      # what discovery and load() found, by name
_discovered = False


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


def experiment(name: str, *, params: Iterable[Param] = (),
               measures: dict[str, Measure | str] | None = None,
               figures: Iterable[Figure] = (),
               requires: Iterable[str] = ()) -> Callable[[Callable], Experiment]:
    """Declare the decorated function ``f(p, rng) -> {measure: value}`` as experiment `name`
    (see the module docstring); the decorator returns the ``Experiment``.  ExperimentError,
    at once, for a misuse: no name, a name that is not an identifier, clashing or unknown
    columns, an unknown capability, something else than a module-level function of two
    arguments."""
    if not isinstance(name, str):
        raise ExperimentError('@experiment takes the name first: @experiment("name", '
                              'params=[...], measures={...})')
    if not name.isidentifier():
        raise ExperimentError(f"experiment name {name!r} is not an identifier")
    params, figures, requires = tuple(params), tuple(figures), tuple(requires)
    names = [p.name for p in params]
    if not measures:
        raise ExperimentError(f"experiment {name}: it must declare its measurements")
    if len(set(names)) != len(names) or set(names) & set(measures):
        raise ExperimentError(f"experiment {name}: parameter and measurement names must be "
                              "distinct")
    for fig in figures:
        if (fig.x not in names and fig.x not in measures) or not set(fig.y) <= set(measures) \
                or not set(fig.by or ()) <= set(names):
            raise ExperimentError(f"experiment {name}: figure {fig.name} plots unknown columns")
    for cap in requires:
        if cap not in CAPABILITIES:
            raise ExperimentError(f"experiment {name}: unknown capability {cap!r}; "
                                  f"capabilities: {', '.join(CAPABILITIES)}")

    def declare(func: Callable) -> Experiment:
        if not inspect.isfunction(func) or "<locals>" in func.__qualname__:
            raise ExperimentError(f"experiment {name}: @experiment declares a module-level "
                                  f"function (worker processes import it), not {func!r}")
        try:
            inspect.signature(func).bind(None, None)
        except TypeError:
            raise ExperimentError(f"experiment {name}: {func.__name__} must take (p, rng)") \
                from None
        return Experiment(name, func, params,
                          {m: Measure.of(declared) for m, declared in measures.items()},
                          figures, requires)
    return declare


def _add(exp: Experiment, source: str) -> None:
    old = _known.get(exp.name)
    if old is not None and old.ref != exp.ref:
        raise ExperimentError(f"experiment {exp.name!r} of {source} is already {old.ref}")
    _known[exp.name] = exp


def _discover() -> None:
    """The experiments of the "pipsim.experiments" entry points, once per process."""
    global _discovered
    if _discovered:
        return
    for ep in entry_points(group=ENTRY_POINTS):
        exp = ep.load()
        if not isinstance(exp, Experiment) or exp.name != ep.name:
            raise ExperimentError(f'entry point {ep.name} = "{ep.value}" ({ENTRY_POINTS}) '
                                  f"must name the @experiment {ep.name!r}, not {exp!r}")
        _add(exp, f"entry point {ep.name}")
    _discovered = True


def load(module: str) -> list[Experiment]:
    """Import `module` and know its experiments (the ``Experiment`` objects it defines);
    ExperimentError if it cannot be imported, defines none, or one whose name is taken."""
    _discover()
    try:
        namespace = vars(importlib.import_module(module))
    except ImportError as error:
        raise ExperimentError(f"cannot load experiments from {module!r}: {error}") from None
    found = [v for v in namespace.values() if isinstance(v, Experiment) and v.module == module]
    if not found:
        raise ExperimentError(f"{module!r} defines no @experiment")
    for exp in found:
        _add(exp, module)
    return found


def resolve(ref: str, name: str) -> Experiment:
    """The experiment `name` at `ref` ("module:function"), imported now: how a worker
    process finds the experiment of a run whatever it has loaded."""
    module, _, attr = ref.partition(":")
    exp = getattr(importlib.import_module(module), attr, None)
    if not isinstance(exp, Experiment) or exp.name != name:
        raise ExperimentError(f"{ref} is not the experiment {name!r}")
    return exp


def get(name: str) -> Experiment:
    """The experiment called ``name`` (built in, from an entry point or loaded);
    ExperimentError naming the known ones otherwise."""
    _discover()
    if name not in _known:
        raise ExperimentError(f"unknown experiment {name!r}; known: {', '.join(sorted(_known))}")
    return _known[name]


def all_experiments() -> list[Experiment]:
    """Every known experiment, by name."""
    _discover()
    return [_known[name] for name in sorted(_known)]
