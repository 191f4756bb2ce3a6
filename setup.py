"""setuptools glue for what pyproject.toml cannot say: cffi's build script, and the import
namespace (``pipsim.<name>`` served from the top-level source folders; the table below is its
one owner)."""
from pathlib import Path

from setuptools import setup

NAMESPACE = {"pipsim": "pipsim", "pipsim.kernel": "pipkernel", "pipsim.partitions": "partitions",
             "pipsim.ipc": "ipc", "pipsim.tokens": "tokens", "pipsim.domains": "domains",
             "pipsim.trust": "trust", "pipsim.management": "management",
             "pipsim.experiments": "experiments"}


def packages():
    """Every package under the namespace: each folder with an ``__init__.py``."""
    found = []
    for name, folder in NAMESPACE.items():
        for init in sorted(Path(folder).rglob("__init__.py")):
            rel = init.parent.relative_to(folder).parts
            found.append(".".join((name, *rel)))
    return found


setup(package_dir=NAMESPACE, packages=packages(),
      cffi_modules=["pipkernel/_build.py:ffibuilder"])
