"""The `pipsim` command line, in-process."""
from pipkernel.cli import main


def test_run_shows_the_tree_and_the_properties(capsys):
    assert main(["run"]) == 0
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
