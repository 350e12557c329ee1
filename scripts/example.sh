#!/usr/bin/env bash
# Set up and run the example pipeline end to end on this machine's CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
llmops validate
llmops compile --check
dvc repro
dvc metrics show
echo "outputs: artifacts/ (DVC-tracked), metrics: metrics/; stage graph: llmops graph"
