"""The standard figures of the experiments whose CSVs a results directory holds (matplotlib is
imported when a figure is drawn: every other ``pipsim`` command starts without it)."""
from __future__ import annotations

import math
import statistics
from collections import defaultdict
from pathlib import Path

from . import registry
from .errors import ExperimentError
from .results import ResultsFile

FORMATS = ("png", "svg")


def plot_dir(directory, formats=FORMATS) -> tuple[list[Path], list[str]]:
    """Draw every figure of every experiment with a CSV in `directory`: the files written,
    and why figures were skipped (no successful run, or an x with a single value)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ExperimentError(f"no results directory {str(directory)!r}")
    for fmt in formats:
        if fmt not in FORMATS:
            raise ExperimentError(f"unknown figure format {fmt!r}; formats: {', '.join(FORMATS)}")
    csvs = sorted(directory.glob("*.csv"))
    if not csvs:
        raise ExperimentError(f"{str(directory)!r} holds no experiment CSV")
    written, skipped = [], []
    for csv_path in csvs:
        exp = registry.get(csv_path.stem)
        rows = [r for r in ResultsFile(directory, exp).read() if r["status"] == "ok"]
        for fig in exp.figures:
            xs = {r[fig.x] for r in rows}
            if len(xs) < 2:
                skipped.append(f"{exp.name}-{fig.name}: {len(xs)} value(s) of {fig.x} in "
                               f"the successful runs, a figure needs 2")
            else:
                written += _draw(exp, fig, rows, directory, formats)
    return written, skipped


def _series(exp, fig, rows) -> dict:
    """{series label: {x: [row, ...]}}, the series named by the parameters that split them."""
    names = [p.name for p in exp.params]
    by = fig.by if fig.by is not None else [
        n for n in names if n != fig.x and len({r[n] for r in rows}) > 1]
    series: dict = defaultdict(lambda: defaultdict(list))
    for row in rows:
        label = ", ".join(f"{n}={row[n]}" for n in by)
        series[label][_number(row[fig.x])].append(row)
    return series


def _number(text: str):
    """A numeric x as a float; a categorical one (arch, order...) stays a string."""
    try:
        return float(text)
    except ValueError:
        return text


def _draw(exp, fig, rows, directory: Path, formats) -> list[Path]:
    from matplotlib.figure import Figure as MplFigure

    series = _series(exp, fig, rows)
    xs_all = {x for by_x in series.values() for x in by_x}
    categories = None                   # a categorical x: one tick per value, in order
    if any(isinstance(x, str) for x in xs_all):
        categories = {x: i for i, x in enumerate(sorted(map(str, xs_all)))}
    cols = min(3, len(fig.y))
    nrows = math.ceil(len(fig.y) / cols)
    figure = MplFigure(figsize=(4.5 * cols, 3.4 * nrows), layout="constrained")
    figure.suptitle(fig.title or f"{exp.name}: {fig.name}")
    for i, measure in enumerate(fig.y):
        ax = figure.add_subplot(nrows, cols, i + 1)
        for label, by_x in sorted(series.items()):
            xs, means, stds = [], [], []
            for x in sorted(by_x, key=(lambda x: categories[str(x)]) if categories else None):
                values = [float(r[measure]) for r in by_x[x] if r[measure] != ""]
                if values:
                    xs.append(x)
                    means.append(statistics.fmean(values))
                    stds.append(statistics.stdev(values) if len(values) > 1 else 0.0)
            if xs:
                at = [categories[str(x)] for x in xs] if categories else xs
                ax.errorbar(at, means, yerr=stds, marker="o", capsize=3, label=label or None,
                            linestyle="none" if categories else "-")
        if categories:
            ax.set_xticks(list(categories.values()), list(categories))
            ax.set_xlim(-0.5, len(categories) - 0.5)
        ax.set_xlabel(fig.x)
        ax.set_ylabel(measure)
        if fig.logx and not categories:
            ax.set_xscale("log", base=2)
        if any(label for label in series) and ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
    paths = [directory / f"{exp.name}-{fig.name}.{fmt}" for fmt in formats]
    for path in paths:
        figure.savefig(path)
    return paths
