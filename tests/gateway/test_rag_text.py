"""A retrieval Prompt written as text (chat_format none, chatml, ...) is served as it was trained
and evaluated: the engine's completions route gets exactly `PromptTemplate.render(row).prompt`,
and the client still talks chat (a `chat.completion`, or `chat.completion.chunk` events) with the
citations. Only `chat_format: tokenizer` sends messages to the engine's chat route."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.gateway.test_rag import FakeFinder, _passages

TEMPLATE = (
    "{% for p in passages %}[{{ p.id }}] {{ p.text }}\n{% endfor %}"
    "Product: {{ product }}\nQuestion: {{ text }}\nAnswer:"
)
STOP = ["\nQuestion:"]


def _spec(chat_format: str) -> Any:
    from llmops.compiler.kinds.prompt import Prompt

    return Prompt.model_validate(
        {
            "apiVersion": "llmops/v1",
            "kind": "Prompt",
            "name": "rag-text",
            "system": "Answer from the passages.",
            "template": TEMPLATE,
            "variables": ["text", "product"],
            "chat_format": chat_format,
            "retrieval": {"index": "support-kb", "query": "text", "top_k": 2},
        }
    )


def _gateway(start_gateway, tmp_path: Path, chat_format: str):  # type: ignore[no-untyped-def]
    from llmops.gateway.rag import RagFlow, RagSettings
    from llmops.prompting.render import PromptTemplate

    spec = _spec(chat_format)
    template = PromptTemplate.from_config(spec, tmp_path)
    flow = RagFlow(template, RagSettings.of(spec.retrieval), FakeFinder())
    running = start_gateway(rag=flow)
    running.template = template
    return running


@pytest.fixture
def text_gateway(start_gateway, tmp_path: Path):  # type: ignore[no-untyped-def]
    return _gateway(start_gateway, tmp_path, "none")


def _engine_got(gw) -> dict:  # type: ignore[no-untyped-def]
    """The last request the fake engine received."""
    return httpx.get(gw.gateway.upstream.fixed_url + "/_requests").json()[-1]


def _expected_prompt(gw, question: str) -> str:  # type: ignore[no-untyped-def]
    row = {"text": question, "product": "shop", "passages": _passages("shop")}
    return gw.template.render(row).prompt


def _chat(gw, question: str, **extra: Any) -> httpx.Response:  # type: ignore[no-untyped-def]
    body = {
        "model": "support",
        "messages": [{"role": "user", "content": question}],
        "variables": {"product": "shop"},
        **extra,
    }
    with gw.client() as client:
        return client.post("/v1/chat/completions", json=body)


def test_the_engine_gets_the_evaluated_prompt_text_and_the_client_a_chat_completion(text_gateway) -> None:
    from llmops.hf.generate import cut_at_stop

    question = "How do I reset my password? I am bob@example.com"
    response = _chat(text_gateway, question, max_tokens=48, temperature=0, seed=7, stop=STOP, user="u1")
    assert response.status_code == 200, response.text

    sent = _engine_got(text_gateway)
    expected = _expected_prompt(text_gateway, question)
    assert sent["path"] == "/v1/completions"
    assert sent["body"]["prompt"] == expected  # exactly what the eval stage generates from
    assert expected.startswith("Answer from the passages.\n\n[reset#0] Reset your password")
    assert expected.endswith("Question: How do I reset my password? I am bob@example.com\nAnswer:")
    assert {k: v for k, v in sent["body"].items() if k != "prompt"} == {
        "model": "fake-model",
        "max_tokens": 48,
        "temperature": 0,
        "seed": 7,
        "stop": STOP,
        "user": "u1",
    }

    data = response.json()
    content = cut_at_stop("echo: " + expected, STOP)  # the fake engine echoes; cut as the eval cuts
    assert data["object"] == "chat.completion" and data["model"] == "support"
    assert isinstance(data["created"], int)
    assert data["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    assert content.endswith("Invoices are sent monthly.\nProduct: shop")
    assert data["usage"]["completion_tokens"] > 0
    assert [c["id"] for c in data["citations"]] == ["reset#0", "billing#2"]

    [row] = text_gateway.rows("requests")
    assert row["id"] == data["id"] and row["route"] == "/v1/chat/completions"
    assert row["request_text"].startswith("How do I reset my password?")  # the client's request
    assert "bob@example.com" not in row["request_text"] and "[reset#0]" not in row["request_text"]
    assert row["response_text"] == content  # the answer the client got
    assert row["completion_tokens"] == data["usage"]["completion_tokens"]
    assert row["retrieved"] == 2
    assert text_gateway.metric("llmops_gateway_tokens_total") > 0


def test_a_streamed_answer_is_chat_chunks_then_citations_then_done(text_gateway) -> None:
    question = "reset password please"
    whole = _chat(text_gateway, question, stop=STOP).json()["choices"][0]["message"]["content"]
    response = _chat(text_gateway, question, stop=STOP, stream=True)
    assert response.status_code == 200
    assert _engine_got(text_gateway)["body"]["prompt"] == _expected_prompt(text_gateway, question)
    assert _engine_got(text_gateway)["body"]["stream"] is True

    events = [e for e in response.text.split("\n\n") if e.strip()]
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e[len("data: ") :]) for e in events[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert {c["model"] for c in chunks} == {"support"}
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    pieces = [c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]]
    assert "".join(pieces) == whole  # the same answer as without streaming
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    assert any(c.get("usage") for c in chunks)
    citations = chunks[-1]
    assert citations["choices"] == []
    assert [c["id"] for c in citations["citations"]] == ["reset#0", "billing#2"]

    row = text_gateway.rows("requests")[-1]
    assert citations["id"] == row["id"]  # the id feedback is given on
    assert row["response_text"] == whole and row["status_code"] == 200


def test_a_chat_template_prompt_still_sends_messages(start_gateway, tmp_path: Path) -> None:
    gw = _gateway(start_gateway, tmp_path, "tokenizer")
    response = _chat(gw, "reset password", max_tokens=8)
    assert response.status_code == 200
    sent = _engine_got(gw)
    assert sent["path"] == "/v1/chat/completions"
    assert [m["role"] for m in sent["body"]["messages"]] == ["system", "user"]
    assert sent["body"]["messages"][-1]["content"].endswith("Question: reset password\nAnswer:")
    assert response.json()["object"] == "chat.completion" and response.json()["citations"]


def test_a_conversation_is_written_in_the_prompt_format(text_gateway) -> None:
    from llmops.prompting.chat import format_prompt

    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "reset password"},
    ]
    body = {"messages": messages, "variables": {"product": "shop"}, "max_completion_tokens": 5}
    with text_gateway.client() as client:
        assert client.post("/v1/chat/completions", json=body).status_code == 200
    sent = _engine_got(text_gateway)["body"]
    rendered = _expected_prompt(text_gateway, "reset password").split("\n\n")[-1]
    expected = format_prompt(
        "none",
        [
            {"role": "system", "content": "Answer from the passages.\n\nBe brief."},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": rendered},
        ],
    )
    assert sent["prompt"] == expected and sent["max_tokens"] == 5


def test_chat_only_features_are_refused_before_retrieval(text_gateway) -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    response = _chat(text_gateway, "reset password", tools=tools)
    assert response.status_code == 400
    assert "'tools' is not available" in response.json()["error"]["message"]
    assert text_gateway.gateway.rag.finder.rows == []
    assert text_gateway.rows("requests") == []


@pytest.mark.parametrize("seed", range(20))
def test_the_stream_cut_matches_the_eval_cut(seed: int) -> None:
    """Text split anywhere into stream pieces is cut exactly as `cut_at_stop` cuts it whole."""
    from llmops.gateway.textchat import _Cutter
    from llmops.hf.generate import cut_at_stop

    rng = random.Random(seed)
    stops = rng.choice([["\nQuestion:"], ["\nQuestion:", "##"], [], ["x"]])
    text = rng.choice(["  Answer one.\nQuestion: more", " a ## b\nQuestion:", "\n plain \n", " x", ""])
    text += rng.choice(["", "  ", " tail"])
    cuts = sorted(rng.sample(range(len(text) + 1), k=min(3, len(text) + 1)))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    cutter = _Cutter(stops)
    out = "".join(cutter.feed(p) for p in pieces) + cutter.finish()
    assert out == cut_at_stop(text, stops), (pieces, stops)


def test_an_engine_error_on_the_completions_route_is_passed_on_and_logged(text_gateway) -> None:
    response = _chat(text_gateway, "ENGINE-FAIL now")
    assert response.status_code == 500 and "engine exploded" in response.text
    [row] = text_gateway.rows("requests")
    assert row["status_code"] == 500 and "engine exploded" in row["error"]
    assert row["request_text"] == "ENGINE-FAIL now" and row["retrieved"] == 2


def test_serve_says_which_engine_route_answers(text_gateway) -> None:
    from llmops.cli.serve_cmd import _rag_line

    line = _rag_line(text_gateway.gateway.rag)
    assert "support-kb (top 2, cited; chat_format none: prompt text to the engine's /v1/completions" in line
