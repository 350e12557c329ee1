"""Vector index benchmark: llmops' FAISS engine against FAISS called directly.

    .venv/bin/python tests/bench/bench_index.py [--n 100000] [--dims 384] [--queries 1000]
        [--m 32] [--ef-construction 200] [--ef-search 128] [--sets clustered,random]
        [--others usearch,sqlite-vec]

Two sets of `n` unit vectors (fixed seeds): `clustered` (points around 200 random centres, so
the nearest neighbours are structured as real embeddings are and HNSW recall means something)
and `random` (uniform on the sphere: the hard case, where every neighbour is almost as far as
any other). For each set:

- indexing throughput (chunks/s): `build_engine` (normalizing copy, HNSW add, `faiss.index`
  written and hashed) against `faiss.IndexHNSWFlat.add` + `write_index` with the same
  parameters; goal: ratio >= 0.9;
- query latency, one query a call, p50/p99: `Retriever.search_vectors` (precomputed query
  vectors: the retriever's search path without the encoder, building `Passage`s) against
  `index.search` on the same FAISS index; goal: overhead < 1 ms/query. Also with a metadata
  filter that keeps 10% of the rows (FAISS `IDSelectorBatch`), against FAISS with the same
  selector built once;
- recall@10 of the HNSW engine against exact search (`IndexFlatIP`); goal >= 0.95 on the
  clustered set (and the filtered recall against exact filtered search).

`--others` adds the same figures for usearch (HNSW) and sqlite-vec (exact scan) when they are
installed (`pip install usearch sqlite-vec`, into the venv only for the bench; neither is an
llmops dependency). Results print as a table; `--json FILE` writes them too.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from llmops.retrieval.engines import build_engine, open_engine
from llmops.retrieval.manifest import write_index_files
from llmops.retrieval.retriever import Retriever

GROUPS = 10  # metadata groups: a filter on one keeps 10% of the rows


def make_set(kind: str, n: int, dims: int, queries: int) -> tuple[np.ndarray, np.ndarray]:
    """(vectors, queries), unit length, float32; deterministic per kind."""
    rng = np.random.default_rng(0 if kind == "random" else 1)
    if kind == "random":
        data = rng.standard_normal((n + queries, dims), dtype=np.float32)
    else:
        centres = rng.standard_normal((200, dims), dtype=np.float32)
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
        which = rng.integers(0, len(centres), n + queries)
        data = centres[which] + rng.standard_normal((n + queries, dims), dtype=np.float32) * (
            0.6 / np.sqrt(dims)
        )
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    return np.ascontiguousarray(data[:n]), np.ascontiguousarray(data[n:])


def exact(x: np.ndarray, q: np.ndarray, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
    import faiss

    base = x if allowed is None else x[allowed]
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(base)
    _, rows = index.search(q, k)
    return rows if allowed is None else allowed[rows]


def recall(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    return float(
        np.mean([len(set(a[:k]) & set(b[:k]) - {-1}) / k for a, b in zip(found, truth, strict=True)])
    )


def latencies(call, queries: np.ndarray) -> tuple[float, float]:
    """p50, p99 in ms of `call(q[i:i+1])`, after 20 warm-up calls."""
    for i in range(min(20, len(queries))):
        call(queries[i : i + 1])
    times = []
    for i in range(len(queries)):
        start = time.perf_counter()
        call(queries[i : i + 1])
        times.append((time.perf_counter() - start) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def bench_llmops(kind: str, x: np.ndarray, q: np.ndarray, args: argparse.Namespace, truth, ftruth, allowed):
    import faiss

    spec = {
        "type": "faiss", "index": "hnsw", "metric": "cosine",
        "hnsw": {"m": args.m, "ef_construction": args.ef_construction, "ef_search": args.ef_search},
    }  # fmt: skip
    chunks = [
        {"id": f"d{i}#0", "doc_id": f"d{i}", "source": "bench", "title": "", "text": f"chunk {i}",
         "metadata": {"g": i % GROUPS}}
        for i in range(len(x))
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        ours_dir, direct_dir = Path(tmp) / "ours", Path(tmp) / "direct"
        ours_dir.mkdir()
        direct_dir.mkdir()
        warm = faiss.IndexHNSWFlat(x.shape[1], args.m, faiss.METRIC_INNER_PRODUCT)
        warm.add(x[:1000])  # threads and allocator warm before either timed build
        start = time.perf_counter()
        index = faiss.IndexHNSWFlat(x.shape[1], args.m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = args.ef_construction
        index.add(x)
        faiss.write_index(index, str(direct_dir / "faiss.index"))
        direct_s = time.perf_counter() - start
        start = time.perf_counter()
        extra = build_engine(spec, x, chunks, ours_dir, "bench")
        ours_s = time.perf_counter() - start
        manifest = write_index_files(
            ours_dir, {"name": "bench", "embedding": {"normalize": True}, **extra}, chunks, x
        )
        engine = open_engine(manifest, ours_dir)
        retriever = Retriever(manifest, chunks, embedder=None, engine=engine)
        index = engine.index  # the same FAISS index for both latency figures
        k = args.k
        p50, p99 = latencies(lambda v: retriever.search_vectors(v, k), q)
        d50, d99 = latencies(lambda v: index.search(v, k), q)
        flt = {"g": 3}
        fp50, fp99 = latencies(lambda v: retriever.search_vectors(v, k, [flt]), q)
        selector = faiss.IDSelectorBatch(allowed)
        params = faiss.SearchParametersHNSW(sel=selector, efSearch=args.ef_search)
        fd50, fd99 = latencies(lambda v: index.search(v, k, params=params), q)
        found = np.array([[p.row for p in r] + [-1] * (k - len(r)) for r in retriever.search_vectors(q, k)])
        ffound = np.array(
            [[p.row for p in r] + [-1] * (k - len(r)) for r in retriever.search_vectors(q, k, [flt] * len(q))]
        )
    n = len(x)
    return {
        "set": kind, "engine": "llmops faiss hnsw", "n": n,
        "build_chunks_per_s": n / ours_s, "direct_chunks_per_s": n / direct_s,
        "build_ratio": direct_s / ours_s,
        "p50_ms": p50, "p99_ms": p99, "direct_p50_ms": d50, "direct_p99_ms": d99,
        "overhead_p50_ms": p50 - d50, "overhead_p99_ms": p99 - d99,
        "filtered_p50_ms": fp50, "filtered_p99_ms": fp99, "direct_filtered_p50_ms": fd50,
        "direct_filtered_p99_ms": fd99, "filtered_overhead_p50_ms": fp50 - fd50,
        "recall@10": recall(found, truth, k), "filtered_recall@10": recall(ffound, ftruth, k),
    }  # fmt: skip


def bench_usearch(kind, x, q, args, truth):
    from usearch.index import Index

    start = time.perf_counter()
    index = Index(ndim=x.shape[1], metric="ip", connectivity=args.m, expansion_add=args.ef_construction,
                  expansion_search=args.ef_search)  # fmt: skip
    index.add(np.arange(len(x)), x)
    build_s = time.perf_counter() - start
    p50, p99 = latencies(lambda v: index.search(v, args.k), q)
    found = index.search(q, args.k).keys
    return {"set": kind, "engine": "usearch hnsw", "n": len(x), "build_chunks_per_s": len(x) / build_s,
            "p50_ms": p50, "p99_ms": p99, "recall@10": recall(np.asarray(found), truth, args.k)}  # fmt: skip


def bench_sqlite_vec(kind, x, q, args, truth):
    import sqlite3

    import sqlite_vec

    db = sqlite3.connect(":memory:")
    if not hasattr(db, "enable_load_extension"):
        print("sqlite-vec: this Python's sqlite3 cannot load extensions; skipped", flush=True)
        return None
    db.enable_load_extension(True)
    sqlite_vec.load(db)
    db.enable_load_extension(False)
    start = time.perf_counter()
    db.execute(f"CREATE VIRTUAL TABLE v USING vec0(embedding float[{x.shape[1]}] distance_metric=cosine)")
    db.executemany(
        "INSERT INTO v(rowid, embedding) VALUES (?, ?)", ((i, x[i].tobytes()) for i in range(len(x)))
    )
    build_s = time.perf_counter() - start
    query = "SELECT rowid FROM v WHERE embedding MATCH ? AND k = ? ORDER BY distance"
    small = q[: max(20, len(q) // 10)]  # an exact scan: fewer queries keep the run short
    p50, p99 = latencies(lambda v: db.execute(query, (v[0].tobytes(), args.k)).fetchall(), small)
    found = np.array([[r[0] for r in db.execute(query, (v.tobytes(), args.k))] for v in small])
    rec = recall(found, truth[: len(small)], args.k)
    return {"set": kind, "engine": "sqlite-vec exact", "n": len(x), "build_chunks_per_s": len(x) / build_s,
            "p50_ms": p50, "p99_ms": p99, "recall@10": rec}  # fmt: skip


def show(results: list[dict], args: argparse.Namespace, seconds: float) -> None:
    cols = [
        ("set", "set", "{}"), ("engine", "engine", "{}"), ("n", "n", "{}"),
        ("build_chunks_per_s", "build c/s", "{:.0f}"), ("direct_chunks_per_s", "faiss c/s", "{:.0f}"),
        ("build_ratio", "ratio", "{:.3f}"), ("p50_ms", "p50 ms", "{:.3f}"), ("p99_ms", "p99 ms", "{:.3f}"),
        ("direct_p50_ms", "faiss p50", "{:.3f}"), ("direct_p99_ms", "faiss p99", "{:.3f}"),
        ("overhead_p50_ms", "ovh p50", "{:.3f}"), ("filtered_p50_ms", "filt p50", "{:.3f}"),
        ("direct_filtered_p50_ms", "faiss filt", "{:.3f}"), ("recall@10", "recall@10", "{:.4f}"),
        ("filtered_recall@10", "filt rec@10", "{:.4f}"),
    ]  # fmt: skip
    rows = [[fmt.format(r[key]) if key in r else "-" for key, _, fmt in cols] for r in results]
    widths = [max(len(title), *(len(row[i]) for row in rows)) for i, (_, title, _) in enumerate(cols)]
    print(f"dims={args.dims} queries={args.queries} m={args.m} ef_construction={args.ef_construction} "
          f"ef_search={args.ef_search} k={args.k}; total {seconds:.0f} s")  # fmt: skip
    print("  ".join(title.ljust(w) for (_, title, _), w in zip(cols, widths, strict=True)))
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    print("goals: ratio >= 0.9, ovh p50 < 1 ms, recall@10 >= 0.95 (clustered)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dims", type=int, default=384)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--m", type=int, default=32)
    parser.add_argument("--ef-construction", type=int, default=200)
    parser.add_argument("--ef-search", type=int, default=128)
    parser.add_argument("--sets", default="clustered,random")
    parser.add_argument("--others", default="usearch,sqlite-vec")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    started = time.perf_counter()
    results = []
    for kind in [s for s in args.sets.split(",") if s]:
        x, q = make_set(kind, args.n, args.dims, args.queries)
        allowed = np.arange(3, len(x), GROUPS, dtype=np.int64)
        truth, ftruth = exact(x, q, args.k), exact(x, q, args.k, allowed)
        results.append(bench_llmops(kind, x, q, args, truth, ftruth, allowed))
        print(json.dumps(results[-1]), flush=True)
        for other, module, run in (
            ("usearch", "usearch", bench_usearch),
            ("sqlite-vec", "sqlite_vec", bench_sqlite_vec),
        ):
            if other in args.others.split(","):
                if importlib.util.find_spec(module) is None:
                    print(f"{other}: not installed (pip install {other}); skipped", flush=True)
                    continue
                result = run(kind, x, q, args, truth)
                if result is not None:
                    results.append(result)
                    print(json.dumps(result), flush=True)
    show(results, args, time.perf_counter() - started)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
