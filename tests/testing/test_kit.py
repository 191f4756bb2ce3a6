"""pipsim's test kit (pipsim.testing, docs/testing-kit.md): its fixtures through the pytest
plugin, its refusals, its strategies, hypothesis kept optional, and the example in examples/
run as users run it."""
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings

from pipsim.experiments.trees import Shape
from pipsim.kernel import Geometry
from pipsim.testing import images, kernels
from pipsim.testing.differential import differential
from pipsim.testing.strategies import Call, geometries, syscall_sequences

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]


def test_the_example_passes_as_users_run_it(pytester):
    """Run in process, so the suite's hypothesis profile (default or deep) sets its budget."""
    result = pytester.runpytest(str(REPO / "examples" / "test_my_tree.py"), "-p",
                                "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_the_plugin_serves_kernels_of_the_marked_geometry(pytester):
    pytester.makepyfile("""
        import pytest

        @pytest.mark.pip_kernel(pages=300, table_size=32, levels=3, policy="hardened")
        def test_marked(pip_kernel, pip_model):
            for k in (pip_kernel, pip_model):
                assert (k.geometry.pages, k.geometry.table_size, k.geometry.levels) == (300, 32, 3)
                assert k.policy == "hardened" and k.check_invariants() == []
            assert type(pip_kernel).__module__ != type(pip_model).__module__

        def test_default(pip_kernel):
            assert pip_kernel.geometry.pages == 160 and pip_kernel.policy == "pip"

        def test_factory(pip_kernel_factory):
            assert pip_kernel_factory(pages=200, impl="model").geometry.pages == 200
    """)
    pytester.runpytest("--strict-markers").assert_outcomes(passed=3)


def test_the_plugin_refuses_a_bad_marker_before_booting(pytester):
    pytester.makepyfile("""
        import pytest

        @pytest.mark.pip_kernel(table_size=24)
        def test_bad_geometry(pip_kernel):
            pass

        @pytest.mark.pip_kernel(160)
        def test_positional(pip_model):
            pass

        @pytest.mark.pip_kernel(policy="lax")
        def test_bad_policy(pip_kernel):
            pass
    """)
    result = pytester.runpytest()
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines(["*KitError: bad geometry pages=160, table_size=24, levels=2: "
                                 "table_size must be a power of two*",
                                 "*KitError: @pytest.mark.pip_kernel takes keywords only*",
                                 "*KitError: unknown policy 'lax'*"])


@pytest.mark.parametrize("spec, wrong", [
    ((8, 16, 2), "cannot boot"), ((160, 16), "expected a Geometry"),
    ({"pages": 160, "tables": 16}, "unknown keys ['tables']"), ((160.0, 16, 2), "must be an int"),
    ((160, 16, 1), "levels must be >= 2")])
def test_bad_geometries_are_refused_naming_the_fault(spec, wrong):
    with pytest.raises(kernels.KitError, match="bad geometry") as refused:
        kernels.geometry(spec)
    assert wrong in str(refused.value)


def test_kernels_of_each_implementation():
    assert kernels.geometry({"pages": 250}) == Geometry(250, 16, 2)
    with pytest.raises(kernels.KitError, match="unknown kernel implementation 'rust'"):
        kernels.kernel(impl="rust")
    for impl, cls in kernels.IMPLEMENTATIONS.items():
        assert type(kernels.kernel(impl=impl, policy="hardened")) is cls


def test_differential_refuses_what_it_cannot_run():
    with pytest.raises(kernels.KitError, match="bad geometry"):
        differential(geometries=[(160, 12, 2)])
    with pytest.raises(kernels.KitError, match="unknown policy 'strict'"):
        differential(policies=["strict"])
    with pytest.raises(kernels.KitError, match="at least one geometry"):
        differential(geometries=[])
    with pytest.raises(kernels.KitError, match="tree must be a pipsim.experiments.trees.Shape"):
        differential(tree=(0, ()))
    made = differential(geometries=[(200, 16, 2)], policies=["hardened"], tree=Shape(0, ()))
    assert made.geometries == (Geometry(200, 16, 2),) and made.policies == ("hardened",)


@settings(max_examples=20)
@given(g=geometries(), calls=syscall_sequences(max_size=5))
def test_strategies_draw_valid_calls(g, calls):
    assert g in kernels.GEOMETRIES
    k = kernels.kernel(g.pages, g.table_size, g.levels)
    for call in calls:
        assert isinstance(call, Call) and all(0 <= a < g.va_limit for a in call.args)
        call(k.as_partition(k.root))
    assert k.check_invariants() == []


def test_booted_image_from_a_manifest(booted_image, tmp_path):
    image = booted_image(REPO / "partitions" / "example.toml")
    assert image.check_invariants() == [] and "sensor-driver" in image.partitions
    with pytest.raises(kernels.KitError, match=r"no manifest at .*missing\.toml"):
        booted_image(tmp_path / "missing.toml")
    with pytest.raises(kernels.KitError, match="a manifest is a path, a dict or a Manifest"):
        booted_image(42)


@pytest.mark.parametrize("arch", ["arm", "x86"])
def test_a_machine_with_a_sample_loaded(pip_machine, arch):
    machine = pip_machine("hello", arch)
    assert machine.run(max_instructions=5_000_000).stop == "halt"


def test_a_missing_image_or_architecture_is_refused(pip_machine, tmp_path):
    with pytest.raises(kernels.KitError, match="no firmware image 'nosuch' for arm"):
        pip_machine("nosuch")
    with pytest.raises(kernels.KitError, match="no firmware image"):
        pip_machine(tmp_path / "gone.elf", "x86")
    with pytest.raises(kernels.KitError, match="unknown architecture 'riscv'"):
        images.image_path("hello", "riscv")


def run_python(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)


def test_the_plugin_and_pipsim_import_nothing_heavy():
    """Every pytest run loads the plugin: it imports neither hypothesis nor the kernel."""
    done = run_python("import sys, pipsim, pipsim.testing.plugin; "
                      "print(sorted(m for m in sys.modules if m.startswith(('hypothesis', "
                      "'pipsim.kernel', 'pipsim.partitions', 'pytest_')) ))")
    assert done.returncode == 0 and done.stdout.strip() == "[]", done


def test_without_hypothesis_the_strategies_say_what_to_install():
    done = run_python("import sys; sys.modules['hypothesis'] = None\n"
                      "import pipsim.testing.kernels, pipsim.testing.plugin\n"
                      "import pipsim.testing.differential")
    assert done.returncode == 1
    assert ("ImportError: pipsim.testing.strategies needs hypothesis: "
            "pip install 'pipsim[testing]'") in done.stderr
