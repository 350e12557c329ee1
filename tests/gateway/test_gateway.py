"""Gateway behaviour against a fake engine: forwarding, logging with redaction, feedback,
malformed input, metrics, auth and engine failures. Real servers on loopback ports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

CHAT = "/v1/chat/completions"
PII_PROMPT = "Mail me at jane.doe@example.com or call +1 415 555 0100 about parcel 7"


def chat(client, content: str, **extra):
    body = {"model": "support", "messages": [{"role": "user", "content": content}], **extra}
    return client.post(CHAT, json=body)


def test_chat_is_forwarded_logged_and_redacted(start_gateway) -> None:
    gw = start_gateway()
    with gw.client() as client:
        response = chat(client, PII_PROMPT)
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "support"  # the public name, not the engine's
    assert body["choices"][0]["message"]["content"] == "echo: " + PII_PROMPT  # the client sees it all
    (row,) = gw.rows("requests")
    assert row["id"] == body["id"]
    assert row["route"] == CHAT and row["status_code"] == 200 and row["deployment"] == "support"
    assert row["request_text"] == "Mail me at [EMAIL] or call [PHONE] about parcel 7"
    assert row["response_text"] == "echo: Mail me at [EMAIL] or call [PHONE] about parcel 7"
    assert (row["prompt_tokens"], row["completion_tokens"]) == (body["usage"]["prompt_tokens"], 14)
    assert row["latency_ms"] >= row["upstream_ms"] > 0
    gw.db.dispose()
    folder = Path(gw.db_url.removeprefix("sqlite:///")).parent
    raw = b"".join(p.read_bytes() for p in folder.iterdir())
    assert b"jane.doe" not in raw and b"555 0100" not in raw  # not in the file nor its WAL


def test_text_completion_stream_is_passed_through_and_assembled(start_gateway) -> None:
    gw = start_gateway()
    with (
        gw.client() as client,
        client.stream(
            "POST", "/v1/completions", json={"prompt": "card 4111 1111 1111 1111 please", "stream": True}
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e[6:]) for e in events[:-1]]
    text = "".join(c["choices"][0]["text"] for c in chunks)
    assert text == "echo: card 4111 1111 1111 1111 please"
    (row,) = gw.rows("requests")
    assert row["id"] == chunks[0]["id"]
    assert row["response_text"] == "echo: card [CARD] please"
    assert row["completion_tokens"] == chunks[-1]["usage"]["completion_tokens"]


def test_chat_stream_logs_before_the_last_event(start_gateway) -> None:
    gw = start_gateway()
    with gw.client() as client:
        body = {"messages": [{"role": "user", "content": "hello there"}], "stream": True}
        with client.stream("POST", CHAT, json=body) as response:
            seen = []
            for line in response.iter_lines():
                if line.startswith("data: {"):
                    seen.append(json.loads(line[6:]))
                    if seen[-1].get("usage"):  # the final chunk: its row must be committed already
                        assert [r["id"] for r in gw.rows("requests")] == [seen[0]["id"]]
        assert seen and seen[-1].get("usage")
        rid = seen[0]["id"]
        assert client.post("/v1/feedback", json={"response_id": rid, "thumbs": "up"}).status_code == 201
    assert gw.rows("requests")[0]["response_text"] == "echo: hello there"


def test_feedback_is_stored_redacted_and_counted(start_gateway) -> None:
    gw = start_gateway()
    with gw.client() as client:
        rid = chat(client, "where is parcel 9").json()["id"]
        posts = [
            {"response_id": rid, "rating": 2, "comment": "wrong, mail bob@corp.example"},
            {"response_id": rid, "thumbs": "down", "correction": "Parcel 9 ships tomorrow."},
            {"response_id": rid, "thumbs": 1},
        ]
        answers = [client.post("/v1/feedback", json=p) for p in posts]
    assert [a.status_code for a in answers] == [201, 201, 201]
    ids = [a.json()["id"] for a in answers]
    rows = sorted(gw.rows("feedback"), key=lambda r: r["id"])
    assert [r["id"] for r in rows] == ids
    assert [(r["rating"], r["thumbs"]) for r in rows] == [(2, None), (None, -1), (None, 1)]
    assert rows[0]["comment"] == "wrong, mail [EMAIL]"
    assert rows[1]["correction"] == "Parcel 9 ships tomorrow."
    assert gw.metric("llmops_gateway_feedback_total", kind="rating") == 1
    assert gw.metric("llmops_gateway_feedback_total", kind="thumbs_down") == 1
    assert gw.metric("llmops_gateway_feedback_total", kind="thumbs_up") == 1
    assert gw.metric("llmops_gateway_feedback_rating_sum_total") == 2


def test_feedback_on_an_unknown_response_is_404(start_gateway) -> None:
    gw = start_gateway()
    with gw.client() as client:
        response = client.post("/v1/feedback", json={"response_id": "cmpl-nope", "rating": 5})
    assert response.status_code == 404
    assert "cmpl-nope" in response.json()["error"]["message"]
    assert response.json()["error"]["code"] == "response_not_found"
    assert gw.rows("feedback") == []


BAD_FEEDBACK = [
    ({"rating": 5}, "response_id"),
    ({"response_id": "x"}, "at least one of"),
    ({"response_id": "x", "rating": 6}, "'rating' must be an integer from 1 to 5"),
    ({"response_id": "x", "rating": True}, "'rating' must be"),
    ({"response_id": "x", "rating": "5"}, "'rating' must be"),
    ({"response_id": "x", "thumbs": "sideways"}, "'thumbs'"),
    ({"response_id": "x", "correction": 3}, "'correction' must be a string"),
    ({"response_id": "x", "rating": 3, "comment": "y" * 2001}, "longer than 2000"),
    ({"response_id": "x", "rating": 3, "score": 1}, "unknown field(s) score"),
    ({"response_id": "x" * 65, "rating": 3}, "response_id"),
]


@pytest.mark.parametrize(("body", "message"), BAD_FEEDBACK)
def test_malformed_feedback_is_400_with_a_clear_message(shared_gateway, body, message) -> None:
    gw = shared_gateway
    before = gw.metric("llmops_gateway_errors_total", route="/v1/feedback", type="invalid_request")
    with gw.client() as client:
        response = client.post("/v1/feedback", json=body)
    assert response.status_code == 400
    assert (
        gw.metric("llmops_gateway_errors_total", route="/v1/feedback", type="invalid_request") == before + 1
    )
    assert gw.rows("feedback") == []
    error = response.json()["error"]
    assert message in error["message"] and error["type"] == "invalid_request_error"


BAD_GENERATION = [
    (CHAT, b"{not json", 400, "not valid JSON"),
    (CHAT, b"", 400, "empty"),
    (CHAT, b"[1, 2]", 400, "must be a JSON object, not an array"),
    (CHAT, json.dumps({"messages": []}).encode(), 400, "'messages' is required"),
    (CHAT, json.dumps({"messages": ["hi"]}).encode(), 400, "'messages[0]' must be an object"),
    (CHAT, json.dumps({"messages": [{"role": "boss", "content": "x"}]}).encode(), 400, "messages[0].role"),
    (CHAT, json.dumps({"messages": [{"role": "user", "content": 5}]}).encode(), 400, "messages[0].content"),
    (CHAT, json.dumps({"model": 3, "messages": [{"role": "user", "content": "x"}]}).encode(), 400, "'model'"),
    (
        CHAT,
        json.dumps({"model": "gpt-9", "messages": [{"role": "user", "content": "x"}]}).encode(),
        404,
        "gpt-9",
    ),
    (
        CHAT,
        json.dumps({"messages": [{"role": "user", "content": "x"}], "stream": "yes"}).encode(),
        400,
        "stream",
    ),
    (
        CHAT,
        json.dumps({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}).encode(),
        400,
        "max_tokens",
    ),
    (
        CHAT,
        json.dumps({"messages": [{"role": "user", "content": "x"}], "temperature": 9}).encode(),
        400,
        "temperature",
    ),
    ("/v1/completions", json.dumps({"prompt": 7}).encode(), 400, "'prompt' is required"),
    ("/v1/completions", json.dumps({"prompt": "x" * 5000}).encode(), 413, "larger than 4096 bytes"),
]


@pytest.mark.parametrize(("path", "raw", "status", "message"), BAD_GENERATION)
def test_malformed_requests_are_4xx_and_never_reach_the_store(
    shared_gateway, path, raw, status, message
) -> None:
    gw = shared_gateway
    before = gw.metric("llmops_gateway_errors_total", route=path, type="invalid_request")
    with gw.client() as client:
        response = client.post(path, content=raw, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    assert message in response.json()["error"]["message"]
    assert gw.rows("requests") == []
    assert gw.metric("llmops_gateway_errors_total", route=path, type="invalid_request") == before + 1


def test_unknown_route_and_method_are_openai_style_errors(shared_gateway) -> None:
    gw = shared_gateway
    with gw.client() as client:
        missing = client.get("/v1/embeddings")
        wrong = client.get(CHAT)
    assert missing.status_code == 404 and "no route" in missing.json()["error"]["message"]
    assert wrong.status_code == 405 and "GET is not allowed" in wrong.json()["error"]["message"]


def test_metrics_count_requests_tokens_latency_and_errors(start_gateway) -> None:
    gw = start_gateway()
    with gw.client() as client:
        for i in range(3):
            assert chat(client, f"question number {i}").status_code == 200
        assert client.post("/v1/completions", json={"prompt": "two words"}).status_code == 200
        assert chat(client, "please ENGINE-FAIL now").status_code == 500
        text = client.get("/metrics").text
    assert "# TYPE llmops_gateway_request_duration_seconds histogram" in text
    assert gw.metric("llmops_gateway_requests_total", route=CHAT, status="200") == 3
    assert gw.metric("llmops_gateway_requests_total", route=CHAT, status="500") == 1
    assert gw.metric("llmops_gateway_request_duration_seconds_count", route=CHAT) == 4
    assert gw.metric("llmops_gateway_errors_total", route=CHAT, type="upstream") == 1
    rows = gw.rows("requests")
    assert gw.metric("llmops_gateway_tokens_total", kind="prompt") == sum(
        r["prompt_tokens"] or 0 for r in rows
    )
    assert gw.metric("llmops_gateway_tokens_total", kind="completion") == sum(
        r["completion_tokens"] or 0 for r in rows
    )
    failed = [r for r in rows if r["status_code"] == 500]
    assert len(failed) == 1 and "engine exploded" in failed[0]["error"]


def test_an_engine_error_passes_through_and_is_logged(start_gateway) -> None:
    gw = start_gateway()
    with gw.client() as client:
        response = chat(client, "ENGINE-FAIL")
    assert response.status_code == 500 and response.json()["error"]["message"] == "engine exploded"
    (row,) = gw.rows("requests")
    assert row["status_code"] == 500 and row["id"].startswith("resp-")


def test_an_unreachable_engine_is_502(start_gateway) -> None:
    from llmops.gateway.server import free_port
    from llmops.gateway.upstream import Upstream

    gw = start_gateway(upstream=Upstream(url=f"http://127.0.0.1:{free_port()}"))
    with gw.client() as client:
        response = chat(client, "hello")
        health = client.get("/health")
    assert response.status_code == 502 and response.json()["error"]["code"] == "bad_gateway"
    assert health.status_code == 200  # the gateway itself is alive


def test_a_reused_engine_id_gets_a_fresh_one_instead_of_losing_the_row(start_gateway) -> None:
    gw = start_gateway()
    with gw.client() as client:
        first = chat(client, "DUP-ID one").json()["id"]
        second = chat(client, "DUP-ID two").json()["id"]
        assert client.post("/v1/feedback", json={"response_id": second, "rating": 4}).status_code == 201
    assert first == "dup-id" and second.startswith("resp-")
    assert sorted(r["id"] for r in gw.rows("requests")) == sorted([first, second])
    assert gw.rows("feedback")[0]["response_id"] == second


def test_api_key_is_required_everywhere_but_health(start_gateway) -> None:
    gw = start_gateway(api_key="s3cret-key")
    with gw.client() as client:
        assert client.get("/health").status_code == 200
        missing = chat(client, "hi")
        wrong = client.post(
            CHAT,
            json={"messages": [{"role": "user", "content": "hi"}]},
            headers={"authorization": "Bearer nope"},
        )
        metrics = client.get("/metrics")
        feedback = client.post("/v1/feedback", json={"response_id": "x", "rating": 1})
        good = client.post(
            CHAT,
            json={"messages": [{"role": "user", "content": "hi"}]},
            headers={"authorization": "Bearer s3cret-key"},
        )
    assert missing.status_code == 401 and "missing API key" in missing.json()["error"]["message"]
    assert wrong.status_code == 401 and "invalid API key" in wrong.json()["error"]["message"]
    assert metrics.status_code == 401 and feedback.status_code == 401
    assert good.status_code == 200
    assert len(gw.rows("requests")) == 1
    assert gw.metric("llmops_gateway_errors_total", type="auth") == 4


def test_models_lists_the_public_name(start_gateway) -> None:
    gw = start_gateway()
    with gw.client() as client:
        ids = [m["id"] for m in client.get("/v1/models").json()["data"]]
        by_engine_name = chat(client, "x", model="fake-model")
        without_model = client.post(CHAT, json={"messages": [{"role": "user", "content": "x"}]})
    assert ids == ["support", "fake-model"]
    assert by_engine_name.status_code == 200 and without_model.status_code == 200


def test_a_client_leaving_mid_stream_is_logged_as_499(start_gateway) -> None:
    import time

    gw = start_gateway()
    words = " ".join(f"w{i}" for i in range(60))  # 3 s of streaming
    with gw.client() as client:
        body = {"messages": [{"role": "user", "content": f"SLOW-STREAM {words}"}], "stream": True}
        with client.stream("POST", CHAT, json=body) as response:
            first = next(line for line in response.iter_lines() if line.startswith("data: {"))
    rid = json.loads(first[6:])["id"]
    deadline = time.monotonic() + 5
    while not gw.rows("requests") and time.monotonic() < deadline:
        time.sleep(0.05)
    (row,) = gw.rows("requests")
    assert (row["id"], row["status_code"]) == (rid, 499)
    assert "went away" in row["error"] and row["response_text"].startswith("echo:")
    assert gw.metric("llmops_gateway_errors_total", type="client_gone") == 1
