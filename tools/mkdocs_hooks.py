"""MkDocs hook (mkdocs.yml ``hooks``): the ``pipsim`` import namespace as a source tree for
mkdocstrings.  The packages live in the repository's top-level folders (setup.py's NAMESPACE,
read here, is the one table of them); griffe reads sources from a folder tree, so the hook
links each folder under its import name in SOURCE_TREE, the Python handler's ``paths``."""
from __future__ import annotations

import ast
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE_TREE = ROOT / "build" / "docs-src"      # mkdocs.yml: handlers.python.paths


def namespace() -> dict[str, str]:
    """setup.py's NAMESPACE: import name -> source folder."""
    for node in ast.parse((ROOT / "setup.py").read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "NAMESPACE"
                                                for t in node.targets):
            return ast.literal_eval(node.value)
    raise LookupError("setup.py defines no NAMESPACE")


def link_sources(into: Path) -> None:
    """Each package of the namespace linked under its import name inside ``into`` (made anew);
    the root package's own files are linked one by one, its subpackages as folders."""
    shutil.rmtree(into, ignore_errors=True)
    for name, folder in namespace().items():
        target = into.joinpath(*name.split("."))
        if name == "pipsim":
            target.mkdir(parents=True)
            for entry in (ROOT / folder).glob("*.py"):
                (target / entry.name).symlink_to(entry)
        else:
            target.symlink_to(ROOT / folder, target_is_directory=True)


def on_startup(command, dirty):
    """Before any plugin reads its configuration: mkdocstrings keeps only paths that exist."""
    link_sources(SOURCE_TREE)
