"""The review stage: `review-<policy>` reviews every tuned model its Policy guards.

For each model: bias probes (`bias`), security probes (`probes`) and a leakage scan over every
answer (`leakage`), provenance and license checks (`provenance`), then a model card (`card`) and
`review.json` with every probe, answer (PII and leaked secrets redacted) and verdict. The
metrics file holds, per model, exactly what the gate reads: `bias_gap`, `leaked_secrets`,
`refusal_rate`, `license_allowed`, `licenses`, `probes`.

Generation is greedy (temperature 0), so a rerun on the same model gives the same review. The
probes go to the model as plain text: the card records the prompt's hash, not its template.
Every model is reviewed before anything is written; the review folder is swapped in whole and
the metrics file replaced atomically, so a failure leaves the previous outputs alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.atomic import replace_dir, write_text
from llmops.compiler.catalog import spec_of_stage, stage_name
from llmops.compiler.kinds.common import ModelRef
from llmops.compiler.kinds.evalsuite import Generation
from llmops.compiler.stages.model import PathModel
from llmops.errors import StageFailed
from llmops.pii.detect import redact
from llmops.runners.review import bias, leakage, probes, provenance
from llmops.runners.review.card import render
from llmops.runners.review.probes import Generate, Probe

if TYPE_CHECKING:
    from llmops.compiler.kinds.policy import Review
    from llmops.compiler.stages.review import ReviewConfig

GENERATION = Generation(max_new_tokens=48, temperature=0.0, top_p=1.0, stop=[], batch_size=8)
SEED = 0

Loader = Callable[[str, Path], Generate]


def run(config: ReviewConfig, root: Path, *, load: Loader | None = None) -> dict[str, Any]:
    """`load(model folder, root)` gives the generation function; tests pass a fake one."""
    stage, outputs, models = config.stage, config.outputs, config.inputs.models
    settings = config.spec.review
    if settings is None:
        raise StageFailed(f"{stage}: the policy has no review section; run `llmops compile`")
    if not models:
        raise StageFailed(f"{stage}: the policy guards no tuned model, so there is nothing to review")
    probe_set = probes.builtin_probes() + probes.project_probes(settings.security_probes, root)
    metrics_dir = (root / outputs.metrics[0]).parent if outputs.metrics else root / "metrics"
    load = load or load_transformers

    reviews = {}
    for name, folder in sorted(models.items()):
        generate = load(folder, root)
        reviews[name] = review_model(name, folder, settings, probe_set, generate, root, metrics_dir)

    document = {"models": {name: summary(r) for name, r in reviews.items()}}
    with replace_dir(root / outputs.outs[0]) as staging:
        for name, review in reviews.items():
            (staging / name).mkdir()
            (staging / name / "README.md").write_text(render(name, review, settings), encoding="utf-8")
            (staging / name / "review.json").write_text(_dump(redacted(review)), encoding="utf-8")
    for path in outputs.metrics:
        write_text(root / path, _dump(document))
    return document


def review_model(
    name: str,
    folder: str,
    settings: Review,
    probe_set: Sequence[Probe],
    generate: Generate,
    root: Path,
    metrics_dir: Path,
) -> dict[str, Any]:
    from llmops.hf.loading import read_card

    card = read_card(root / folder)
    if card is None:
        raise StageFailed(f"model {name}: {folder} has no llmops-model.json; run its tune stage first")
    gap, cases = bias.run_bias(settings.bias.templates, settings.bias.swaps, generate)
    records = probes.run_probes(probe_set, generate)

    planted = leakage.canaries(leakage.training_files(card.get("data") or {}), root)
    scanned = [*records]
    for case in cases:
        for prompt, output in zip(case["prompts"], case["outputs"], strict=True):
            scanned.append({"prompt": prompt, "output": output, "case": case})
    totals = leakage.scan(scanned, planted)
    for record in scanned[len(records) :]:
        record["case"].setdefault("leaked", []).extend(record["leaked"])
    for record in records:
        record["passed"] = record["refused"] if record["expect"] == "refuse" else not record["leaked"]

    return {
        "model": name,
        "folder": folder,
        "card": card,
        "require_refusal": settings.require_refusal,
        "bias": {"bias_gap": round(gap, 6), "cases": cases},
        "security": {
            "probes": len(records),
            "sources": sorted({r["source"] for r in records}),
            "refusal_rate": probes.refusal_rate(records),
            "leaked_secrets": totals["leaked_secrets"],
            "canaries": totals["canaries"],
            "canaries_leaked": totals["canaries_leaked"],
            "pii_in_outputs": totals["pii_in_outputs"],
            "pii_kinds": totals["pii_kinds"],
            "records": records,
        },
        "provenance": provenance_of(card, folder, settings.licenses_allowed, root),
        "evaluations": evaluations(name, metrics_dir),
        "generation": GENERATION.model_dump(mode="json", exclude={"seed", "engine"}),
        "_secrets": totals["_values"],
    }


def provenance_of(card: dict[str, Any], folder: str, allowed: list[str], root: Path) -> dict[str, Any]:
    base = provenance.base_location(card)
    licenses = {
        "base_model": provenance.base_license(base, root),
        "data": provenance.data_licenses(card.get("data") or {}, root),
    }
    ok, problems = provenance.check(licenses, allowed)
    base_dir = root / base.path if isinstance(base, PathModel) else None
    return {
        "licenses": licenses,
        "licenses_allowed": list(allowed),
        "license_allowed": ok,
        "license_problems": problems,
        "model_files": provenance.model_hashes(root / folder),
        "base_files": provenance.model_hashes(base_dir) if base_dir and base_dir.is_dir() else {},
        "data": provenance.data_hashes(card.get("data") or {}, root),
    }


def evaluations(name: str, metrics_dir: Path) -> dict[str, dict[str, Any]]:
    """This model's figures from every `eval-*.json` that names it (`finetune:<name>`, or the
    bare name), intervals left out."""
    found: dict[str, dict[str, Any]] = {}
    for file in sorted(metrics_dir.glob(f"{stage_name('eval', '*')}.json")):
        suite = spec_of_stage("eval", file.stem)
        if suite is None:
            continue
        try:
            document = json.loads(file.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        scored = (document.get("models") or {}) if isinstance(document, dict) else {}
        label = ModelRef(finetune=name).label
        figures = scored.get(label, scored.get(name)) if isinstance(scored, dict) else None
        if isinstance(figures, dict):
            found[suite] = {
                k: v for k, v in sorted(figures.items()) if not k.endswith(("_ci_low", "_ci_high"))
            }
    return found


def summary(review: dict[str, Any]) -> dict[str, Any]:
    sec, prov = review["security"], review["provenance"]
    return {
        "bias_gap": review["bias"]["bias_gap"],
        "leaked_secrets": sec["leaked_secrets"],
        "refusal_rate": sec["refusal_rate"],
        "license_allowed": prov["license_allowed"],
        "licenses": prov["licenses"],
        "probes": sec["probes"] + sum(len(c["prompts"]) for c in review["bias"]["cases"]),
        "pii_in_outputs": sec["pii_in_outputs"],
    }


def redacted(review: dict[str, Any]) -> dict[str, Any]:
    """What `review.json` holds: the review with PII and leaked secrets masked in every text."""
    secrets = sorted(review["_secrets"], key=len, reverse=True)

    def clean(text: str) -> str:
        for value in secrets:
            text = text.replace(value, "[SECRET]")
        return redact(text)[0]

    security = dict(review["security"])
    security["records"] = [
        {**r, "prompt": clean(r["prompt"]), "output": clean(r["output"]), "leaked": len(r["leaked"])}
        for r in security["records"]
    ]
    cases = [
        {
            **c,
            "prompts": [clean(p) for p in c["prompts"]],
            "outputs": [clean(o) for o in c["outputs"]],
            "leaked": len(c.get("leaked", [])),
        }
        for c in review["bias"]["cases"]
    ]
    out = {k: v for k, v in review.items() if k not in ("_secrets", "card")}
    return {**out, "bias": {**review["bias"], "cases": cases}, "security": security}


def load_transformers(folder: str, root: Path) -> Generate:
    """Greedy generation with the tuned model (an adapter comes back merged into its base)."""
    from llmops.compiler.stages.model import PathModel
    from llmops.hf.generate import generate_transformers
    from llmops.hf.loading import load_causal_lm, load_tokenizer, resolve_location

    name, revision = resolve_location(PathModel(path=folder), root)
    tokenizer = load_tokenizer(name, revision)
    model = load_causal_lm(name, revision, root)

    def generate(prompts: Sequence[str]) -> list[str]:
        return generate_transformers(model, tokenizer, list(prompts), GENERATION, SEED).predictions

    return generate


def _dump(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
