#!/usr/bin/env bash
# Set up the pinned environment (.venv, from requirements.lock) if needed, then run:
#   ./quickstart.sh study [snakemake args…]   the default study (config/config.yaml)
#   ./quickstart.sh test  [pytest args…]      the test suite
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}

setup() {
    "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "fimflow needs Python >= 3.11")'
    if [ -x .venv/bin/python ] && cmp -s requirements.lock .venv/requirements.lock; then
        return
    fi
    echo "quickstart: installing the pinned environment into .venv (about 2 minutes)" >&2
    "$PYTHON" -m venv .venv
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
    cp requirements.lock .venv/requirements.lock
}

command=${1:-}
shift || true
case "$command" in
    study)
        setup
        exec .venv/bin/snakemake --cores "${CORES:-all}" "$@"
        ;;
    test)
        setup
        exec .venv/bin/python -m pytest "$@"
        ;;
    *)
        echo "usage: ./quickstart.sh study|test [arguments passed on]" >&2
        exit 2
        ;;
esac
