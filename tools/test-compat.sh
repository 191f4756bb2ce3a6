#!/bin/sh
# make test-compat: pipsim on the lowest cbor2 pyproject.toml allows (a 5.x, where
# pipsim.kernel.cbor5 decodes; the default venv has the newest) with python-cwt installed
# beside it, in a venv of their own: the token and decoder tests, and tokens read both ways
# (tests/compat; docs/install.md "cbor2 and python-cwt").
set -eu
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
venv=.venv-compat
floor=$($PYTHON - <<'PY'
import re, tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
print(next(re.fullmatch(r"cbor2>=([\w.]+).*", d)[1] for d in deps if d.startswith("cbor2")))
PY
)
test -x $venv/bin/python || $PYTHON -m venv $venv
$venv/bin/python -m pip install --quiet '.[test]' "cbor2==$floor" cwt >&2
$venv/bin/python -m pip install --quiet --no-deps --force-reinstall . >&2    # this tree's, always
$venv/bin/python - <<'PY' >&2
from importlib.metadata import version
print(f"test-compat: cbor2 {version('cbor2')}, python-cwt {version('cwt')}")
PY
cd tests        # not the source tree's pipsim/: the installed package
exec ../$venv/bin/python -m pytest -q -p no:cacheprovider tokens wire compat
