"""``pipsim experiment list | run | plot``: plugged into ``pipsim`` by the "pipsim.commands"
entry point ``experiment = "pipsim.experiments.cli:register"``."""
from __future__ import annotations

import argparse

from pipsim.kernel import exits
from pipsim.kernel.argtypes import count, count_in

from . import registry
from .engines import ENGINES
from .measures import axis_label
from .plots import FORMATS, plot_dir
from .runner import run_sweep


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "experiment", help="research experiments on partition trees: list, run sweeps, plot",
        description="Research experiments on Pip partition trees (docs/experiments.md).")
    sub = parser.add_subparsers(dest="experiment_command", required=True)
    load = argparse.ArgumentParser(add_help=False)
    load.add_argument("--load", action="append", default=[], metavar="MODULE",
                      help="also the experiments MODULE defines (its @experiment functions)")

    ls = sub.add_parser("list", parents=[load], help="the experiments, or one in detail")
    ls.add_argument("name", nargs="?", help="show this experiment's description in full")
    ls.set_defaults(func=_list)

    run = sub.add_parser("run", parents=[load], help="run a parameter sweep",
                         formatter_class=argparse.RawDescriptionHelpFormatter,
                         description="Run experiment NAME at every point of the parameter grid."
                         "\n\n--param NAME=V | NAME=A..B[:STEP] | NAME=A,B,C (repeatable)")
    run.add_argument("name")
    run.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUES",
                     help="a parameter's value(s): V, A..B[:STEP] (integers) or A,B,C")
    run.add_argument("--repeat", type=count_in(1), default=1, help="runs per point (default 1)")
    run.add_argument("--seed", type=count, default=0, help="base seed (default 0)")
    run.add_argument("--out", default="results", metavar="DIR",
                     help="results directory: DIR/NAME.csv and DIR/NAME.json (default results)")
    run.add_argument("--jobs", type=count_in(1), default=1,
                     help="parallel runs (processes / workers)")
    run.add_argument("--engine", choices=ENGINES, default="local",
                     help="local processes, or a Dask cluster (the dask extra)")
    run.add_argument("--scheduler", metavar="ADDRESS",
                     help="Dask scheduler address (default: a local cluster of --jobs workers)")
    run.add_argument("--no-progress", dest="progress", action="store_false",
                     help="no progress bar")
    run.set_defaults(func=_run)

    plot = sub.add_parser("plot", parents=[load], help="draw the standard figures of a "
                          "results directory")
    plot.add_argument("directory")
    plot.add_argument("--format", default=",".join(FORMATS),
                      help=f"comma-separated figure formats (default {','.join(FORMATS)})")
    plot.set_defaults(func=_plot)


def _load(modules) -> None:
    for name in modules:
        registry.load(name)


def _list(args) -> int:
    _load(args.load)
    if args.name:
        print(_details(registry.get(args.name)))
        return 0
    for exp in registry.all_experiments():
        missing = exp.missing()
        note = f"  [needs {', '.join(missing)}: not available yet]" if missing else ""
        print(f"{exp.name:20} {exp.summary}{note}")
        print(f"{'':20} " + " ".join(f"{p.name}={p.default}" for p in exp.params))
    return 0


def _details(exp) -> str:
    lines = [exp.name, "", exp.doc, "", "Parameters:"]
    for p in exp.params:
        allowed = (" (" + ", ".join(map(str, p.choices)) + ")" if p.choices else
                   f" ({p.low}..{'' if p.high is None else p.high})" if p.low is not None else "")
        lines.append(f"  {axis_label(p.name, p.unit)} = {p.default}{allowed}: {p.doc}")
    lines += ["", "Measurements:"] + [f"  {axis_label(m, measure.unit)}: {measure.doc}"
                                       for m, measure in exp.measures.items()]
    lines += ["", "Figures:"] + [f"  {f.name}: {', '.join(f.y)} against {f.x}"
                                 for f in exp.figures]
    if exp.requires:
        lines += ["", f"Requires: {', '.join(exp.requires)}"]
    return "\n".join(lines)


def _run(args) -> int:
    _load(args.load)
    try:
        report = run_sweep(args.name, args.param, repeat=args.repeat, seed=args.seed,
                           out=args.out, jobs=args.jobs, engine=args.engine,
                           scheduler=args.scheduler, progress=args.progress)
    except KeyboardInterrupt:
        print(f"\ninterrupted: the finished runs are in {args.out}; run the same command "
              f"again to resume")
        return exits.INTERRUPTED
    print(f"{args.name}: {report.planned} runs planned, {report.skipped} already done, "
          f"{report.ok} ok, {report.failed} failed")
    print(f"  {report.csv}\n  {report.summary}")
    return exits.NO if report.failed else exits.OK


def _plot(args) -> int:
    _load(args.load)
    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    written, skipped = plot_dir(args.directory, formats)
    for path in written:
        print(path)
    for note in skipped:
        print(f"skipped {note}")
    return 0
