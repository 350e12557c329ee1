"""RAG metrics (runners/eval/rag_metrics.py): recall, hit rate and MRR by gold ids or by the
answer, context relevance and faithfulness, worked out by hand, with bootstrap intervals through
`score_all`, and the judge against a local OpenAI-compatible fake."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
import pytest

from llmops.errors import StageFailed
from llmops.runners.eval.rag_metrics import RagContext, compute, content_words, gold_ids
from llmops.runners.eval.scoring import MetricError, score_all


def passage(pid: str, text: str) -> dict[str, Any]:
    doc = pid.split("#")[0]
    return {"id": pid, "doc_id": doc, "text": text, "score": 0.5, "source": f"{doc}.md", "title": doc}


PASSAGES = [
    [passage("refunds#0", "Refunds take five days."), passage("shipping#0", "Parcels ship within two days.")],
    [passage("login#0", "Reset your password from the login page."), passage("refunds#1", "No refund.")],
    [passage("billing#0", "Invoices are emailed monthly."), passage("shipping#1", "Express costs more.")],
]
ROWS = [
    {"question": "how long do refunds take", "answer": "five days", "gold": "refunds"},
    {"question": "how do I reset my password", "answer": "from the login page", "gold": ["login#0", "faq"]},
    {"question": "does express shipping cost more", "answer": "yes", "gold": "shipping|express"},
]


def context(**changes: Any) -> RagContext:
    fields: dict[str, Any] = {
        "passages": PASSAGES,
        "queries": [r["question"] for r in ROWS],
        "rows": ROWS,
        "top_k": 2,
    }
    return RagContext(**{**fields, **changes})


REFERENCES = [r["answer"] for r in ROWS]


def column(name: str, args: dict[str, Any], predictions: list[str] | None = None, **changes: Any):
    columns, _ = compute(name, args, predictions or REFERENCES, REFERENCES, context(**changes))
    assert len(columns) == 1
    return next(iter(columns.items()))


def test_gold_cells_take_lists_and_separated_strings():
    assert gold_ids("a|b, c") == ["a", "b, c"]
    assert gold_ids("a, b") == ["a", "b"]
    assert gold_ids(["x", 3, None]) == ["x", "3"]
    assert gold_ids(None) == [] and gold_ids("") == []


def test_recall_hit_rate_and_mrr_by_gold_ids_match_chunk_or_document_ids():
    key, recall = column("recall", {"k": 2, "gold_column": "gold"})
    assert key == "recall@2"
    # row 1: refunds (doc) found; row 2: login#0 found, faq not; row 3: shipping found, express not
    assert recall == [1.0, 0.5, 0.5]
    assert column("hit_rate", {"k": 1, "gold_column": "gold"}) == ("hit_rate@1", [1.0, 1.0, 0.0])
    assert column("mrr", {"gold_column": "gold"}) == ("mrr@2", [1.0, 1.0, 0.5])


def test_gold_answer_counts_a_passage_holding_the_reference():
    assert column("hit_rate", {"gold": "answer"}) == ("hit_rate@2", [1.0, 1.0, 0.0])
    # recall by the answer is whether one passage holds it
    assert column("recall", {"gold": "answer", "k": 1})[1] == [1.0, 1.0, 0.0]
    # content-word overlap: row 3's reference shares 2 of 3 words with its second passage only
    refs = ["refunds five", "password login", "express costs invoices"]
    columns, _ = compute("mrr", {"gold": "answer", "min_overlap": 0.5}, refs, refs, context())
    assert columns["mrr@2"] == [1.0, 1.0, 0.5]
    columns, _ = compute("mrr", {"gold": "answer", "min_overlap": 0.9}, refs, refs, context())
    assert columns["mrr@2"] == [1.0, 1.0, 0.0]


def test_context_relevance_and_faithfulness_by_overlap():
    _, relevance = column("context_relevance", {})
    assert content_words("how long do refunds take") == ["long", "refunds", "take"]
    assert relevance[0] == pytest.approx(2 / 3)  # "refunds" and "take", not "long"
    answers = ["Refunds take five days", "Use the login page", "Nobody knows"]
    _, faithful = column("faithfulness", {}, answers)
    assert faithful == [1.0, pytest.approx(2 / 3), 0.0]


def test_context_relevance_by_embedding_uses_the_given_embedder():
    vocabulary = sorted({w for p in PASSAGES for x in p for w in content_words(x["text"])} | {"refunds"})

    def embed(texts: list[str]) -> np.ndarray:
        rows = np.zeros((len(texts), len(vocabulary) + 1))
        for i, text in enumerate(texts):
            rows[i, -1] = 1e-9
            for w in content_words(text):
                if w in vocabulary:
                    rows[i, vocabulary.index(w)] += 1
        return rows

    _, relevance = column("context_relevance", {"method": "embedding"}, embed=embed)
    # row 1: the question's known words (refunds, take) against [refunds take five days] and a
    # passage sharing none: cosines 2 / (sqrt(2) * 2) and 0
    assert relevance[0] == pytest.approx(np.sqrt(2) / 4, abs=1e-6)
    with pytest.raises(StageFailed, match="needs the index's embedder"):
        column("context_relevance", {"method": "embedding"})


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("recall", {"k": 3, "gold_column": "gold"}, "k=3 is more than the 2 passages"),
        ("recall", {}, "exactly one of gold_column"),
        ("recall", {"gold_column": "gold", "gold": "answer"}, "exactly one of gold_column"),
        ("recall", {"gold_column": "nope"}, r"rows \[1, 2, 3\] have no gold ids in column 'nope'"),
        ("mrr", {"gold": "answer", "cutoff": 1}, "has no argument cutoff"),
        ("faithfulness", {"method": "vibes"}, "method must be overlap or judge"),
    ],
)
def test_bad_arguments_are_stage_errors_naming_the_fix(name, args, message):
    with pytest.raises(StageFailed, match=message):
        column(name, args)


def suite_metrics(*specs: tuple[str, dict]) -> list[Any]:
    return [SimpleNamespace(name=n, args=a, callable=None) for n, a in specs]


def test_score_all_gives_means_with_bootstrap_intervals(tmp_path: Path):
    scores, per_example = score_all(
        suite_metrics(("recall", {"k": 2, "gold_column": "gold"}), ("faithfulness", {})),
        ["five days", "login page", "no idea"],
        REFERENCES,
        root=tmp_path,
        seed=3,
        bootstrap=SimpleNamespace(samples=200, confidence=0.9),
        rag=context(),
    )
    by_key = {s.key: s for s in scores}
    assert by_key["recall@2"].value == pytest.approx(2 / 3) and by_key["recall@2"].higher_is_better
    assert by_key["recall@2"].ci_low <= 2 / 3 <= by_key["recall@2"].ci_high
    assert by_key["recall@2"].metric == "recall" and by_key["recall@2"].source == "llmops:recall"
    assert per_example["recall@2"] == [1.0, 0.5, 0.5] and len(per_example["faithfulness"]) == 3


def test_score_all_refuses_a_rag_metric_without_retrieval(tmp_path: Path):
    with pytest.raises(MetricError, match="has no `retrieval` block"):
        score_all(
            suite_metrics(("mrr", {"gold": "answer"})),
            ["x"],
            ["x"],
            root=tmp_path,
            seed=1,
            bootstrap=SimpleNamespace(samples=10, confidence=0.9),
        )


class _Judge(BaseHTTPRequestHandler):
    replies: ClassVar[list[str]] = []
    seen: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append({"body": body, "auth": self.headers.get("Authorization")})
        reply = type(self).replies.pop(0)
        if reply == "500":
            self.send_response(500)
            self.end_headers()
            return
        data = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def judge_url(monkeypatch):
    server = HTTPServer(("127.0.0.1", 0), _Judge)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setenv("JUDGE_URL", f"http://127.0.0.1:{server.server_port}/v1")
    monkeypatch.setenv("JUDGE_KEY", "sekret")
    _Judge.seen = []
    yield server
    server.shutdown()
    server.server_close()


JUDGE = {
    "method": "judge",
    "judge_url_env": "JUDGE_URL",
    "judge_model": "grader",
    "judge_key_env": "JUDGE_KEY",
}


def test_judge_scores_are_scaled_and_the_rubric_is_sent(judge_url):
    _Judge.replies = ["5", "Score: 3", "1"]
    columns, source = compute("faithfulness", JUDGE, ["a", "b", "c"], REFERENCES, context())
    assert columns["faithfulness"] == [1.0, 0.5, 0.0] and source == "judge:grader"
    first = _Judge.seen[0]
    assert first["auth"] == "Bearer sekret" and first["body"]["model"] == "grader"
    assert (
        first["body"]["temperature"] == 0
        and "Refunds take five days." in first["body"]["messages"][1]["content"]
    )


def test_judge_failures_name_the_endpoint(judge_url, monkeypatch):
    _Judge.replies = ["500"]
    with pytest.raises(
        StageFailed, match=r"judge at http://127\.0\.0\.1:\d+/v1/chat/completions answered HTTP 500"
    ):
        compute("faithfulness", JUDGE, ["a", "b", "c"], REFERENCES, context())
    _Judge.replies = ["great answer"]
    with pytest.raises(StageFailed, match="gave no 1-5 score for example 1"):
        compute("faithfulness", JUDGE, ["a", "b", "c"], REFERENCES, context())
    monkeypatch.delenv("JUDGE_URL")
    with pytest.raises(StageFailed, match=r"JUDGE_URL \(judge_url_env\) is not set"):
        compute("faithfulness", JUDGE, ["a", "b", "c"], REFERENCES, context())
