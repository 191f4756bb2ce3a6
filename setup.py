"""setuptools glue for what pyproject.toml cannot say: cffi's build script, the import
namespace (``pipsim.<name>`` served from the top-level source folders; the table below is its
one owner), and the firmware images a wheel ships (build_firmware)."""
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

from setuptools import Command, setup
from setuptools.command.build import build
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


class build_firmware(Command):
    """The firmware images (make -C firmware, in the tree's firmware/build: GCC if it is there,
    else zig, a build requirement) into the wheel's pipsim/firmware/build: {arm,x86}/*.elf and
    their .sig, the trust policy and its public keys.  Editable installs use the tree's."""
    user_options: list = []

    def initialize_options(self):
        self.build_lib = None

    def finalize_options(self):
        self.set_undefined_options("build", ("build_lib", "build_lib"))

    def run(self):
        if getattr(self.get_finalized_command("build_py"), "editable_mode", False):
            return                                                  # the tree's own build
        lib = Path(self.build_lib).resolve()
        # pipsim as just built, with the tree's SDK (not the copy in build_lib)
        # (pip's build isolation puts its own folders in PYTHONPATH: they stay)
        paths = [str(lib), *filter(None, [os.environ.get("PYTHONPATH")])]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths),
               "PIPSIM_SDK": str(Path("firmware").resolve())}
        subprocess.run(["make", "-s", "-C", "firmware", f"PY={sys.executable}"], check=True,
                       env=env)
        ship = lib / "pipsim" / "firmware" / "build"
        for pattern in ("arm/*.elf", "arm/*.elf.sig", "x86/*.elf", "x86/*.elf.sig",
                        "trust/policy.toml", "trust/*.pub.cose"):
            for file in Path("firmware/build").glob(pattern):
                (ship / file.parent.name).mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, ship / file.parent.name / file.name)


build.sub_commands.append(("build_firmware", None))        # after build_py and build_ext
setup(package_dir=NAMESPACE, packages=packages(), cmdclass={"build_firmware": build_firmware},
      cffi_modules=["pipkernel/_build.py:ffibuilder"])
