#!/usr/bin/env bash
# The one test command: install everything, fetch the server jars, run the whole suite.
# Works on a fresh machine (Python 3.11, Java 17 and Maven installed); caches are optional.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
python -m devtools.services fetch
ruff check .
ruff format --check .
mypy
set +e
python -m pytest -n 2 --dist loadgroup "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: failing" >&2
    exit 1
fi
exit "$rc"
