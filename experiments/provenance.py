"""Which code produced a result: the installed pipsim version, and, when the experiments' source
is a git checkout, its commit and whether the tree held changes ("dirty"); "unknown" outside
a checkout (an installed wheel) or without git."""
from __future__ import annotations

import functools
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

UNKNOWN = "unknown"
SOURCE = Path(__file__).resolve().parent          # experiments/: the source folder


def package_version() -> str:
    try:
        return version("pipsim")
    except PackageNotFoundError:
        return UNKNOWN


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(SOURCE), *args], capture_output=True, text=True,
                          timeout=30)


@functools.cache
def source_state() -> dict[str, str]:
    """{"commit": the checkout's HEAD, "dirty": "true" if ``git status --porcelain`` lists
    anything (changed, staged or untracked files; ignored ones not), else "false"}; both
    "unknown" when this source is not in a git work tree (or lies in an ignored folder of one,
    as a virtual environment's copy does)."""
    unknown = {"commit": UNKNOWN, "dirty": UNKNOWN}
    try:
        head = _git("rev-parse", "HEAD")
        if head.returncode != 0 or _git("check-ignore", "-q", ".").returncode == 0:
            return unknown
        status = _git("status", "--porcelain")
    except (OSError, subprocess.TimeoutExpired):          # no git
        return unknown
    if status.returncode != 0:
        return unknown
    return {"commit": head.stdout.strip(), "dirty": "true" if status.stdout.strip() else "false"}
