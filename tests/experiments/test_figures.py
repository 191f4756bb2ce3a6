"""Figures and results fit for a paper: axes labelled "name (unit)" from the declared
measurements and parameters, whole-number ticks on whole-number axes, overlapping series
told apart by marker and line style, each CSV row naming the commit and whether the tree was
dirty."""
import csv
import subprocess

import pytest

from pipsim.experiments import provenance, registry, run_sweep
from pipsim.experiments.plots import draw, plot_dir
from pipsim.experiments.results import ResultsFile


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("units")
    run_sweep("toy_units", ["n=1..3", "variant=a,b,c"], out=out, progress=False)
    exp = registry.get("toy_units")
    return exp, out, ResultsFile(out, exp).read()


@pytest.fixture(scope="module")
def axes(sweep):
    exp, _, rows = sweep
    figure = draw(exp, exp.figures[0], rows)
    figure.draw_without_rendering()               # limits and ticks as they are drawn
    return figure.axes


def test_axes_are_labelled_with_the_declared_units(axes):
    assert [ax.get_xlabel() for ax in axes] == ["n (items)"] * 3
    assert [ax.get_ylabel() for ax in axes] == ["pages (pages)", "ratio", "time (ns)"]


def whole_ticks(axis) -> bool:
    low, high = sorted(axis.get_view_interval())
    ticks = [t for t in axis.get_majorticklocs() if low <= t <= high]
    return len(ticks) >= 2 and all(float(t).is_integer() for t in ticks)


def test_whole_number_axes_get_whole_number_ticks(axes):
    pages, ratio, _ = axes
    assert whole_ticks(pages.xaxis) and whole_ticks(pages.yaxis)
    assert not whole_ticks(ratio.yaxis)          # 1/3, 2/3, 1: a ratio keeps its fractions


def test_overlapping_series_differ_in_marker_and_line_style(axes):
    containers = axes[0].containers
    assert [c.get_label() for c in containers] == ["variant=a", "variant=b", "variant=c"]
    lines = [container.lines[0] for container in containers]
    assert [list(line.get_ydata()) for line in lines] == [[1, 2, 3]] * 3   # on top of each other
    assert len({line.get_marker() for line in lines}) == 3
    assert len({line.get_linestyle() for line in lines}) == 3


def test_the_saved_figure_carries_the_labels(sweep):
    _, out, _ = sweep
    written, _ = plot_dir(out, formats=("svg",))
    svg = (out / "toy_units-pages.svg").read_text()
    assert written == [out / "toy_units-pages.svg"]
    assert "n (items)" in svg and "pages (pages)" in svg and "time (ns)" in svg


def test_every_row_records_the_commit_and_whether_the_tree_was_dirty(sweep):
    _, out, rows = sweep
    head = subprocess.run(["git", "-C", str(provenance.SOURCE), "rev-parse", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()
    with (out / "toy_units.csv").open(newline="") as handle:
        header = next(csv.reader(handle))
    assert {"commit", "dirty", "version"} <= set(header)
    assert len(rows) == 9 and {row["commit"] for row in rows} == {head}
    assert {row["dirty"] for row in rows} <= {"true", "false"}


def test_outside_a_checkout_the_commit_is_unknown(monkeypatch, tmp_path):
    monkeypatch.setattr(provenance, "SOURCE", tmp_path)
    provenance.source_state.cache_clear()
    try:
        assert provenance.source_state() == {"commit": "unknown", "dirty": "unknown"}
    finally:
        provenance.source_state.cache_clear()


def test_a_change_in_the_tree_is_dirty(monkeypatch, tmp_path):
    """A checkout of its own: clean after the commit, dirty once a tracked file changes."""
    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)
    git("init", "-q")
    (tmp_path / "f").write_text("1")
    git("add", "f")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "f")
    monkeypatch.setattr(provenance, "SOURCE", tmp_path)
    states = []
    for change in (None, "2"):
        if change:
            (tmp_path / "f").write_text(change)
        provenance.source_state.cache_clear()
        states.append(provenance.source_state()["dirty"])
    provenance.source_state.cache_clear()
    assert states == ["false", "true"]
