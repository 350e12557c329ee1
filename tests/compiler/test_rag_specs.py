"""Retrieval-augmented generation in the spec language: the KnowledgeIndex kind, a Prompt's
`retrieval`, RAG metrics and monitoring thresholds, each mistake refused at file:line with its fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from llmops.compiler.kinds.knowledge_index import (
    Chunking,
    DocumentSource,
    Embedding,
    IndexEngine,
    KnowledgeIndex,
)
from llmops.compiler.kinds.policy import Policy
from llmops.compiler.kinds.prompt import Retrieval
from llmops.compiler.parse import load_project, parse_project_file, parse_specs
from llmops.compiler.resolve import resolve
from llmops.errors import SpecError

RAG = Path(__file__).resolve().parents[1] / "fixtures" / "projects" / "rag"
MODEL = {"path": "models/mini"}


@pytest.mark.parametrize(
    ("model", "fields", "message"),
    [
        (Chunking, {"size": 64, "overlap": 64}, r"overlap \(64\) must be below size \(64\)"),
        (IndexEngine, {"type": "pgvector"}, "names dsn_env"),
        (IndexEngine, {"dsn_env": "DSN"}, "only go with type: pgvector"),
        (Embedding, {"model": MODEL, "sha256": {"../x": "0" * 64}}, "sha256"),
        (Embedding, {"model": MODEL, "sha256": {"/etc/x": "0" * 64}}, "sha256"),
        (Embedding, {"model": MODEL, "sha256": {"model.safetensors": "abc"}}, "sha256"),
        (Embedding, {"model": {"hub": "org/m"}}, "pinned revision"),
        (Embedding, {"model": {"path": "m", "hub": "org/m", "revision": "a"}}, "exactly one of path or hub"),
        (DocumentSource, {"path": "kb", "dataset": "faq"}, "exactly one of path or dataset"),
        (DocumentSource, {"path": "kb", "split": "test"}, "split only go with a dataset source"),
        (DocumentSource, {"dataset": "faq", "format": "pdf"}, "format only go with a path source"),
        (DocumentSource, {"path": "kb/*.md", "fields": {"text": "body"}}, "JSON lines"),
        (
            Retrieval,
            {"index": "kb", "query": "q", "top_k": 8, "rerank": {"model": MODEL, "candidates": 4}},
            "rerank at least top_k",
        ),
        (Retrieval, {"index": "kb", "query": "q", "top_k": 101}, "less than or equal to 100"),
    ],
)
def test_models_refuse_what_no_index_could_build(model, fields, message):
    with pytest.raises(ValidationError, match=message):
        model.model_validate(fields)


def test_defaults_and_what_the_stage_config_records():
    index = KnowledgeIndex.model_validate(
        {
            "kind": "KnowledgeIndex",
            "name": "support-kb",
            "documents": [{"path": "kb/faq.jsonl", "fields": {"text": "body"}}],
            "embedding": {"model": MODEL, "sha256": {"1_Pooling/config.json": "a" * 64}},
        }
    )
    assert (index.chunking.strategy, index.chunking.size, index.chunking.overlap, index.chunking.unit) == (
        "heading",
        256,
        32,
        "tokens",
    )
    assert (index.engine.type, index.engine.index, index.engine.metric) == ("faiss", "hnsw", "cosine")
    assert (index.engine.hnsw.m, index.engine.hnsw.ef_construction, index.engine.hnsw.ef_search) == (
        32,
        200,
        128,
    )
    assert (index.embedding.batch_size, index.embedding.normalize, index.embedding.device) == (
        64,
        True,
        "auto",
    )
    assert index.table == "llmops_kb_support_kb"
    retrieval = Retrieval(index="support-kb", query="text")
    assert (retrieval.top_k, retrieval.variable, retrieval.min_score, retrieval.rerank) == (
        4,
        "passages",
        None,
        None,
    )


def test_policy_monitoring_takes_retrieval_thresholds():
    base = {"kind": "Policy", "name": "p"}
    policy = Policy.model_validate(
        {**base, "monitoring": {"max_empty_retrieval_rate": 0.1, "max_p95_retrieval_ms": 300}}
    )
    assert policy.monitoring == {"max_empty_retrieval_rate": 0.1, "max_p95_retrieval_ms": 300.0}
    with pytest.raises(ValidationError, match="between 0 and 1"):
        Policy.model_validate({**base, "monitoring": {"max_empty_retrieval_rate": 5}})


INDEX = """kind: KnowledgeIndex
name: support-kb
documents: [{path: kb/*.md}]
embedding: {model: {path: models/mini}}
metadata_fields: [product, topic]
"""
PROMPT = """kind: Prompt
name: answer
template: "{{ question }}"
variables: [question, label]
completion: answer
retrieval:
  index: support-kb
  query: questoin
  filters: {prodcut: shop}
  filter_from: {topic: lable}
  variable: label
"""
SUITE = """kind: EvalSuite
name: plain
models: [{path: models/m}]
dataset: faq
prompt: plain
metrics: [{name: rouge}, {name: recall, args: {k: 5, gold: answer}}]
"""
PLAIN = """kind: Prompt
name: plain
template: "{{ question }}"
variables: [question]
"""
DATASET = "kind: Dataset\nname: faq\nsources: [{path: faq.jsonl}]\n"


def _errors(sources: dict[str, str]) -> list[tuple]:
    project, _ = parse_project_file("kind: Project\nname: demo\n")
    parsed = parse_specs(project, sources)
    assert not parsed.errors, parsed.errors
    with pytest.raises(SpecError) as caught:
        resolve(parsed)
    return [(d.file, d.line, d.field, d.message, d.hint) for d in caught.value.diagnostics]


def test_retrieval_mistakes_are_reported_at_file_and_line():
    found = _errors(
        {
            "specs/kb.yaml": INDEX,
            "specs/answer.yaml": PROMPT,
            "specs/plain.yaml": PLAIN,
            "specs/suite.yaml": SUITE,
            "specs/faq.yaml": DATASET,
        }
    )
    assert found == [
        (
            "specs/answer.yaml",
            8,
            "retrieval.query",
            "query names 'questoin', which is not one of the prompt's variables ['question', 'label']",
            "did you mean 'question'?",
        ),
        (
            "specs/answer.yaml",
            9,
            "retrieval.filters.prodcut",
            "KnowledgeIndex 'support-kb' cannot filter on 'prodcut': "
            "its metadata_fields are ['product', 'topic']",
            "did you mean 'product'?",
        ),
        (
            "specs/answer.yaml",
            10,
            "retrieval.filter_from.topic",
            "filter_from.topic names 'lable', "
            "which is not one of the prompt's variables ['question', 'label']",
            "did you mean 'label'?",
        ),
        (
            "specs/answer.yaml",
            11,
            "retrieval.variable",
            "the passages variable 'label' is also a declared variable",
            "the passages are declared implicitly: "
            "name them differently (`variable: passages`) or rename the column",
        ),
        (
            "specs/suite.yaml",
            6,
            "metrics[1].name",
            "metric recall scores retrieved passages, but Prompt 'plain' has no `retrieval`",
            "add a `retrieval` block to specs/plain.yaml, or remove the metric",
        ),
    ]


def test_an_unknown_index_is_an_unknown_reference():
    prompt = PROMPT.replace("index: support-kb", "index: support-bk").replace("questoin", "question")
    prompt = prompt.replace("lable", "label").replace("variable: label", "variable: passages")
    found = _errors({"specs/kb.yaml": INDEX, "specs/answer.yaml": prompt})
    assert found[0][:4] == ("specs/answer.yaml", 7, "retrieval.index", "unknown KnowledgeIndex 'support-bk'")
    assert found[0][4] == "did you mean 'support-kb'?"


def test_a_deployment_names_a_known_prompt():
    deployment = "kind: Deployment\nname: d\nmodel: {path: m}\nenvironment: prod\nprompt: answr\n"
    found = _errors({"specs/plain.yaml": PLAIN.replace("plain", "answer"), "specs/d.yaml": deployment})
    assert found == [("specs/d.yaml", 5, "prompt", "unknown Prompt 'answr'", "did you mean 'answer'?")]


def _stages():
    from llmops.compiler.compile import plan_graph

    _, graph = plan_graph(load_project(RAG))
    return {s.name: s for s in graph.order}


def test_every_stage_that_renders_a_retrieving_prompt_depends_on_the_index():
    stages = _stages()
    index = stages["index-support-kb"]
    assert index.deps == ("artifacts/datasets/faq", "knowledge", "models/all-MiniLM-L6-v2")
    assert index.upstream == ("data-faq",)
    assert index.config.inputs.datasets == {"faq": "artifacts/datasets/faq"}
    for name in ("prompt-answer", "tune-tiny", "eval-grounded", "deploy-support", "monitor-support"):
        stage = stages[name]
        assert "artifacts/indexes/support-kb" in stage.deps, name
        assert stage.config.inputs.retrieval_index == "artifacts/indexes/support-kb", name
        if name != "monitor-support":  # a workflow job after deploy: it reads what the deploy served
            assert "index-support-kb" in stage.upstream, name
    deploy = stages["deploy-support"].config.inputs
    assert deploy.prompt.retrieval.index == "support-kb" and deploy.prompt.name == "answer"
    assert stages["monitor-support"].config.inputs.prompt.name == "answer"
    thresholds = {t.threshold: t.limit for t in stages["monitor-support"].config.inputs.thresholds}
    assert thresholds["max_empty_retrieval_rate"] == 0.05 and thresholds["max_p95_retrieval_ms"] == 250


def test_jobs_that_retrieve_install_the_rag_extra():
    from llmops.compiler.emit.workflows import runner_extras

    stages = _stages()
    assert {name for name, s in stages.items() if "rag" in runner_extras(s)} == {
        "index-support-kb",
        "prompt-answer",
        "tune-tiny",
        "eval-grounded",
        "deploy-support",
        "monitor-support",
    }


def test_stages_without_retrieval_record_no_retrieval_fields():
    """A prompt without `retrieval` and a deployment without `prompt` write the configs they
    wrote before, so upgrading llmops reruns nothing."""
    full = Path(__file__).resolve().parents[1] / "fixtures" / "projects" / "full"
    from llmops.compiler.compile import plan_graph

    _, graph = plan_graph(load_project(full))
    for stage in graph.order:
        text = str(stage.params())
        assert "retrieval" not in text and "'prompt': None" not in text, stage.name


def test_names_from_langchain_and_llamaindex_get_hints():
    project, _ = parse_project_file("kind: Project\nname: demo\n")
    index = INDEX.replace("metadata_fields: [product, topic]\n", "chunking: {chunk_size: 128}\n")
    prompt = PLAIN + "retrieval: {index: support-kb, query: question, similarity_top_k: 3}\n"
    parsed = parse_specs(project, {"specs/kb.yaml": index, "specs/plain.yaml": prompt})
    hints = {d.field: d.hint for d in parsed.errors}
    assert hints["chunking.chunk_size"].startswith("did you mean 'size'?")
    assert hints["retrieval.similarity_top_k"].startswith("did you mean 'top_k'?")


def test_a_ranked_metric_reads_no_more_passages_than_the_prompt_retrieves():
    prompt = PLAIN + "retrieval: {index: support-kb, query: question, top_k: 3}\n"
    suite = SUITE.replace(
        "{name: recall, args: {k: 5, gold: answer}}", "{name: mrr, args: {k: 5, gold: answer}}"
    )
    found = _errors(
        {
            "specs/kb.yaml": INDEX,
            "specs/plain.yaml": prompt,
            "specs/suite.yaml": suite,
            "specs/faq.yaml": DATASET,
        }
    )
    assert found == [
        (
            "specs/suite.yaml",
            6,
            "metrics[1].args.k",
            "mrr k must be a whole number from 1 to the prompt's top_k (3), got 5",
            "lower k, or raise retrieval.top_k in specs/plain.yaml",
        )
    ]


def test_a_local_reranker_is_a_dependency_of_what_renders_the_prompt(fixture_project):
    from llmops.compiler.compile import plan_graph

    root = fixture_project("rag")
    spec = root / "specs/answer.yaml"
    spec.write_text(spec.read_text() + "  rerank: {model: {path: models/reranker}, candidates: 10}\n")
    _, graph = plan_graph(load_project(root))
    for name in ("prompt-answer", "eval-grounded", "deploy-support"):
        assert "models/reranker" in graph.stage(name).deps, name


# -- RAG metric arguments are checked at validate, not when the eval runs ------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ({"k": 2}, "exactly one of gold_column"),
        ({"k": 2, "gold": "answer", "gold_column": "doc"}, "exactly one of gold_column"),
        ({"gold": "question"}, "gold takes only the value answer"),
        ({"gold": "answer", "top": 3}, "takes no argument top"),
        ({"gold": "answer", "k": 0}, "k is a whole number"),
    ],
)
def test_ranked_rag_metric_arguments_are_refused_with_the_fix(args, says):
    from pydantic import ValidationError

    from llmops.compiler.kinds.evalsuite import Metric

    with pytest.raises(ValidationError, match=says):
        Metric(name="recall", args=args)


def test_judge_faithfulness_names_its_endpoint_and_model():
    from pydantic import ValidationError

    from llmops.compiler.kinds.evalsuite import Metric

    with pytest.raises(ValidationError, match="judge_url_env and judge_model"):
        Metric(name="faithfulness", args={"method": "judge"})
    with pytest.raises(ValidationError, match="method is one of overlap, embedding"):
        Metric(name="context_relevance", args={"method": "judge"})
    assert Metric(name="faithfulness", args={"method": "judge", "judge_url_env": "J", "judge_model": "m"})
