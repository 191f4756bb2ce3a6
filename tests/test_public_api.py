"""The public API (pyproject.toml's [tool.mypy] modules): every public name has a docstring."""
import dataclasses
import importlib
import inspect
import tomllib
from pathlib import Path

import pytest

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
MODULES = tomllib.loads(PYPROJECT.read_text())["tool"]["mypy"]["modules"]


def public_names(module):
    """A module's __all__, else the public names it defines itself."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [name for name, value in vars(module).items() if not name.startswith("_")
            and getattr(value, "__module__", None) == module.__name__]


def undocumented(obj) -> bool:
    """No docstring of its own or inherited (a dataclass's or named tuple's generated
    signature, or an Enum's stock sentence, is none)."""
    doc = inspect.getdoc(obj)
    generated = inspect.isclass(obj) and (doc or "").startswith(f"{obj.__name__}(")
    return not doc or generated or doc == "An enumeration."


def members(cls):
    """A class's public functions and properties defined in its own body."""
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if inspect.isfunction(value) or isinstance(value, property):
            yield name, getattr(cls, name) if inspect.isfunction(value) else value


def missing(module_name: str) -> list[str]:
    """The public names of a module (methods of its classes included) without a docstring."""
    module = importlib.import_module(module_name)
    found = [module_name] if undocumented(module) else []
    for name in public_names(module):
        value = getattr(module, name)
        if inspect.ismodule(value) or not (inspect.isclass(value) or callable(value)):
            continue                                  # constants say what they are in comments
        if undocumented(value):
            found.append(f"{module_name}.{name}")
        if inspect.isclass(value):
            found += [f"{module_name}.{name}.{m}" for m, member in members(value)
                      if undocumented(member)]
    return found


def test_the_walk_finds_a_missing_docstring():
    @dataclasses.dataclass
    class Bare:
        field: int

        def method(self):
            pass

        @property
        def told(self):
            """Documented."""

    assert undocumented(Bare) and not undocumented(missing)
    assert [name for name, member in members(Bare) if undocumented(member)] == ["method"]


@pytest.mark.parametrize("module_name", MODULES)
def test_every_public_name_has_a_docstring(module_name):
    assert missing(module_name) == []
