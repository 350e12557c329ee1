"""Cross-spec rules of retrieval-augmented prompts, checked with the references at `resolve`.

A single model cannot check them: which metadata a Prompt may filter on is the
KnowledgeIndex's `metadata_fields`, and whether a suite's RAG metric has passages to score is
its Prompt's `retrieval`. Each error points at the offending value with the fix, so a typo
fails `llmops validate` instead of an index or eval job minutes later.
"""

from __future__ import annotations

from llmops.compiler.diagnose import suggest
from llmops.compiler.kinds.evalsuite import RAG_METRICS
from llmops.compiler.parse import SpecFile
from llmops.errors import Diagnostic

Specs = dict[str, dict[str, SpecFile]]
RANKED = ("recall", "hit_rate", "mrr")  # metrics over the first k passages (args.k)


def retrieval_consistency(sf: SpecFile, by_kind: Specs) -> list[Diagnostic]:
    if sf.kind == "Prompt" and sf.spec.retrieval is not None:
        return _prompt(sf, by_kind)
    if sf.kind == "EvalSuite":
        return _suite(sf, by_kind)
    return []


def _prompt(sf: SpecFile, by_kind: Specs) -> list[Diagnostic]:
    spec = sf.spec
    retrieval = spec.retrieval
    declared = list(spec.variables)
    found: list[Diagnostic] = []

    def undeclared(loc: tuple[str, ...], variable: str, what: str) -> None:
        found.append(
            sf.at(
                "retrieval",
                *loc,
                message=f"{what} names '{variable}', which is not one of the prompt's variables {declared}",
                hint=suggest(variable, set(declared)) or f"add '{variable}' to `variables`",
            )
        )

    if retrieval.query not in declared:
        undeclared(("query",), retrieval.query, "query")
    for key, variable in retrieval.filter_from.items():
        if variable not in declared:
            undeclared(("filter_from", key), variable, f"filter_from.{key}")
    if retrieval.variable in declared or retrieval.variable == spec.completion:
        found.append(
            sf.at(
                "retrieval",
                "variable",
                message=f"the passages variable '{retrieval.variable}' is also a "
                f"{'declared variable' if retrieval.variable in declared else 'completion column'}",
                hint="the passages are declared implicitly: name them differently "
                "(`variable: passages`) or rename the column",
            )
        )
    index = by_kind.get("KnowledgeIndex", {}).get(retrieval.index)
    if index is None:
        return found  # an unknown index is reported with the other references
    fields = list(index.spec.metadata_fields)
    for field in ("filters", "filter_from"):
        for key in getattr(retrieval, field):
            if key not in fields:
                found.append(
                    sf.at(
                        "retrieval",
                        field,
                        key,
                        message=f"KnowledgeIndex '{index.name}' cannot filter on '{key}': its "
                        f"metadata_fields are {fields}",
                        hint=suggest(key, set(fields))
                        or f"add '{key}' to metadata_fields in {index.path}, or remove the filter",
                    )
                )
    return found


def _suite(sf: SpecFile, by_kind: Specs) -> list[Diagnostic]:
    prompt = by_kind.get("Prompt", {}).get(sf.spec.prompt)
    if prompt is None:
        return []
    if prompt.spec.retrieval is not None:
        return _ranks(sf, prompt)
    return [
        sf.at(
            "metrics",
            i,
            "name",
            message=f"metric {metric.name} scores retrieved passages, but Prompt '{prompt.name}' "
            "has no `retrieval`",
            hint=f"add a `retrieval` block to {prompt.path}, or remove the metric",
        )
        for i, metric in enumerate(sf.spec.metrics)
        if metric.name in RAG_METRICS
    ]


def _ranks(sf: SpecFile, prompt: SpecFile) -> list[Diagnostic]:
    """`recall@k`, `hit_rate@k` and `mrr@k` read the first k passages: the prompt must retrieve
    that many, or the figure would silently score fewer."""
    top_k = prompt.spec.retrieval.top_k
    found = []
    for i, metric in enumerate(sf.spec.metrics):
        if metric.name not in RANKED or "k" not in metric.args:
            continue
        k = metric.args["k"]
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= top_k:
            found.append(
                sf.at(
                    "metrics",
                    i,
                    "args",
                    "k",
                    message=f"{metric.name} k must be a whole number from 1 to the prompt's top_k "
                    f"({top_k}), got {k!r}",
                    hint=f"lower k, or raise retrieval.top_k in {prompt.path}",
                )
            )
    return found
