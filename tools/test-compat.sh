#!/bin/sh
# make test-compat: the tokens and the strict CBOR decoder on the lowest cbor2 pyproject.toml
# allows, in a venv of their own (the default venv has the newest), and tokens read both ways
# with python-cwt, in its venv beside (.venv-cwt: it needs cbor2 < 6; docs/install.md).
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
$venv/bin/python -m pip install --quiet '.[test]' "cbor2==$floor" >&2
cwt_python=$(.venv/bin/python bench/bench_tokens.py --cwt-python)
echo "test-compat: cbor2 $($venv/bin/python -c 'import importlib.metadata as m; print(m.version("cbor2"))');" \
     "python-cwt beside: $($cwt_python -c 'import cwt, cbor2; import importlib.metadata as m; print(cwt.__version__, "on cbor2", m.version("cbor2"))')" >&2
cd tests        # not the source tree's pipsim/: the installed package
PIPSIM_CWT_PYTHON=$cwt_python exec ../$venv/bin/python -m pytest -q -p no:cacheprovider tokens wire compat
