"""The wheel ships the firmware (setup.py build_firmware, docs/sdk.md "Toolchains"): built
once from this tree, installed into a fresh virtual environment (no build, no compiler: its
dependencies come from the test's environment through a .pth file), `pipsim run` runs the
default gateway image from a folder outside the repository with a PATH that holds no compiler.
In make test-deep also a wheel built as a user's `pip install .` builds it: from a clean clone
(no firmware built), with build isolation and zig's toolchain from the build requirements.
"""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import sysconfig
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEEP = os.environ.get("HYPOTHESIS_PROFILE") == "deep"          # make test-deep
CLEAN = pytest.param("clean-clone-zig", marks=pytest.mark.skipif(
    not DEEP, reason="a clean build of every image and newlib: in make test-deep"))


@pytest.fixture(scope="module", params=["this-tree", CLEAN])
def wheel(request, tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out)]
    if request.param == "this-tree":
        argv, env = [*pip, "--no-build-isolation", str(ROOT)], None
    else:
        clone = tmp_path_factory.mktemp("clone") / "pipsim"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=300)
        argv, env = [*pip, str(clone)], {**os.environ, "PIPSIM_TOOLCHAIN": "zig"}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=1800, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    (found,) = out.glob("pipsim-*.whl")
    return found


def test_the_wheel_holds_the_images_and_no_private_key(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    build = "pipsim/firmware/build"
    for arch in ("arm", "x86"):
        assert f"{build}/{arch}/hello.elf" in names
        assert {f"{build}/{arch}/temp_driver.elf", f"{build}/{arch}/temp_driver.elf.sig",
                f"{build}/{arch}/store_app.elf.sig"} <= names
    assert f"{build}/trust/policy.toml" in names and f"{build}/trust/developer.pub.cose" in names
    assert not [n for n in names if n.startswith(f"{build}/trust/") and n.endswith(".cose")
                and not n.endswith(".pub.cose")]                  # signing keys stay home


def test_pipsim_run_from_the_wheel_without_a_compiler(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; "
                              "print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # the dependencies, not this tree's editable pipsim (a .pth line adds no .pth files)
    pathlib.Path(purelib, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                    "--no-deps", str(wheel)], check=True, timeout=300)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {"PATH": str(venv / "bin"), "HOME": str(outside), "LANG": "C.UTF-8"}
    where = subprocess.run([str(python), "-c", "import pipsim.kernel.sdk.layout as l; "
                            "print(l.build_dir())"], cwd=outside, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert pathlib.Path(where).is_relative_to(purelib)       # the wheel's images
    run = subprocess.run([str(venv / "bin" / "pipsim"), "run"], cwd=outside, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert run.stdout.startswith("device image gateway on arm")
    assert "firmware: temp-driver, lamp-driver" in run.stdout
    assert "kernel invariants and properties after the house's session" in run.stdout
