#!/usr/bin/env bash
# Set up a fresh clone: a virtual environment in .venv with llmops (editable) and its dev tools.
# Idempotent: a second run only checks that everything is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# torch first, pinned: a bare `torch` requirement would pull gigabytes of CUDA packages on a CPU
# machine. Set TORCH_SPEC (for example "torch==2.13.0 --index-url ...cu128") on GPU machines.
# shellcheck disable=SC2086
.venv/bin/python -m pip install --quiet --disable-pip-version-check ${TORCH_SPEC:-torch==2.13.0}
# This project installs as `llmops-gitops` (`llmops` on the index is someone else's); a venv made
# before the rename still holds it under the old name: remove that, or both would claim `llmops`.
if .venv/bin/python -m pip show llmops >/dev/null 2>&1; then
  .venv/bin/python -m pip uninstall --quiet --yes llmops
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
