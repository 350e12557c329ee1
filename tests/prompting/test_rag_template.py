"""A Prompt with `retrieval` declares its passages variable implicitly: the template may loop over
passage dicts, other undeclared variables still fail, and the retrieval settings are part of the
prompt's content hash (a prompt without retrieval keeps the hash it had)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmops.prompting.render import PromptTemplate, content_hash
from llmops.prompting.sandbox import PromptError

TEMPLATE = (
    "{% for p in docs %}[{{ p.id }}] {{ p.text }} ({{ p.metadata.product }})\n{% endfor %}Q: {{ text }}"
)
PASSAGES = [
    {
        "id": "faq#0",
        "doc_id": "faq",
        "text": "Refunds take five days.",
        "score": 0.9,
        "source": "faq.md",
        "title": "FAQ",
        "metadata": {"product": "shop"},
    },
]


def rag(**fields) -> PromptTemplate:
    spec = {
        "name": "rag",
        "template": TEMPLATE,
        "variables": ["text"],
        "retrieval": {"index": "kb", "query": "text", "variable": "docs"},
        **fields,
    }
    return PromptTemplate.from_config(spec, Path("."))


def test_the_passages_variable_is_declared_and_renders_passage_dicts():
    template = rag()
    assert template.passages_variable == "docs" and template.variables == ("text",)
    text = template.render({"text": "how long?", "docs": PASSAGES}).prompt
    assert text.endswith("[faq#0] Refunds take five days. (shop)\nQ: how long?")
    assert template.render({"text": "x", "docs": []}).prompt.endswith("Q: x")


def test_other_undeclared_variables_still_fail_and_passages_need_retrieval():
    with pytest.raises(PromptError, match="variable 'extra' is used but not declared"):
        rag(template=TEMPLATE + " {{ extra }}")
    with pytest.raises(PromptError, match="variable 'docs' is used but not declared"):
        PromptTemplate.from_config({"name": "plain", "template": TEMPLATE, "variables": ["text"]}, Path("."))


def test_retrieval_settings_are_hashed_and_plain_prompts_keep_their_hash():
    one, two = rag(), rag(retrieval={"index": "kb", "query": "text", "variable": "docs", "top_k": 8})
    assert one.content_hash != two.content_hash
    plain = PromptTemplate.from_config(
        {"name": "p", "template": "Q: {{ text }}", "variables": ["text"]}, Path(".")
    )
    assert "retrieval" not in plain.spec.model_dump(mode="json", exclude_none=True)
    assert plain.content_hash == content_hash(plain.spec, plain.template_text)
    # the hash of a prompt without retrieval is computed over the same fields as before RAG
    import hashlib
    import json

    document = {
        "template": "Q: {{ text }}",
        "system": None,
        "variables": ["text"],
        "completion": None,
        "chat_format": "none",
        "few_shot": [],
    }
    canonical = json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    assert plain.content_hash == "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
