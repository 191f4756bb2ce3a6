#!/usr/bin/env python3
"""make typecheck: mypy on the public API, the modules pyproject.toml's [tool.mypy] names.

mypy cannot map package directories, so the import namespace (setup.py's NAMESPACE, its one
owner) is laid out as links in build/typecheck/pipsim/ and mypy runs there."""
import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / "build" / "typecheck"


def namespace() -> dict[str, str]:
    """setup.py's NAMESPACE: {package: source folder}, read without running setup.py."""
    for node in ast.parse((ROOT / "setup.py").read_text()).body:
        if isinstance(node, ast.Assign) and [t.id for t in node.targets
                                             if isinstance(t, ast.Name)] == ["NAMESPACE"]:
            return ast.literal_eval(node.value)
    raise SystemExit("typecheck: setup.py has no NAMESPACE table")


def lay_out() -> None:
    """build/typecheck/pipsim: the root package's files, each subpackage a link to its folder."""
    shutil.rmtree(TREE / "pipsim", ignore_errors=True)
    root = TREE / "pipsim"
    root.mkdir(parents=True)
    for name, folder in namespace().items():
        if name == "pipsim":
            for entry in (ROOT / folder).iterdir():
                if entry.name != "__pycache__":
                    (root / entry.name).symlink_to(entry)
        else:
            (root / name.removeprefix("pipsim.")).symlink_to(ROOT / folder,
                                                             target_is_directory=True)


def main() -> int:
    lay_out()
    return subprocess.call([sys.executable, "-m", "mypy", "--config-file",
                            str(ROOT / "pyproject.toml"), *sys.argv[1:]], cwd=TREE)


if __name__ == "__main__":
    sys.exit(main())
