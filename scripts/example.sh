#!/usr/bin/env bash
# Set up and run the example pipeline end to end on this machine's CPU: clean the support data,
# render the prompt, build and pretrain a tiny Llama, LoRA-tune it, and evaluate it against its base.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
llmops validate
llmops compile --check
dvc repro
dvc metrics show
sed -n '1,/^## Against the baselines/p' reports/eval-support-quality.md | sed '$d'
echo "outputs: artifacts/ (DVC-tracked); metrics/ (dvc metrics show); plots/ (dvc plots show);"
echo "reports/: data-support.md (data exploration), eval-support-quality.md (scores, worst examples)"
echo "stage graph: llmops graph"
