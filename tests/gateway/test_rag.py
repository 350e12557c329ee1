"""Retrieval-augmented chat through the gateway, with a fake passage finder (the real Retriever is
exercised in test_rag_index.py): the engine gets the rendered prompt, the answer cites, the store
keeps passage ids, scores and the retrieval time (PII redacted), the metrics count."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

TEMPLATE = (
    "Context:\n{% for p in passages %}[{{ p.id }}] {{ p.text }}\n{% endfor %}"
    "Product: {{ product }}\nQuestion: {{ text }}"
)


class FakeFinder:
    """An `Augmenter` stand-in: two passages per query; none for NOTHING; raises for EXPLODE."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def augment(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.rows.extend(rows)
        out = []
        for row in rows:
            if "EXPLODE" in row["text"]:
                raise RuntimeError("index file is gone")
            passages = [] if "NOTHING" in row["text"] else _passages(row.get("product"))
            out.append({**row, "passages": passages})
        return out


def _passages(product: Any) -> list[dict[str, Any]]:
    return [
        {
            "id": "reset#0",
            "doc_id": "reset",
            "text": "Reset your password from the login page.",
            "score": 0.91234567,
            "source": "knowledge/reset.md",
            "title": "Passwords (owner jane.doe@example.com)",
            "metadata": {"product": product},
        },
        {
            "id": "billing#2",
            "doc_id": "billing",
            "text": "Invoices are sent monthly.",
            "score": 0.5,
            "source": "knowledge/billing.md",
            "title": "Billing",
            "metadata": {"product": product},
        },
    ]


@pytest.fixture
def rag_gateway(start_gateway, tmp_path: Path):  # type: ignore[no-untyped-def]
    from llmops.compiler.kinds.prompt import Prompt
    from llmops.gateway.rag import RagFlow, RagSettings
    from llmops.prompting.render import PromptTemplate

    spec = Prompt.model_validate(
        {
            "apiVersion": "llmops/v1",
            "kind": "Prompt",
            "name": "rag-qa",
            "system": "Answer from the context only.",
            "template": TEMPLATE,
            "variables": ["text", "product", "passages"],
        }
    )
    template = PromptTemplate.from_config(spec, tmp_path)
    settings = RagSettings.of({"index": "support-kb", "query": "text", "top_k": 2})
    finder = FakeFinder()
    running = start_gateway(rag=RagFlow(template, settings, finder))
    running.finder = finder
    return running


def _ask(gw, text: str, **extra: Any):  # type: ignore[no-untyped-def]
    body = {"messages": [{"role": "user", "content": text}], "variables": {"product": "shop"}, **extra}
    with gw.client() as client:
        return client.post("/v1/chat/completions", json=body)


def test_answer_cites_and_the_engine_sees_the_rendered_prompt(rag_gateway) -> None:
    response = _ask(rag_gateway, "How do I reset my password? I am bob@example.com")
    assert response.status_code == 200, response.text
    data = response.json()
    answer = data["choices"][0]["message"]["content"]  # the fake engine echoes its last user turn
    assert "[reset#0] Reset your password from the login page." in answer
    assert "Product: shop" in answer and "Question: How do I reset my password?" in answer
    assert data["citations"] == [
        {
            "id": "reset#0",
            "doc_id": "reset",
            "source": "knowledge/reset.md",
            "title": "Passwords (owner jane.doe@example.com)",
            "score": 0.912346,
        },
        {
            "id": "billing#2",
            "doc_id": "billing",
            "source": "knowledge/billing.md",
            "title": "Billing",
            "score": 0.5,
        },
    ]
    assert rag_gateway.finder.rows[0]["product"] == "shop"  # the request's variables reach the finder

    [row] = rag_gateway.rows("requests")
    assert row["id"] == data["id"]
    assert row["retrieved"] == 2 and row["retrieval_ms"] >= 0
    assert "bob@example.com" not in row["request_text"]  # the question is redacted
    assert "Context:" not in row["request_text"]  # the log keeps what the client asked
    record = json.loads(row["retrieval"])
    assert record == {
        "index": "support-kb",
        "top_k": 2,
        "passages": [
            {"id": "reset#0", "doc_id": "reset", "score": 0.912346},
            {"id": "billing#2", "doc_id": "billing", "score": 0.5},
        ],
    }
    assert rag_gateway.metric("llmops_gateway_retrieval_duration_seconds_count") == 1
    assert rag_gateway.metric("llmops_gateway_empty_retrievals_total") == 0


def test_the_prompt_system_text_comes_first_and_history_is_kept(rag_gateway, monkeypatch) -> None:
    sent: list[dict] = []
    flow = rag_gateway.gateway.rag
    prepare = flow._prepare

    def spy(messages, last, variables):  # type: ignore[no-untyped-def]
        result = prepare(messages, last, variables)
        sent.append(result)
        return result

    monkeypatch.setattr(flow, "_prepare", spy)
    body = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "reset password"},
        ],
        "variables": {"product": "shop"},
    }
    with rag_gateway.client() as client:
        assert client.post("/v1/chat/completions", json=body).status_code == 200
    messages = sent[0].messages
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[0]["content"] == "Answer from the context only.\n\nBe brief."
    assert messages[1]["content"] == "hi"
    assert messages[-1]["content"].startswith("Context:\n[reset#0]")


def test_streamed_answer_ends_with_a_citations_chunk_before_done(rag_gateway) -> None:
    response = _ask(rag_gateway, "reset password", stream=True)
    assert response.status_code == 200
    events = [e for e in response.text.split("\n\n") if e.strip()]
    assert events[-1] == "data: [DONE]"
    last = json.loads(events[-2][len("data: ") :])
    assert last["choices"] == [] and [c["id"] for c in last["citations"]] == ["reset#0", "billing#2"]
    [row] = rag_gateway.rows("requests")
    assert last["id"] == row["id"]  # the id feedback is given on
    assert row["retrieved"] == 2


def test_empty_retrieval_is_counted_and_logged(rag_gateway) -> None:
    response = _ask(rag_gateway, "NOTHING matches this")
    assert response.status_code == 200
    assert response.json()["citations"] == []
    [row] = rag_gateway.rows("requests")
    assert row["retrieved"] == 0 and json.loads(row["retrieval"])["passages"] == []
    assert rag_gateway.metric("llmops_gateway_empty_retrievals_total") == 1


def test_a_failed_retrieval_is_a_logged_500(rag_gateway) -> None:
    response = _ask(rag_gateway, "EXPLODE")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "retrieval_failed"
    assert "index file is gone" in response.json()["error"]["message"]
    [row] = rag_gateway.rows("requests")
    assert row["status_code"] == 500 and "index file is gone" in row["error"]
    assert rag_gateway.metric("llmops_gateway_errors_total", type="retrieval") == 1


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"messages": [{"role": "system", "content": "x"}], "variables": {"product": "a"}}, "role 'user'"),
        ({"messages": [{"role": "user", "content": "q"}], "variables": {"nope": "a"}}, "unknown prompt"),
        ({"messages": [{"role": "user", "content": "q"}]}, "could not be rendered"),
        ({"messages": [{"role": "user", "content": "q"}], "variables": ["product"]}, "must be an object"),
        ({"messages": [{"role": "user", "content": "q"}], "variables": {"product": {"a": 1}}}, "a string"),
    ],
)
def test_what_the_client_must_fix_is_a_400(rag_gateway, body: dict, needle: str) -> None:
    with rag_gateway.client() as client:
        response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400
    assert needle in response.json()["error"]["message"]
    assert rag_gateway.rows("requests") == []


def test_text_completions_pass_through_unaugmented(rag_gateway) -> None:
    with rag_gateway.client() as client:
        response = client.post("/v1/completions", json={"prompt": "reset password"})
    assert response.status_code == 200
    assert "citations" not in response.json()
    [row] = rag_gateway.rows("requests")
    assert row["retrieved"] is None and row["retrieval"] is None


def test_without_a_prompt_nothing_changes(start_gateway) -> None:
    gw = start_gateway()
    with gw.client() as client:
        response = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 200 and "citations" not in response.json()
    with gw.db.connect() as conn:
        row = conn.execute(sa.text("SELECT retrieved, retrieval_ms, retrieval FROM requests")).one()
    assert tuple(row) == (None, None, None)


def test_the_stored_retrieval_record_is_redacted_value_by_value(tmp_path) -> None:
    import asyncio
    import time

    from llmops.feedback_db import store
    from llmops.gateway.writer import Writer

    engine = store.connect(f"sqlite:///{tmp_path}/w.sqlite3")
    writer = Writer(engine)
    writer.start()
    record = {
        "index": "kb",
        "top_k": 1,
        "passages": [{"id": 'ann@example.org "#0', "doc_id": "d", "score": 1.0}],
    }
    row = {
        "id": "r1",
        "created_at": time.time(),
        "deployment": "support",
        "route": "/v1/chat/completions",
        "status_code": 200,
        "latency_ms": 1.0,
        "retrieval_ms": 2.5,
        "retrieved": 1,
        "retrieval": record,
    }
    asyncio.run(writer.log_request(row))
    writer.close()
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT retrieval FROM requests")).scalar_one()
    engine.dispose()
    passage = json.loads(stored)["passages"][0]  # still JSON, whatever the redaction inserted
    assert "ann@example.org" not in passage["id"] and passage["id"].endswith('"#0')
    assert passage["score"] == 1.0


def test_the_monitor_reads_what_the_gateway_logged(rag_gateway) -> None:
    import time

    from llmops.runners.monitor.retrieval import retrieval_figures
    from llmops.runners.monitor.window import make_window, read_window

    ids = [_ask(rag_gateway, text).json()["id"] for text in ("reset password", "NOTHING", "billing")]
    with rag_gateway.client() as client:
        assert client.post("/v1/feedback", json={"response_id": ids[0], "thumbs": "down"}).status_code == 201
    seen = read_window(rag_gateway.db_url, "support", make_window(time.time() + 1, 1))
    figures = retrieval_figures(seen.requests, seen.feedback)
    assert (figures["requests"], figures["empty"], figures["bad_answers"]) == (3, 1, 1)
    assert [p["id"] for p in figures["bad_answer_passages"]] == ["billing#2", "reset#0"]
    assert figures["retrieval_p95_ms"] is not None
