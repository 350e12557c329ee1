"""Hostile input to the gateway: one client's bad row never fails another's request, metric
labels stay a closed set whatever paths clients try, and deep JSON is a 400, not a 500."""

from __future__ import annotations

import json

import pytest

CHAT = "/v1/chat/completions"
JSON = {"content-type": "application/json"}


def _chat_body(content: str) -> bytes:
    # json.dumps escapes a lone surrogate as "\ud800" (httpx's json= would fail to encode it)
    return json.dumps({"model": "support", "messages": [{"role": "user", "content": content}]}).encode()


def test_lone_surrogates_and_nul_are_stored_replaced_and_answered(start_gateway) -> None:
    gw = start_gateway()
    with gw.client() as client:
        answer = client.post(CHAT, content=_chat_body("hi \ud800 there\x00!"), headers=JSON)
        assert answer.status_code == 200, answer.text
        rid = answer.json()["id"]
        note = json.dumps({"response_id": rid, "rating": 2, "comment": "bad \udc00 char"}).encode()
        posted = client.post("/v1/feedback", content=note, headers=JSON)
    assert posted.status_code == 201, posted.text
    (row,) = gw.rows("requests")
    assert row["request_text"] == "hi \ufffd there\ufffd!"
    assert gw.rows("feedback")[0]["comment"] == "bad \ufffd char"


def test_a_row_the_store_refuses_is_a_422_for_its_client_only(start_gateway, monkeypatch) -> None:
    import llmops.gateway.writer as writer_module

    real_redact = writer_module.redact

    def redact(text: str):
        if "poison" in text:
            raise RuntimeError("this text cannot be stored")
        return real_redact(text)

    monkeypatch.setattr(writer_module, "redact", redact)
    gw = start_gateway()
    with gw.client() as client:
        bad = client.post(CHAT, content=_chat_body("poison"), headers=JSON)
        good = client.post(CHAT, content=_chat_body("fine"), headers=JSON)
        note = {"response_id": good.json()["id"], "rating": 1, "comment": "poison"}
        bad_note = client.post("/v1/feedback", json=note)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "unstorable_request"
    assert good.status_code == 200
    assert bad_note.status_code == 422 and bad_note.json()["error"]["code"] == "unstorable_feedback"
    assert [r["request_text"] for r in gw.rows("requests")] == ["fine"]
    assert gw.metric("llmops_gateway_errors_total", type="rejected_row") == 2
    assert gw.metric("llmops_gateway_errors_total", type="store") == 0


def test_unauthenticated_unknown_paths_add_no_metric_series(start_gateway) -> None:
    gw = start_gateway(api_key="k")
    auth = {"authorization": "Bearer k"}
    with gw.client() as client:

        def probe(i: int) -> None:
            assert client.get(f"/probe/{i}/x?q={i}").status_code == 401

        for i in range(10):
            probe(i)
        before = len(client.get("/metrics", headers=auth).content)
        for i in range(10, 1010):
            probe(i)
        metrics = client.get("/metrics", headers=auth).text
    assert len(metrics.encode()) <= before + 4  # flat: only the count's digits grew
    assert "/probe/" not in metrics
    assert gw.metric("llmops_gateway_errors_total", route="other", type="auth") == 1010


def test_metric_labels_come_from_a_closed_set() -> None:
    from llmops.gateway.metrics import GatewayMetrics

    metrics = GatewayMetrics("support")
    metrics.error("/v1/feedback/../../etc", "whatever-kind")
    metrics.observe_request("/attacker/path", 999, 0.1)
    metrics.observe_request(CHAT, 200, 0.1)
    text = metrics.render().decode()
    assert 'route="/v1/feedback/../../etc"' not in text and "whatever-kind" not in text
    assert 'route="other",type="other"' in text
    assert 'route="other",status="other"' in text and f'route="{CHAT}",status="200"' in text


@pytest.mark.parametrize(("path", "depth"), [(CHAT, 100_000), ("/v1/feedback", 30_000), (CHAT, 129)])
def test_deep_json_is_a_400_not_a_recursion_error(start_gateway, path, depth) -> None:
    gw = start_gateway()
    deep = "[" * depth + "]" * depth
    raw = f'{{"response_id": "x", "rating": 1, "messages": {deep}}}'.encode()
    with gw.client() as client:
        response = client.post(path, content=raw, headers=JSON)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "json_too_deep" and "deeper than 128 levels" in error["message"]
    assert gw.metric("llmops_gateway_errors_total", type="internal") == 0
    assert gw.rows("requests") == []


def test_json_just_within_the_depth_bound_is_accepted(start_gateway) -> None:
    gw = start_gateway()
    nested: dict = {"type": "string"}
    for _ in range(50):  # a deep but legal tool schema: 105 levels in all
        nested = {"type": "object", "properties": {"x": nested}}
    body = {
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": nested}}],
    }
    with gw.client() as client:
        assert client.post(CHAT, json=body).status_code == 200
