"""How experiments become known: declared by @experiment (misuse refused where it is written),
found through the "pipsim.experiments" entry points or loaded explicitly, never by an import's
side effect."""
import importlib

import pytest

from pipsim.experiments import Experiment, ExperimentError, Param, experiment, registry

DECLARE = dict(params=[Param("n", 1, "n")], measures={"sq": "n * n"})


def square(p, rng):
    """n squared."""
    return {"sq": p["n"] ** 2}


def one_argument(p):
    return {}


@pytest.mark.parametrize("misuse, message", [
    (lambda: experiment(square), "takes the name first"),
    (lambda: experiment("two words", **DECLARE)(square), "is not an identifier"),
    (lambda: experiment("x", params=[], measures={})(square), "must declare its measurements"),
    (lambda: experiment("x", params=[Param("sq", 1, "")], measures={"sq": ""})(square),
     "must be distinct"),
    (lambda: experiment("x", **DECLARE, requires=["ipc"])(square), "unknown capability 'ipc'"),
    (lambda: experiment("x", **DECLARE)(lambda p, rng: {}), "module-level function"),
    (lambda: experiment("x", **DECLARE)(Param), "module-level function"),
    (lambda: experiment("x", **DECLARE)(one_argument), r"must take \(p, rng\)"),
])
def test_a_misdeclared_experiment_is_refused_where_it_is_written(misuse, message):
    with pytest.raises(ExperimentError, match=message):
        misuse()


def test_a_nested_function_is_refused():
    def inner(p, rng):
        return {}
    with pytest.raises(ExperimentError, match="module-level function"):
        experiment("x", **DECLARE)(inner)


def _module(tmp_path, monkeypatch, name, body):
    (tmp_path / f"{name}.py").write_text("from pipsim.experiments import Param, experiment\n" + body)
    monkeypatch.syspath_prepend(tmp_path)
    return name


STUDY = ("@experiment('study_sq', params=[Param('n', 1, 'n')], measures={'sq': 'n*n'})\n"
         "def study_sq(p, rng):\n"
         "    return {'sq': p['n'] ** 2}\n")


def test_importing_registers_nothing_loading_does(tmp_path, monkeypatch):
    name = _module(tmp_path, monkeypatch, "reg_study", STUDY)
    module = importlib.import_module(name)
    assert isinstance(module.study_sq, Experiment) and module.study_sq.ref == "reg_study:study_sq"
    with pytest.raises(ExperimentError, match="unknown experiment 'study_sq'"):
        registry.get("study_sq")
    assert registry.load(name) == [module.study_sq]
    assert registry.get("study_sq") is module.study_sq
    assert registry.load(name) == [module.study_sq]            # loading again changes nothing


def test_load_refuses_a_module_without_experiments_and_a_name_taken(tmp_path, monkeypatch):
    empty = _module(tmp_path, monkeypatch, "reg_empty", "x = 1\n")
    with pytest.raises(ExperimentError, match="'reg_empty' defines no @experiment"):
        registry.load(empty)
    other = _module(tmp_path, monkeypatch, "reg_clash",
                    STUDY.replace("study_sq", "deletion"))
    with pytest.raises(ExperimentError, match="'deletion' of reg_clash is already "
                                              "pipsim.experiments.builtin.deletion:deletion"):
        registry.load(other)


class _EntryPoint:
    def __init__(self, name, value, obj):
        self.name, self.value, self.obj = name, value, obj

    def load(self):
        return self.obj


@pytest.mark.parametrize("entry, message", [
    (_EntryPoint("squares", "tests:square", experiment("square", **DECLARE)(square)),
     "must name the @experiment 'squares'"),
    (_EntryPoint("square", "tests:square", square), "must name the @experiment 'square'"),
])
def test_a_wrong_entry_point_is_refused(monkeypatch, entry, message):
    monkeypatch.setattr(registry, "_known", {})
    monkeypatch.setattr(registry, "_discovered", False)
    monkeypatch.setattr(registry, "entry_points", lambda group: [entry])
    with pytest.raises(ExperimentError, match=message):
        registry.all_experiments()


def test_builtins_come_from_the_entry_points(monkeypatch):
    monkeypatch.setattr(registry, "_known", {})
    monkeypatch.setattr(registry, "_discovered", False)
    monkeypatch.setattr(registry, "entry_points", lambda group: [])
    assert registry.all_experiments() == []
    monkeypatch.undo()
    assert {e.ref for e in registry.all_experiments()} >= {
        "pipsim.experiments.builtin.deletion:deletion", "pipsim.experiments.builtin.ipc_latency:ipc_latency"}


def test_a_worker_resolves_the_experiment_it_was_given():
    assert registry.resolve("toy_experiments:toy", "toy") is registry.get("toy")
    with pytest.raises(ExperimentError, match="toy_experiments:toy is not the experiment 'x'"):
        registry.resolve("toy_experiments:toy", "x")
