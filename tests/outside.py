"""What the tests need from outside pipsim's own dependencies (``pipsim.kernel.needs`` knows
each: a system tool, an optional extra): a test marked ``@pytest.mark.needs("curl")``, or a
helper calling ``command("curl")`` or ``skip_unless(...)``, is skipped with the line saying
what is missing, what goes without it and how to get it."""
import shutil

import pytest

from pipsim.kernel.needs import missing


def skip_unless(*names: str) -> None:
    """Skip the running test unless all of ``names`` (keys of ``NEEDS``) are there."""
    lines = missing(*names)
    if lines:
        pytest.skip("; ".join(lines))


def command(name: str) -> str:
    """The path of the command ``name``; the test is skipped if it is missing."""
    skip_unless(name)
    return shutil.which(name)
