#!/usr/bin/env bash
# Set up and run the whole default test suite (no network needed by the tests, no GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
# Two workers, one test file each at a time (a file's fixtures stay in one process); set
# LLMOPS_TEST_WORKERS=0 to run in this process (a debugger, -x).
exec .venv/bin/python -m pytest -q -n "${LLMOPS_TEST_WORKERS:-2}" --dist loadfile "$@"
