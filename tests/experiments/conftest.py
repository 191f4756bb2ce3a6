"""Shared fixtures of the experiment tests: the toy experiments, the pipsim command."""
import pytest

from pipsim.kernel import cli
from pipsim.experiments import registry
from pipsim.experiments.cli import register

registry.load("toy_experiments")


class _EntryPoint:
    def load(self):
        return register


@pytest.fixture
def pipsim(monkeypatch, capsys):
    """Run `pipsim ARGS...` in-process with the experiment command plugged in:
    returns (exit code, stdout, stderr)."""
    monkeypatch.setattr(cli, "entry_points", lambda group: [_EntryPoint()])

    def run(*argv):
        try:
            code = cli.main([str(a) for a in argv])
        except SystemExit as exit_:
            code = exit_.code
        out = capsys.readouterr()
        return code, out.out, out.err
    return run


REAL_MACHINE = registry.CAPABILITIES["machine"]


@pytest.fixture(autouse=True)
def no_machine(monkeypatch):
    """The machine may be installed or not: the tests pretend it is not (see `machine`)."""
    monkeypatch.setitem(registry.CAPABILITIES, "machine",
                        registry.Capability("the Unicorn machine",
                                            ("pipsim_tests_no_such_module",)))


@pytest.fixture
def machine(monkeypatch, no_machine):
    """The real machine capability, for the tests that run firmware (`make setup` builds
    it: a missing machine is a failed setup, so these tests fail too)."""
    problem = REAL_MACHINE.problem()
    if problem:
        pytest.fail(f"no machine: {problem}")
    monkeypatch.setitem(registry.CAPABILITIES, "machine", REAL_MACHINE)


@pytest.fixture
def require(request):
    """require(exp): the real capabilities exp requires (the machine through `machine`);
    the project ships all of them, so a missing one fails the test."""
    def check(exp):
        for name in exp.requires:
            if name == "machine":
                request.getfixturevalue("machine")
            elif registry.CAPABILITIES[name].problem():
                pytest.fail(f"no {name}: {registry.CAPABILITIES[name].problem()}")
    return check
