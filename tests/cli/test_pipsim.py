"""The `pipsim` command line, in-process (and in a fresh interpreter for what it imports)."""
import subprocess
import sys

from pipsim.kernel.cli import main


def test_demo_shows_the_tree_and_the_properties(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "├─ sensor" in out and "└─ driver" in out
    assert "False (DERIVED)" in out
    assert "VIOLATED" not in out and "ok       kernelDataIsolation" in out


def test_token_commands_are_plugged_in(capsys):
    try:
        main(["token", "--help"])
    except SystemExit as exit_:
        assert exit_.code == 0
    assert "keygen" in capsys.readouterr().out


def test_run_without_an_image_runs_the_default_device_image(capsys):
    assert main(["run"]) == 0
    out = capsys.readouterr().out
    assert "refused (replayed)" in out and "kernel invariants after the session: all hold" in out



def test_only_plotting_imports_matplotlib():
    """Every command pays for what `pipsim` imports to build its parser (the experiment
    command included): not matplotlib."""
    code = ("import sys, pipsim.kernel.cli; help = pipsim.kernel.cli.build_parser().format_help(); "
            "print('experiment' in help, any(m.startswith('matplotlib') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]
