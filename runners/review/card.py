"""The model card: `README.md` in Hugging Face conventions, written from the review's findings.

YAML front matter (license, base_model, datasets, tags, model-index with the tune metrics), then
the usual sections. Scalars in the front matter are JSON strings, which YAML reads as they are,
so no value from a spec or a file can break the block.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from llmops.compiler.stages.model import HubModel, PathModel
from llmops.runners.review.provenance import BUILT, UNKNOWN, base_location

if TYPE_CHECKING:
    from llmops.compiler.kinds.policy import Review


def render(model: str, review: dict[str, Any], settings: Review) -> str:
    """The card of one reviewed model; `settings` is the Policy's review section."""
    card = review["card"]
    prov = review["provenance"]
    return "\n".join(
        [
            front_matter(model, review),
            f"# {model}",
            "",
            *_details(model, card, prov),
            *_intended_use(),
            *_training_data(prov, settings.licenses_allowed),
            *_procedure(card),
            *_evaluation(review["evaluations"]),
            *_bias(review),
            *_security(review, settings.require_refusal),
            *_hashes(prov),
        ]
    )


def front_matter(model: str, review: dict[str, Any]) -> str:
    card, prov = review["card"], review["provenance"]
    base_license = prov["licenses"]["base_model"]
    data_licenses = sorted({v for v in prov["licenses"]["data"].values() if v != UNKNOWN})
    license_ = base_license if base_license not in (BUILT, UNKNOWN) else (data_licenses or ["other"])[0]
    lines = ["---", f"license: {_q(license_.lower() if license_ != 'other' else 'other')}"]
    lines.append(f"base_model: {_q(_base_label(base_location(card)))}")
    datasets = sorted({key.split(":", 1)[0] for key in prov["licenses"]["data"]})
    if datasets:
        lines.append("datasets:")
        lines.extend(f"  - {_q(d)}" for d in datasets)
    method = (card.get("method") or {}).get("type", "unknown")
    lines.append("library_name: " + _q("peft" if card.get("adapter") else "transformers"))
    lines.append("pipeline_tag: " + _q("text-generation"))
    lines.append("tags:")
    lines.extend(f"  - {_q(t)}" for t in ("llmops", method, "text-generation"))
    metrics = sorted((card.get("metrics") or {}).items())
    numbers = {k: v for k, v in metrics if isinstance(v, (int, float)) and not isinstance(v, bool)}
    if numbers:
        lines += [
            "model-index:",
            f"  - name: {_q(model)}",
            "    results:",
            "      - task:",
            f"          type: {_q('text-generation')}",
            "        metrics:",
        ]
        for key, value in numbers.items():
            lines += [f"          - type: {_q(key)}", f"            value: {json.dumps(value)}"]
    lines += ["---", ""]
    return "\n".join(lines)


def _details(model: str, card: dict[str, Any], prov: dict[str, Any]) -> list[str]:
    method = card.get("method") or {}
    return [
        "## Model details",
        "",
        f"- **Name:** `{model}` (stage `{card.get('stage', '?')}`)",
        f"- **Base model:** `{_base_label(base_location(card))}` (license: {prov['licenses']['base_model']})",
        f"- **Method:** {method.get('type', '?')}"
        + (" adapter" if card.get("adapter") else " (full weights)"),
        f"- **Prompt hash:** `{card.get('prompt_hash', '?')}`",
        "- **Built by:** llmops from the specs in this repository; the git history is its audit trail.",
        "",
    ]


def _intended_use() -> list[str]:
    return [
        "## Intended use",
        "",
        "The tasks of the FineTune spec that produced it, behind the project's deployment policies. "
        "It is not reviewed for other uses; see the limitations below.",
        "",
    ]


def _training_data(prov: dict[str, Any], allowed: list[str]) -> list[str]:
    lines = ["## Training data", "", "| data | license | allowed |", "| --- | --- | --- |"]
    problems = " ".join(prov["license_problems"])
    for key, license_ in prov["licenses"]["data"].items():
        ok = "no" if key in problems else "yes"
        lines.append(f"| `{key}` | {license_} | {ok} |")
    lines += ["", f"Licenses allowed by the policy: {', '.join(allowed) or 'none'}.", ""]
    if prov["license_problems"]:
        lines += [*(f"- {p}" for p in prov["license_problems"]), ""]
    return lines


def _procedure(card: dict[str, Any]) -> list[str]:
    lines = ["## Training procedure", "", "| hyperparameter | value |", "| --- | --- |"]
    method = {f"method.{k}": v for k, v in (card.get("method") or {}).items()}
    for key, value in {**method, **(card.get("training") or {})}.items():
        lines.append(f"| `{key}` | {_cell(value)} |")
    return [*lines, ""]


def _evaluation(evaluations: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["## Evaluation", ""]
    if not evaluations:
        return [*lines, "No evaluation suite has scored this model yet.", ""]
    for suite, figures in evaluations.items():
        lines += [f"### {suite}", "", "| metric | value |", "| --- | --- |"]
        lines += [f"| {k} | {_cell(v)} |" for k, v in figures.items()]
        lines.append("")
    return lines


def _bias(review: dict[str, Any]) -> list[str]:
    bias = review["bias"]
    lines = [
        "## Bias, risks and limitations",
        "",
        f"Bias probes: {len(bias['cases'])} swap case(s); largest gap **{bias['bias_gap']:.3f}** "
        "(1 - word-set Jaccard similarity of the answers with the swapped terms masked; 0 = same answer).",
        "",
    ]
    if bias["cases"]:
        lines += ["| template | terms | gap |", "| --- | --- | ---: |"]
        for case in bias["cases"]:
            terms = _cell(" / ".join(case["terms"]))
            lines.append(f"| {_cell(case['template'])} | {terms} | {case['gap']:.3f} |")
        lines.append("")
    lines += [
        "A small tuned model can reproduce its training data and answer off-topic requests with "
        "confident nonsense; these probes sample that, they do not prove its absence.",
        "",
    ]
    return lines


def _security(review: dict[str, Any], require_refusal: bool) -> list[str]:
    sec = review["security"]
    kinds = ", ".join(f"{k}: {v}" for k, v in sec["pii_kinds"].items()) or "none"
    return [
        "## Security review",
        "",
        f"- Probes: {sec['probes']} ({', '.join(sec['sources'])})",
        f"- Refusal rate on probes that expect a refusal: **{sec['refusal_rate']:.3f}**"
        + (" (the policy requires refusals)" if require_refusal else ""),
        f"- Secrets leaked: **{sec['leaked_secrets']}** (planted canaries found in training data: "
        f"{sec['canaries']}, reproduced: {sec['canaries_leaked']})",
        f"- PII in answers: {sec['pii_in_outputs']} ({kinds})",
        "",
        "Every probe, its answer (PII redacted) and its verdict are in `review.json` next to this card.",
        "",
    ]


def _hashes(prov: dict[str, Any]) -> list[str]:
    lines = ["## Hashes", "", "| file | sha256 |", "| --- | --- |"]
    for name, digest in prov["model_files"].items():
        lines.append(f"| model `{name}` | `{digest}` |")
    for name, digest in prov["base_files"].items():
        lines.append(f"| base `{name}` | `{digest}` |")
    for name, entry in prov["data"].items():
        note = "" if entry["matches"] else " (file changed or missing since training)"
        lines.append(f"| data `{name}` | `{entry['sha256']}`{note} |")
    return [*lines, ""]


def _base_label(where: PathModel | HubModel | None) -> str:
    if isinstance(where, PathModel):
        return where.path
    return f"{where.hub}@{where.revision or 'main'}" if isinstance(where, HubModel) else "unknown"


def _q(value: str) -> str:
    return json.dumps(str(value), ensure_ascii=False)


def _cell(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text.replace("|", "\\|").replace("\n", " ")
