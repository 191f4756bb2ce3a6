"""Exit statuses (pipsim.kernel.exits, docs/cli.md "Exit statuses"): one table, each outcome
its own status, a guest's exit code apart from pipsim's; one error prefix for every command;
nonsense option values refused by every command's parser."""
import pathlib
import re

import pytest

from pipsim.kernel import exits
from pipsim.kernel.cli import main
from pipsim.kernel.errors import PipsimError
from failing import FailingCommand

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = ROOT / "firmware" / "build"
RUN_OUTCOMES = {"GUEST_OTHER": exits.GUEST_OTHER, "FAULT": exits.FAULT,
                "OTHER_STOP": exits.OTHER_STOP, "BUDGET": exits.BUDGET, "PANIC": exits.PANIC,
                "INTERRUPTED": exits.INTERRUPTED, "KILLED": exits.KILLED,
                "BROKEN_PIPE": exits.BROKEN_PIPE, "TERMINATED": exits.TERMINATED}


def test_pipsims_own_statuses_are_distinct_and_outside_the_guests_range():
    statuses = [exits.OK, exits.NO, exits.USAGE, exits.BUG, *RUN_OUTCOMES.values()]
    assert len(set(statuses)) == len(statuses)
    assert all(s >= exits.GUEST_LIMIT for s in [exits.BUG, *RUN_OUTCOMES.values()])
    assert (exits.INTERRUPTED, exits.BROKEN_PIPE, exits.TERMINATED) == (130, 141, 143)


@pytest.mark.parametrize("stop, code, status", [
    ("halt", 0, 0), ("halt", 3, 3), ("exit", 119, 119), ("halt", 120, exits.GUEST_OTHER),
    ("halt", -1, exits.GUEST_OTHER), ("halt", 0x103, 3), ("exit", None, 0),
    ("panic", 3, exits.PANIC), ("budget", 0, exits.BUDGET), ("fault", None, exits.FAULT),
    ("error", 0, exits.OTHER_STOP), ("host", 0, exits.OTHER_STOP), ("yield", None,
                                                                    exits.OTHER_STOP)])
def test_each_way_a_run_ends_has_its_status(stop, code, status):
    assert exits.run_status(stop, code) == status


def test_the_documented_table_is_the_modules():
    """docs/cli.md's table lists every status with the value exits defines."""
    text = (ROOT / "docs" / "cli.md").read_text()
    rows = dict(re.findall(r"^\| (\d+) \| `(\w+)`", text, re.MULTILINE))
    assert {name: int(value) for value, name in rows.items()} == {
        "OK": exits.OK, "NO": exits.NO, "USAGE": exits.USAGE, "BUG": exits.BUG, **RUN_OUTCOMES}


@pytest.mark.parametrize("arch", ["arm", "x86"])
def test_pipsim_run_a_guests_code_a_budget_and_a_panic(arch, capsys, monkeypatch):
    assert main(["run", str(BUILD / arch / "exit.elf")]) == 42
    assert "stopped: halt (exit code 42)" in capsys.readouterr().out
    assert main(["run", str(BUILD / arch / "forever.elf"), "--max-instructions",
                 "20000"]) == exits.BUDGET
    assert "stopped: budget" in capsys.readouterr().out
    import pipsim.kernel.machine.cli as machine_cli
    from pipsim.kernel.machine import Machine

    class Faulting(Machine):
        """hello.elf, its entry overwritten by a store to an unmapped address."""

        def load(self, path):
            image = super().load(path)
            store = {"arm": "e3003124e3403300e5832010e1a00000", "x86": "bb2401000389431090"}
            self.write_root_image(image.entry & ~1, bytes.fromhex(store[arch]))
            self.start_at(image.entry & ~1)
            return image
    monkeypatch.setattr(machine_cli, "Machine", Faulting)
    assert main(["run", str(BUILD / arch / "hello.elf")]) == exits.PANIC
    assert "KERNEL PANIC" in capsys.readouterr().out


def test_the_program_gives_a_bug_its_own_status_and_its_traceback(monkeypatch, capsys):
    """main lets a bug through (tests/cli/test_errors.py); the program prints its traceback
    and exits 123 (exits.BUG), neither 1 (a command's "no") nor a guest's code."""
    import pipsim.kernel.cli as cli
    monkeypatch.setattr(cli, "entry_points", lambda group: [FailingCommand(KeyError("bug"))]
                        if group == "pipsim.commands" else [])
    with pytest.raises(SystemExit) as stopped:
        cli.console(["fail"])
    assert stopped.value.code == exits.BUG
    err = capsys.readouterr().err
    assert err.startswith("Traceback") and err.endswith("KeyError: 'bug'\n")
    monkeypatch.setattr(cli, "entry_points", lambda group: [FailingCommand(PipsimError("no"))]
                        if group == "pipsim.commands" else [])
    with pytest.raises(SystemExit) as stopped:
        cli.console(["fail"])
    assert stopped.value.code == exits.USAGE and capsys.readouterr().err == "pipsim: error: no\n"


def test_a_usage_error_has_the_one_prefix(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["run", "--pages", "many"])
    assert stopped.value.code == exits.USAGE
    err = capsys.readouterr().err
    assert err.startswith("usage: pipsim run ")
    assert err.splitlines()[-1] == "pipsim: error: argument --pages: 'many' is not a whole number"


def test_a_manifest_refused_is_reported_with_the_prefix(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[partition.x]\nkind = 'nonsense'\n")
    assert main(["validate", str(bad)]) == exits.USAGE
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"pipsim: error: {bad}: ") and err[1].startswith("  ")


@pytest.mark.parametrize("argv, flag", [
    (["fleet", "--devices", "-1"], "--devices"),
    (["fleet", "--devices", "2", "--workers", "0"], "--workers"),
    (["fleet", "--devices", "2", "--base-port", "70000"], "--base-port"),
    (["fleet", "--devices", "2", "--ready-timeout", "nan"], "--ready-timeout"),
    (["fleet", "--devices", "2", "--lifetime", "0"], "--lifetime"),
    (["admin-server", "--timeout", "0"], "--timeout"),
    (["admin-server", "--max-registrations", "0"], "--max-registrations"),
    (["serve", "--lifetime", "-3"], "--lifetime"),
    (["experiment", "run", "x", "--repeat", "0"], "--repeat"),
    (["experiment", "run", "x", "--jobs", "0"], "--jobs"),
    (["image", "verify", "x.elf", "--policy", "p", "--arch", "arm", "--minimum-version", "-1"],
     "--minimum-version"),
    (["admin", "command", "--keystore", "k", "--generator", "g", "--domain", "d", "--device",
      "e", "--code", "read", "--path", "3/0/0", "--parallel", "65"], "--parallel"),
])
def test_nonsense_values_are_refused_by_every_command(argv, flag, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == exits.USAGE
    assert f"pipsim: error: argument {flag}: " in capsys.readouterr().err


def test_every_commands_one_line_help_is_whole(capsys):
    """`pipsim --help`: the description and each command's help end a sentence or a clause,
    never cut mid-word or after a dangling preposition."""
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    description = out.split("\n\n")[1]
    assert description.rstrip().endswith(".")
    helps = re.findall(r"^    (\S+)\s{2,}(.+(?:\n {20,}.+)*)", out, re.MULTILINE)
    assert len(helps) > 15
    for name, text in helps:
        text = " ".join(text.split())
        assert not re.search(r"\b(the|a|an|of|to|and|or|through|with|in)$", text), (name, text)
