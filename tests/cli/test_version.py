"""pipsim --version: the installed distribution's version, from the git tags (setuptools-scm);
pipsim --help: the distribution's summary, whole."""
import subprocess
import sys
from importlib.metadata import metadata, version

import pytest
from packaging.version import Version

from pipsim.kernel.cli import main


def test_version_prints_the_distribution_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out == f"pipsim {version('pipsim')}\n"


def test_the_version_is_a_pep440_version():
    assert str(Version(version("pipsim"))) == version("pipsim")


def test_python_m_pipsim_version():
    done = subprocess.run([sys.executable, "-m", "pipsim", "--version"], capture_output=True,
                          text=True, timeout=60, check=True)
    assert done.stdout.split() == ["pipsim", version("pipsim")]


def test_help_describes_pipsim_in_whole_sentences(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    usage, description, *_ = capsys.readouterr().out.split("\n\n")
    assert " ".join(description.split()) == metadata("pipsim")["Summary"]
