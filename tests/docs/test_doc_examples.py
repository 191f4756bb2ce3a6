"""The Python examples of the README and the guides run (issue 17 point 5).

Every fenced ``python`` block of DOCUMENTS runs in a fresh interpreter from the repository's
root (the paths they name are relative to it); a block right after a ``<!-- sketch -->`` line
is an API listing that names what it does not define, and is only compiled."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = ["README.md", "tokens/README.md", *sorted(p.relative_to(ROOT).as_posix()
                                                     for p in (ROOT / "docs").glob("*.md"))]
SKETCH = "<!-- sketch -->"


def python_blocks(text: str):
    """(first line number, code, is a sketch) of each fenced python block."""
    lines = text.splitlines()
    start = None
    for number, line in enumerate(lines, 1):
        if start is None and line.strip() == "```python":
            start = number
        elif start is not None and line.strip() == "```":
            before = [l for l in lines[:start - 1] if l.strip()]
            yield start, "\n".join(lines[start:number - 1]), bool(before) and \
                before[-1].strip() == SKETCH
            start = None
    assert start is None, f"a python block opened on line {start} is not closed"


BLOCKS = [pytest.param(code, sketch, id=f"{doc}:{line}")
          for doc in DOCUMENTS
          for line, code, sketch in python_blocks((ROOT / doc).read_text())]


def test_the_readme_has_examples_that_run():
    assert sum(1 for b in BLOCKS if b.id.startswith("README.md:") and not b.values[1]) >= 2


@pytest.mark.parametrize("code, sketch", BLOCKS)
def test_example_runs(code, sketch):
    if sketch:
        compile(code, "<sketch>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        return
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
