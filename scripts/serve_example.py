"""The end of the example: talk to the tuned model through the llmops gateway as a client would.

Asks a few questions from the held-out split as plain chat messages: the Deployment's prompt
(support-rag) retrieves the support articles for each question, renders the same text the model
was tuned and evaluated on and sends it to the engine's completions route (the prompt is written
as text, `chat_format: none`), so the client only sends the question. Prints each answer with the
passages it cites, posts human feedback on the answers (a rating, a thumbs-down with a
correction), and prints what the gateway exposes to Prometheus, the retrieval series included.
Standard library only: any OpenAI-compatible client would do the same.

    python scripts/serve_example.py http://127.0.0.1:8000 support
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

QUESTIONS = Path("artifacts/datasets/support/test.jsonl")


def call(url: str, payload: dict | None = None) -> tuple[int, str]:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_ready(base: str, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if call(f"{base}/health")[0] == 200 and call(f"{base}/v1/models")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(1)
    sys.exit(f"the gateway at {base} did not become ready in {timeout_s:.0f}s")


def main(base: str, deployment: str) -> None:
    wait_ready(base)
    rows = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines()[:3]]
    answers = []
    for row in rows:
        status, body = call(
            f"{base}/v1/chat/completions",
            {
                "model": deployment,
                "messages": [{"role": "user", "content": row["text"]}],
                "max_tokens": 48,  # as the support-rag EvalSuite generates
                "temperature": 0,
                "stop": ["\nQuestion:"],
            },
        )
        if status != 200:
            sys.exit(f"chat completion failed ({status}): {body}")
        reply = json.loads(body)
        answers.append((reply["id"], row))
        text = reply["choices"][0]["message"]["content"]
        cited = ", ".join(f"{c['id']} ({c['score']:.2f})" for c in reply.get("citations", [])) or "none"
        print(f"Q: {row['text']}\nA: {text!r}  [{reply['id']}]\n   cites: {cited}\n")
    feedback = [
        {"response_id": answers[0][0], "rating": 5, "thumbs": "up", "comment": "right tone"},
        {"response_id": answers[1][0], "thumbs": "down", "correction": answers[1][1]["answer"]},
        {"response_id": answers[2][0], "rating": 4, "thumbs": "up"},
    ]
    for item in feedback:
        status, body = call(f"{base}/v1/feedback", item)
        if status != 201:
            sys.exit(f"feedback failed ({status}): {body}")
    print(f"sent {len(feedback)} feedback posts (the thumbs-down corrects its answer)")
    status, body = call(f"{base}/v1/feedback", {"response_id": "no-such-id", "rating": 9})
    print(f"a malformed feedback post is refused: {status} {json.loads(body)['error']['message']}")
    _, metrics = call(f"{base}/metrics")
    shown = [
        line
        for line in metrics.splitlines()
        if line.startswith(
            (
                "llmops_gateway_requests_total{",
                "llmops_gateway_feedback_total{",
                "llmops_gateway_retrieval_duration_seconds_count{",
                "llmops_gateway_retrieval_duration_seconds_sum{",
                "llmops_gateway_empty_retrievals_total{",
            )
        )
    ]
    print("from /metrics:\n  " + "\n  ".join(shown))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
