"""The index stage's Markdown report: what went in, how it was cut, what the index holds.

Pure text built from the documents, chunks, manifest and metrics, so reruns on the same input
give the same bytes (timings aside, which live in the metrics). Document text is anyone's: every
table cell is escaped and clipped, so a chunk holding `|`, backticks or `<script>` cannot break
the table or inject markup where the report is rendered.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from llmops.markdown_cell import cell
from llmops.retrieval.chunking import Chunk
from llmops.retrieval.documents import Document

SAMPLE_CHARS = 240
SOURCES_SHOWN = 20
SAMPLES_SHOWN = 3


def markdown_report(
    spec: Any,
    documents: list[Document],
    chunks: list[Chunk],
    manifest: dict[str, Any],
    metrics: dict[str, Any],
    cache_note: str,
    long_chunks: int,
) -> str:
    lines = [f"# Index report: {cell(spec.name)}", ""]
    lines += [
        f"{metrics['documents']} documents, {metrics['chunks']} chunks, {metrics['tokens']} tokens; "
        f"{metrics['embedded']} chunks embedded, {metrics['reused']} reused from the previous index"
        + (f" ({cell(cache_note, 120)})" if cache_note else "")
        + ".",
        "",
    ]
    if long_chunks:
        lines += [
            f"**Warning:** {long_chunks} chunks are longer than the model's max_seq_length "
            f"({manifest['embedding']['max_seq_length']} tokens) and are truncated when embedded; "
            "lower `chunking.size`.",
            "",
        ]
    fields = list(getattr(spec, "metadata_fields", None) or [])
    missing = [f for f in fields if not any(f in c.metadata for c in chunks)]
    if missing:
        lines += [
            f"**Warning:** metadata_fields {', '.join(cell(f) for f in missing)} are on no chunk: a "
            "prompt filtering on them retrieves nothing; add them to the sources' `metadata` "
            "(or to front matter, JSONL keys, dataset columns).",
            "",
        ]
    lines += ["## Sources", "", "| source | format | documents | chunks |", "|---|---|---:|---:|"]
    per_doc = Counter(c.source for c in chunks)
    docs_per_source: dict[tuple[str, str], int] = {}
    for doc in documents:
        key = (doc.source, doc.format)
        docs_per_source[key] = docs_per_source.get(key, 0) + 1
    for (source, fmt), count in list(docs_per_source.items())[:SOURCES_SHOWN]:
        lines.append(f"| {cell(source)} | {fmt} | {count} | {per_doc.get(source, 0)} |")
    if len(docs_per_source) > SOURCES_SHOWN:
        lines.append(f"| … {len(docs_per_source) - SOURCES_SHOWN} more | | | |")
    lines += ["", "## Chunks", ""]
    if chunks:
        sizes = sorted(c.tokens for c in chunks)
        longest = max(chunks, key=lambda c: (c.tokens, c.id))
        shortest = min(chunks, key=lambda c: (c.tokens, c.id))
        chunking = manifest.get("chunking", {})
        lines += [
            f"Strategy {cell(chunking.get('strategy'))}, size {chunking.get('size')} "
            f"{chunking.get('unit')}, overlap {chunking.get('overlap')}.",
            "",
            "| | tokens | chunk |",
            "|---|---:|---|",
            f"| longest | {longest.tokens} | {cell(longest.id)} |",
            f"| median | {sizes[len(sizes) // 2]} | |",
            f"| shortest | {shortest.tokens} | {cell(shortest.id)} |",
            "",
            "### Samples",
            "",
            "| chunk | heading | text |",
            "|---|---|---|",
        ]
        step = max(1, len(chunks) // SAMPLES_SHOWN)
        for chunk in chunks[::step][:SAMPLES_SHOWN]:
            lines.append(f"| {cell(chunk.id)} | {cell(chunk.heading)} | {cell(chunk.text, SAMPLE_CHARS)} |")
    embedding = manifest.get("embedding", {})
    model = embedding.get("model", {})
    lines += [
        "",
        "## Index",
        "",
        "| fact | value |",
        "|---|---|",
        f"| model | {cell(model.get('path') or model.get('hub'))} {cell(model.get('revision') or '')} |",
        f"| dimensions | {embedding.get('dimensions')} |",
        f"| normalize | {embedding.get('normalize')} |",
        f"| max_seq_length | {embedding.get('max_seq_length')} |",
        f"| engine | {cell(_engine(manifest.get('engine')))} |",
        f"| chunks_sha256 | `{manifest.get('chunks_sha256')}` |",
        f"| vectors_sha256 | `{manifest.get('vectors_sha256')}` |",
        f"| llmops | {cell(manifest.get('llmops_version'))} |",
        "",
    ]
    return "\n".join(lines)


def _engine(engine: Any) -> str:
    if not isinstance(engine, dict):
        return str(engine)
    parts = [str(engine.get("type", "")), str(engine.get("index", "")), str(engine.get("metric", ""))]
    return " ".join(p for p in parts if p and p != "None")
