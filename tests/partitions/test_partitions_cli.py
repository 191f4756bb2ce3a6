"""`pipsim tree` and `pipsim validate`, in-process (through pipsim.partitions.cli.register)."""
import argparse
from pathlib import Path

from pipsim.partitions.cli import register

EXAMPLE = str(Path(__file__).resolve().parents[2] / "partitions" / "example.toml")


def run(*argv):
    parser = argparse.ArgumentParser(prog="pipsim")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_tree_shows_names_pages_and_kernel_pages(capsys):
    assert run("tree", EXAMPLE) == 0
    out = capsys.readouterr().out
    assert "example (arch python, 1024 pages" in out
    assert "└─ provider-a <provider-a> [pd" in out and "   ├─ provider-a-app" in out
    assert "kernel pages 8 (32 KiB)" in out
    assert out.splitlines()[-1].startswith("total: 5 partitions below the root, 40 kernel pages")
    assert out.rstrip().endswith("invariants hold")


def test_validate(capsys):
    assert run("validate", EXAMPLE) == 0
    assert capsys.readouterr().out.startswith(f"{EXAMPLE}: ok (arch python")


def test_bad_manifests_exit_2_with_every_error(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[image]\nname = "x"\narch = "mips"\n[[partition]]\nname = "a"\n'
                   'parent = "nobody"\npages = 4\n')
    for command in ("tree", "validate"):
        assert run(command, str(bad)) == 2
        err = capsys.readouterr().err.splitlines()
        assert err == [f"pipsim: error: {bad}: 2 errors",
                       '  image.arch: "mips" is not one of "python", "arm", "x86"',
                       '  partition[0].parent: "nobody" is not a partition']
    assert run("tree", str(tmp_path / "none.toml")) == 2
    assert "cannot read it" in capsys.readouterr().err
