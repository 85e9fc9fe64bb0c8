#!/usr/bin/env bash
# The one test command: install everything, fetch the server jars, run the whole suite.
# Works on a fresh machine (Python 3.11, Java 17 and Maven are installed); caches are optional.
set -euo pipefail
cd "$(dirname "$0")/.."
# uv installs the same requirements several times faster than pip (on a busy machine the
# install was a minute of the run); pip does it if uv cannot be had or fails. Neither
# compiles bytecode up front: it is compiled on import, only for the modules the suite uses,
# and written once for every later process to reuse. An inherited PYTHONDONTWRITEBYTECODE
# would make each of the suite's few hundred Python subprocesses (services, APIs, CLI
# runs) compile its imports again: about 0.3 s of CPU each here.
unset PYTHONDONTWRITEBYTECODE
install_with_uv() {
    python -m pip install --quiet --disable-pip-version-check uv &&
        python -m uv pip install --quiet --native-tls \
            --python "$(python -c 'import sys; print(sys.executable)')" -e ".[dev]"
}
if ! install_with_uv; then
    echo "uv install failed: installing with pip" >&2
    python -m pip install --quiet --disable-pip-version-check --no-compile -e ".[dev]"
fi
# The type check runs beside the jar fetch and the tests (it needs neither); its verdict
# counts the same as theirs.
mypy_log=$(mktemp)
mypy >"$mypy_log" 2>&1 &
mypy_pid=$!
trap 'kill "$mypy_pid" 2>/dev/null || true; rm -f "$mypy_log"' EXIT
python -m devtools.services fetch
python -m devtools.browser ensure  # Debian's Chromium for tests/ui; apt-get installs it as root
ruff check .
ruff format --check .
set +e
python -m pytest -n 2 --dist loadgroup "$@"
rc=$?
wait "$mypy_pid"
mypy_rc=$?
set -e
cat "$mypy_log"
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: failing" >&2
    exit 1
fi
if [ "$mypy_rc" -ne 0 ]; then
    echo "mypy failed (exit $mypy_rc)" >&2
    [ "$rc" -ne 0 ] || rc=$mypy_rc
fi
exit "$rc"
