"""setuptools glue for what pyproject.toml cannot say: cffi's build script, and the import
namespace (``pipsim.<name>`` served from the top-level source folders; the table below is its
one owner)."""
import warnings
from pathlib import Path

from setuptools import setup
from setuptools.warnings import InformationOnly

# An editable install through package_dir always adds "be careful with folders in your working
# directory named like your package": a note, not a deprecation, about running Python from the
# source tree (where pipsim/ is the package itself); make setup and pip install -e skip it.
warnings.filterwarnings("ignore", "Editable installation", InformationOnly)

NAMESPACE = {"pipsim": "pipsim", "pipsim.kernel": "pipkernel", "pipsim.partitions": "partitions",
             "pipsim.ipc": "ipc", "pipsim.tokens": "tokens", "pipsim.domains": "domains",
             "pipsim.trust": "trust", "pipsim.management": "management",
             "pipsim.experiments": "experiments"}
# folders of package data only (no __init__.py): packages too, as setuptools wants them named
DATA_PACKAGES = ["pipsim.kernel.c"]


def packages():
    """Every package under the namespace: each folder with an ``__init__.py``, then
    DATA_PACKAGES."""
    found = []
    for name, folder in NAMESPACE.items():
        for init in sorted(Path(folder).rglob("__init__.py")):
            rel = init.parent.relative_to(folder).parts
            found.append(".".join((name, *rel)))
    return found + DATA_PACKAGES


setup(package_dir=NAMESPACE, packages=packages(),
      cffi_modules=["pipkernel/_build.py:ffibuilder"])
