"""`pipsim experiment` from the command line: listing, errors, loading experiments."""
import pytest


def test_list_and_details(pipsim):
    code, out, _ = pipsim("experiment", "list")
    assert code == 0
    for name in ("memory_overhead", "syscall_cost", "fault_containment", "deletion"):
        assert name in out
    assert "toy_machine" in out and "[needs machine: not available yet]" in out
    code, out, _ = pipsim("experiment", "list", "deletion")
    assert code == 0 and "Limits:" in out and "order = top_down (top_down, bottom_up)" in out


@pytest.mark.parametrize("argv, message", [
    (["run", "nope"], "unknown experiment 'nope'"),
    (["run", "toy", "-p", "depth=3"], "unknown parameter 'depth' for experiment 'toy'"),
    (["run", "toy", "-p", "x=4..2"], "parameter x: empty range '4..2' (4 > 2)"),
    (["run", "toy", "-p", "x=a"], "parameter x: 'a' is not an integer"),
    (["run", "toy", "--load", "no_such_module"], "cannot load experiments from 'no_such_module'"),
    (["plot", "{tmp}/missing"], "no results directory"),
    (["plot", "{tmp}"], "holds no experiment CSV"),
    (["plot", "{tmp}", "--format", "gif"], "unknown figure format 'gif'"),
    (["run", "toy", "--out", "{tmp}/file/out"], "cannot write results to"),
])
def test_bad_input_is_a_clear_error(pipsim, tmp_path, argv, message):
    (tmp_path / "file").write_text("")
    code, _, err = pipsim("experiment", *[a.format(tmp=tmp_path) for a in argv])
    assert code == 2 and err.startswith("pipsim: error: ") and message in err


def test_failed_runs_make_the_exit_status_1(pipsim, tmp_path):
    code, out, _ = pipsim("experiment", "run", "toy", "-p", "x=1..3", "-p", "fail_at=3",
                          "--out", tmp_path, "--no-progress")
    assert code == 1 and "3 runs planned, 0 already done, 2 ok, 1 failed" in out
    code, out, _ = pipsim("experiment", "run", "toy", "-p", "x=1..3", "-p", "fail_at=3",
                          "--out", tmp_path, "--no-progress")
    assert code == 1 and "3 runs planned, 2 already done, 0 ok, 1 failed" in out


def test_experiments_of_other_modules_load_and_run_in_workers(pipsim, tmp_path, monkeypatch):
    (tmp_path / "mystudy.py").write_text(
        "from pipsim.experiments import Param, experiment\n"
        "@experiment('mystudy', params=[Param('n', 1, 'n')], measures={'sq': 'n*n'})\n"
        "def mystudy(p, rng):\n"
        "    '''n squared.'''\n"
        "    return {'sq': p['n'] ** 2}\n")
    monkeypatch.syspath_prepend(tmp_path)
    code, out, _ = pipsim("experiment", "run", "mystudy", "--load", "mystudy", "-p", "n=1..4",
                          "--jobs", "2", "--out", tmp_path / "out", "--no-progress")
    assert code == 0 and "4 ok" in out
    assert "sq" in (tmp_path / "out" / "mystudy.csv").read_text()
