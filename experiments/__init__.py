"""Research experiments on Pip partition trees: experiments as code, a reproducible sweep
runner (CSV + JSON summary, resume, local processes or Dask), standard plots, and random tree
generators.  docs/experiments.md describes every built-in experiment."""
from .errors import ExperimentError
from .measures import Measure, count, flag
from .params import Param
from .registry import Experiment, Figure, all_experiments, experiment, get, load
from .runner import SweepReport, run_sweep

__all__ = ["ExperimentError", "Param", "Measure", "count", "flag", "Experiment", "Figure",
           "experiment", "get", "load", "all_experiments", "run_sweep", "SweepReport"]
