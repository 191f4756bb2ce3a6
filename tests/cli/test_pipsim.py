"""The `pipsim` command line, in-process."""
from pipkernel.cli import main


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
