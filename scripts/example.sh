#!/usr/bin/env bash
# Set up and run the example pipeline end to end on this machine's CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
llmops validate
llmops compile --check
dvc repro
sed -n '1,/^## Text length/p' reports/data-support.md
echo "outputs: artifacts/ (DVC-tracked); metrics/ (dvc metrics show); plots/ (dvc plots show);"
echo "reports/data-support.md (the whole exploration report); stage graph: llmops graph"
