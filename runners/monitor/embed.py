"""Embedding drift: live inputs against training inputs in the deployed model's own space.

Each text becomes the mean of the model's last hidden states over its tokens, L2-normalised;
the drift is the (biased) squared maximum mean discrepancy between the two sets with a Gaussian
kernel whose width is the median pairwise distance (the usual median heuristic). It is 0 for the
same distribution and at most 2; it is reported capped at 1 so it sits on the same 0..1 scale as
the other drift distances. The cosine distance of the two mean embeddings is reported as well.

Everything heavy (torch, transformers, the model) loads here and only here, and only when the
model is on disk: when it is not, or torch is missing, the result says why it was skipped.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from llmops.compiler.stages.model import HubModel, ModelLocation, PathModel

MAX_TEXTS = 256  # per side: bounds the cost of a monitoring job on a CPU runner
MAX_TOKENS = 256


def sample(texts: list[str], limit: int = MAX_TEXTS) -> list[str]:
    """At most `limit` texts, evenly spaced: deterministic for the same input."""
    if len(texts) <= limit:
        return list(texts)
    step = len(texts) / limit
    return [texts[int(i * step)] for i in range(limit)]


def mmd_rbf(x: Any, y: Any) -> float:
    """Biased MMD^2 of two (n, d) torch tensors with a median-heuristic Gaussian kernel."""
    import torch

    both = torch.cat([x, y])
    d2 = torch.cdist(both, both).pow(2)
    off = d2[~torch.eye(len(both), dtype=torch.bool)]
    median = float(off.median()) if off.numel() else 0.0
    gamma = 1.0 / median if median > 0 else 1.0
    k = torch.exp(-gamma * d2)
    n = len(x)
    kxx, kyy, kxy = k[:n, :n].mean(), k[n:, n:].mean(), k[:n, n:].mean()
    return max(float(kxx + kyy - 2 * kxy), 0.0)


def embedding_drift(where: ModelLocation | None, root: Path, reference: list[str], live: list[str]) -> dict:
    """{"status": "computed", "mmd", "cosine_distance", ...} or {"status": "skipped", "reason"}."""
    if not isinstance(where, PathModel | HubModel):
        return _skipped("the deployment names no model this stage can load")
    if isinstance(where, PathModel) and not (root / where.path).is_dir():
        return _skipped(f"model folder {where.path} is not on disk (dvc pull it to measure this)")
    if not reference or not live:
        return _skipped("no training inputs or no live inputs to compare")
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as exc:
        return _skipped(f"{exc.name} is not installed")
    from llmops.errors import StageFailed
    from llmops.hf.loading import load_causal_lm, load_tokenizer, resolve_location

    try:
        name, revision = resolve_location(where, root)
        tokenizer = load_tokenizer(name, revision)
        model = load_causal_lm(name, revision, root)
    except StageFailed as exc:
        return _skipped(str(exc))
    model.eval()
    if torch.cuda.is_available():  # a monitoring job on the deployment's GPU runner
        model.to("cuda")
    ref, cur = sample(reference), sample(live)
    x, y = _embed(model, tokenizer, ref), _embed(model, tokenizer, cur)
    cos = float((x.mean(0) @ y.mean(0)) / (x.mean(0).norm() * y.mean(0).norm() + 1e-12))
    mmd = mmd_rbf(x, y)
    return {
        "status": "computed",
        "mmd": round(min(mmd, 1.0), 6),
        "cosine_distance": round(max(0.0, 1.0 - cos), 6),
        "reference_n": len(ref),
        "live_n": len(cur),
        "model": where.path if isinstance(where, PathModel) else where.hub,
        "device": str(model.device),
    }


def _embed(model: Any, tokenizer: Any, texts: list[str], batch_size: int = 16) -> Any:
    import torch

    out = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(
                texts[start : start + batch_size],
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=MAX_TOKENS,
            ).to(model.device)
            hidden = model(**batch, output_hidden_states=True).hidden_states[-1].float()
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            out.append(torch.nn.functional.normalize(pooled, dim=-1).cpu())
    result = torch.cat(out)
    if not math.isfinite(float(result.sum())):
        result = torch.nan_to_num(result)
    return result


def _skipped(reason: str) -> dict[str, Any]:
    return {"status": "skipped", "reason": reason}
