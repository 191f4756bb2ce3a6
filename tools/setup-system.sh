#!/bin/sh
# The Debian packages some tests, benchmarks and commands drive, and those the optional extras
# take to build (pipkernel/needs.py holds the list: what each is for).  As root, installs the
# missing ones (idempotent); otherwise says in one line each what is missing, what goes
# without it and how to get it, and goes on: nothing here is needed to install or run pipsim.
set -eu
cd "$(dirname "$0")/.."
needs="${PYTHON:-python3} -P pipkernel/needs.py"
missing=$($needs debian)
[ -n "$missing" ] || exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup-system: installing $missing"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
else
    $needs explain | sed 's/^/setup-system: /'
fi
