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
#: each series of a panel its own marker and line style, not only its colour: series that
#: overlap stay apart in print and in grey
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")
LINESTYLES = ("-", "--", "-.", ":")
DODGE = 0.08            # a categorical x: series side by side, this far apart (of a category)


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
                figure = draw(exp, fig, rows)
                paths = [directory / f"{exp.name}-{fig.name}.{fmt}" for fmt in formats]
                for path in paths:
                    figure.savefig(path)
                written += paths
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


def draw(exp, fig, rows):
    """The matplotlib Figure of ``fig`` for the runs ``rows`` (CSV rows, status ok): a panel
    per measure, each axis labelled "name (unit)" from the declaration, whole-number ticks
    on an axis of whole numbers, each series its own marker and line style."""
    from matplotlib.figure import Figure as MplFigure
    from matplotlib.ticker import MaxNLocator

    series = _series(exp, fig, rows)
    xs_all = {x for by_x in series.values() for x in by_x}
    categories = None                   # a categorical x: one tick per value, in order
    if any(isinstance(x, str) for x in xs_all):
        categories = {x: i for i, x in enumerate(sorted(map(str, xs_all)))}
    x_label, x_whole = exp.axis(fig.x)
    cols = min(3, len(fig.y))
    nrows = math.ceil(len(fig.y) / cols)
    figure = MplFigure(figsize=(4.5 * cols, 3.4 * nrows), layout="constrained")
    figure.suptitle(fig.title or f"{exp.name}: {fig.name}")
    for i, measure in enumerate(fig.y):
        ax = figure.add_subplot(nrows, cols, i + 1)
        for n, (label, by_x) in enumerate(sorted(series.items())):
            xs, means, stds = [], [], []
            for x in sorted(by_x, key=(lambda x: categories[str(x)]) if categories else None):
                values = [float(r[measure]) for r in by_x[x] if r[measure] != ""]
                if values:
                    xs.append(x)
                    means.append(statistics.fmean(values))
                    stds.append(statistics.stdev(values) if len(values) > 1 else 0.0)
            if xs:
                shift = (n - (len(series) - 1) / 2) * DODGE
                at = [categories[str(x)] + shift for x in xs] if categories else xs
                ax.errorbar(at, means, yerr=stds, capsize=3, label=label or None,
                            marker=MARKERS[n % len(MARKERS)], fillstyle="full" if n % 2 == 0
                            else "none", linestyle="none" if categories
                            else LINESTYLES[n % len(LINESTYLES)])
        if categories:
            ax.set_xticks(list(categories.values()), list(categories))
            ax.set_xlim(-0.5, len(categories) - 0.5)
        ax.set_xlabel(x_label)
        y_label, y_whole = exp.axis(measure)
        ax.set_ylabel(y_label)
        if fig.logx and not categories:
            ax.set_xscale("log", base=2)
        elif x_whole and not categories:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if y_whole:
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        if any(label for label in series) and ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
    return figure
