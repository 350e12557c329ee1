"""Add retrieved passages to prompt rows: one code path for the prompt, tune and eval runners
and the gateway, so what is evaluated is what is trained and what is served.

Each row's query is the value of the retrieval's `query` variable; its filters are the static
`filters` plus, per row, `filter_from` (metadata key -> the row variable holding the value; a
row without that value is not filtered on that key). Rows are searched in batches (one encode
per batch). The passages go into the row under `variable` as the template dicts of
`Passage.as_dict()`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmops.errors import StageFailed
from llmops.retrieval.retriever import Passage, Retriever

BATCH = 256  # rows per encode + search call


def _get(obj: Any, key: str, default: Any = None) -> Any:
    value = obj.get(key, default) if isinstance(obj, dict) else getattr(obj, key, default)
    return default if value is None else value


class Augmenter:
    """A prompt's `retrieval` block bound to its opened index."""

    def __init__(
        self,
        retrieval: Any,
        index_dir: Path | str | None,
        root: Path,
        retriever: Retriever | None = None,
        device: str | None = "auto",
    ) -> None:
        """`retrieval` is the Prompt's `Retrieval` model or a dict of its fields; `index_dir` the
        index folder (the stage config's `inputs.retrieval_index`, relative to `root` or absolute).
        Pass an already opened `retriever` to share one between augmenters."""
        self.index = str(_get(retrieval, "index", ""))
        self.query = str(_get(retrieval, "query", "text"))
        self.top_k = int(_get(retrieval, "top_k", 4))
        self.filters = dict(_get(retrieval, "filters", {}) or {})
        self.filter_from = dict(_get(retrieval, "filter_from", {}) or {})
        self.min_score = _get(retrieval, "min_score")
        self.variable = str(_get(retrieval, "variable", "passages"))
        if retriever is None:
            if not index_dir:
                raise StageFailed(
                    f"retrieval.index {self.index}: the stage config has no `retrieval_index` folder; "
                    "recompile with `llmops compile`"
                )
            folder = Path(index_dir)
            folder = folder if folder.is_absolute() else Path(root) / folder
            retriever = Retriever.open(folder, root, device=device, rerank=_get(retrieval, "rerank"))
        self.retriever = retriever

    def query_of(self, row: dict[str, Any], number: int = 0) -> str:
        """The row's query text; a row without the query variable is an error naming it."""
        if self.query not in row:
            raise StageFailed(
                f"retrieval.query: row {number} has no variable {self.query!r} (it has "
                f"{', '.join(sorted(map(str, row))) or 'none'}); name a variable every row has"
            )
        value = row[self.query]
        return "" if value is None else str(value)

    def filters_of(self, row: dict[str, Any]) -> dict[str, Any]:
        """Static filters plus this row's `filter_from` values (missing/None: not filtered)."""
        filters = dict(self.filters)
        for key, variable in self.filter_from.items():
            value = row.get(variable)
            if value is not None:
                filters[key] = value
        return filters

    def retrieve(self, rows: list[dict[str, Any]]) -> list[list[Passage]]:
        """The passages of each row, batched; an empty query retrieves nothing."""
        found: list[list[Passage]] = []
        for start in range(0, len(rows), BATCH):
            batch = rows[start : start + BATCH]
            queries = [self.query_of(row, start + i) for i, row in enumerate(batch)]
            asked = [i for i, q in enumerate(queries) if q.strip()]
            results: list[list[Passage]] = [[] for _ in batch]
            if asked:
                searched = self.retriever.search_many(
                    [queries[i] for i in asked],
                    self.top_k,
                    [self.filters_of(batch[i]) or None for i in asked],
                    self.min_score,
                )
                for i, passages in zip(asked, searched, strict=True):
                    results[i] = passages
            found.extend(results)
        return found

    def augment(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each row (a new dict) plus `{variable: [passage dicts]}`; the input rows are unchanged."""
        return [
            {**row, self.variable: [p.as_dict() for p in passages]}
            for row, passages in zip(rows, self.retrieve(rows), strict=True)
        ]

    def passage_ids(self, row: dict[str, Any]) -> list[str]:
        """The ids of the passages an augmented row carries (for predictions and logs)."""
        return [str(p["id"]) for p in row.get(self.variable) or []]

    def close(self) -> None:
        self.retriever.close()
