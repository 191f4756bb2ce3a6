"""`pipsim`: the command line.  Sub-commands of other packages plug in through the
"pipsim.commands" entry points (each a `register(subparsers)` function), so this
module depends on nothing above pipkernel."""
from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points


def _demo(args) -> int:
    from .demo import run
    return run()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pipsim", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("run", help="run the default demo: a partition tree on the C core")
    demo.set_defaults(func=_demo)
    for ep in entry_points(group="pipsim.commands"):
        ep.load()(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except (OSError, ValueError) as error:
        print(f"pipsim: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
