"""pgvector: the chunks live in a PostgreSQL table, for teams that already run the database.

The connection string comes from the environment variable the spec names (`dsn_env`), never
from the spec, and never appears in a message. Every value goes to the server as a query
parameter; the table name, the only identifier the spec controls, is checked as a plain
identifier and quoted with `psycopg.sql.Identifier`. A build upserts only the rows whose
fingerprint (chunk text, metadata and vector) changed and deletes the ids no longer in the
index, so rebuilding after one edited document rewrites only its chunks.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from typing import Any

import numpy as np

from llmops.errors import StageFailed
from llmops.retrieval.engines import EngineSpec, table_name

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,47}$")  # room for the index suffix in 63
OPS = {"cosine": "vector_cosine_ops", "ip": "vector_ip_ops", "l2": "vector_l2_ops"}
DISTANCE = {"cosine": "<=>", "ip": "<#>", "l2": "<->"}
COLUMNS = ("id", "doc_id", "source", "title", "text", "metadata", "fingerprint", "embedding")


def connect(spec: EngineSpec) -> Any:
    """A psycopg connection (autocommit) to the DSN in `os.environ[spec.dsn_env]`."""
    import psycopg

    if not spec.dsn_env:
        raise StageFailed(
            "engine.dsn_env: pgvector needs the name of an environment variable holding the DSN"
        )
    dsn = os.environ.get(spec.dsn_env)
    if not dsn:
        raise StageFailed(
            f"engine.dsn_env: environment variable {spec.dsn_env} is not set; set it to the PostgreSQL "
            "connection string (postgresql://user:password@host:5432/dbname) of a server with pgvector"
        )
    try:
        return psycopg.connect(dsn, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise StageFailed(
            f"pgvector: cannot connect with the DSN in ${spec.dsn_env} ({type(exc).__name__}: "
            f"{_safe(exc, dsn)}); check the server, the credentials and the network"
        ) from None


def checked_table(spec: EngineSpec, index_name: str) -> str:
    """The table name, refused unless a plain identifier (letters, digits, `_`)."""
    name = table_name(spec, index_name)
    if not IDENTIFIER.match(name):
        raise StageFailed(
            f"engine.table: {name!r} is not a plain identifier; use letters, digits and _ "
            "(at most 48 characters, not starting with a digit)"
        )
    return name


def vector_text(vector: np.ndarray) -> str:
    """pgvector's text form `[x,y,...]` (float32 repr round-trips exactly)."""
    return "[" + ",".join(repr(float(x)) for x in vector.tolist()) + "]"


def fingerprint(chunk: dict[str, Any], vector: np.ndarray) -> str:
    digest = hashlib.sha256(json.dumps(chunk, sort_keys=True, ensure_ascii=False).encode())
    digest.update(np.ascontiguousarray(vector, dtype=np.float32).tobytes())
    return digest.hexdigest()


def build(
    spec: EngineSpec, vectors: np.ndarray, chunks: list[dict[str, Any]], index_name: str
) -> dict[str, Any]:
    """Create the table and index if missing, upsert changed rows, delete stale ones (one
    transaction: readers see the old rows or the new ones)."""
    from psycopg import sql

    table = checked_table(spec, index_name)
    dim = int(vectors.shape[1])
    prints = [fingerprint(c, v) for c, v in zip(chunks, vectors, strict=True)]
    with connect(spec) as conn, conn.transaction():
        # two builds of the same index (two CI jobs) wait for each other instead of racing
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"llmops-index:{table}",))
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        _ensure_table(conn, table, dim)
        existing = dict(conn.execute(sql.SQL("SELECT id, fingerprint FROM {}").format(sql.Identifier(table))))
        changed = [i for i, c in enumerate(chunks) if existing.get(c["id"]) != prints[i]]
        conn.execute(
            sql.SQL("CREATE TEMP TABLE llmops_stage (LIKE {}) ON COMMIT DROP").format(sql.Identifier(table))
        )
        with conn.cursor().copy(
            sql.SQL("COPY llmops_stage ({}) FROM STDIN").format(
                sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
            )
        ) as copy:
            for i in changed:
                c = chunks[i]
                copy.write_row(
                    (
                        c["id"],
                        c.get("doc_id"),
                        c.get("source"),
                        c.get("title"),
                        c.get("text", ""),
                        json.dumps(c.get("metadata") or {}, ensure_ascii=False),
                        prints[i],
                        vector_text(vectors[i]),
                    )
                )
        updates = sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(col)) for col in COLUMNS[1:]
        )
        conn.execute(
            sql.SQL("INSERT INTO {t} SELECT * FROM llmops_stage ON CONFLICT (id) DO UPDATE SET {u}").format(
                t=sql.Identifier(table), u=updates
            )
        )
        ids = [c["id"] for c in chunks]
        conn.execute(sql.SQL("DELETE FROM {} WHERE NOT (id = ANY(%s))").format(sql.Identifier(table)), (ids,))
        _ensure_index(conn, table, spec)
    # Only facts that depend on the inputs: the manifest must not change when a rerun changes nothing.
    return {"table": table, "rows": len(chunks)}


def _q(conn: Any, table: str) -> str:
    from psycopg import sql

    return sql.Identifier(table).as_string(conn)


def _ensure_table(conn: Any, table: str, dim: int) -> None:
    """Create the table; recreate it when its vectors have another dimension (a new model: every
    row must be re-embedded anyway). The table belongs to the index: nothing else writes it."""
    from psycopg import sql

    row = conn.execute(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = to_regclass(%s) AND attname = 'embedding' AND NOT attisdropped",
        (_q(conn, table),),
    ).fetchone()
    if row is not None and row[0] != f"vector({dim})":
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(table)))
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (id text PRIMARY KEY, doc_id text, source text, title text, "
            "text text NOT NULL, metadata jsonb NOT NULL DEFAULT '{{}}', fingerprint text NOT NULL, "
            "embedding vector({}) NOT NULL)"
        ).format(sql.Identifier(table), sql.Literal(dim))
    )


def _ensure_index(conn: Any, table: str, spec: EngineSpec) -> None:
    """One HNSW index named for its parameters; indexes of other parameters are dropped."""
    from psycopg import sql

    digest = hashlib.sha256(f"{spec.metric}/{spec.m}/{spec.ef_construction}".encode()).hexdigest()[:8]
    wanted = f"{table}_hnsw_{digest}" if spec.index == "hnsw" else None
    prefix = f"{table}_hnsw_"
    for (name,) in conn.execute(
        "SELECT indexname FROM pg_indexes WHERE tablename = %s AND schemaname = current_schema()", (table,)
    ).fetchall():
        if name.startswith(prefix) and name != wanted:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    if wanted:
        conn.execute(
            sql.SQL(
                "CREATE INDEX IF NOT EXISTS {} ON {} USING hnsw (embedding {}) "
                "WITH (m = {}, ef_construction = {})"
            ).format(
                sql.Identifier(wanted),
                sql.Identifier(table),
                sql.SQL(OPS[spec.metric]),
                sql.Literal(spec.m),
                sql.Literal(spec.ef_construction),
            )
        )


class PgvectorEngine:
    """Searches the table over one connection (serialized: psycopg connections are not
    meant for concurrent queries)."""

    def __init__(self, spec: EngineSpec, conn: Any, table: str, rows_by_id: dict[str, int]) -> None:
        self.spec = spec
        self.conn = conn
        self.table = table
        self.rows_by_id = rows_by_id
        self._lock = threading.Lock()

    @classmethod
    def open(cls, spec: EngineSpec, manifest: dict[str, Any], chunks: list[dict[str, Any]]) -> PgvectorEngine:
        table = (manifest.get("engine_state") or {}).get("table") or checked_table(spec, manifest["name"])
        conn = connect(spec)
        if spec.index == "hnsw":
            conn.execute("SELECT set_config('hnsw.ef_search', %s, false)", (str(spec.ef_search),))
        count = conn.execute(
            "SELECT count(*) FROM pg_class WHERE oid = to_regclass(%s)", (_q(conn, table),)
        ).fetchone()[0]
        if not count:
            conn.close()
            raise StageFailed(
                f"pgvector: table {table} does not exist in the database of ${spec.dsn_env}; "
                f"build the index there with `llmops run index-{manifest['name']}`"
            )
        return cls(spec, conn, table, {c["id"]: i for i, c in enumerate(chunks)})

    def search(
        self,
        vectors: np.ndarray,
        k: int,
        allowed: np.ndarray | None = None,
        filters: dict[str, Any] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        from psycopg import sql

        queries = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        rows = np.full((len(queries), k), -1, dtype=np.int64)
        op = sql.SQL(DISTANCE[self.spec.metric])
        where = sql.SQL("WHERE metadata @> %(filters)s::jsonb") if filters else sql.SQL("")
        query = sql.SQL(
            "SELECT id, embedding {op} %(q)s::vector AS distance FROM {t} {w} ORDER BY distance LIMIT %(k)s"
        ).format(op=op, t=sql.Identifier(self.table), w=where)
        with self._lock:
            for qi, vector in enumerate(queries):
                params = {"q": vector_text(vector), "k": k, "filters": json.dumps(filters or {}, default=str)}
                found = self.conn.execute(query, params).fetchall()
                if filters and len(found) < k and self.spec.index == "hnsw":
                    found = self._exact(query, params)  # HNSW filters after ef_search candidates
                for j, (chunk_id, distance) in enumerate(found[:k]):
                    rows[qi, j] = self.rows_by_id.get(chunk_id, -1)
                    scores[qi, j] = self._score(float(distance))
        return scores, rows

    def _exact(self, query: Any, params: dict[str, Any]) -> list[tuple[str, float]]:
        with self.conn.transaction():
            self.conn.execute("SET LOCAL enable_indexscan = off")
            return self.conn.execute(query, params).fetchall()

    def _score(self, distance: float) -> float:
        """Higher is better, as FAISS: cosine similarity, inner product, minus L2 distance."""
        if self.spec.metric == "cosine":
            return 1.0 - distance
        return -distance

    def close(self) -> None:
        self.conn.close()


def _safe(exc: BaseException, dsn: str) -> str:
    """The error text without the DSN (it may hold a password)."""
    return " ".join(str(exc).replace(dsn, "<dsn>").split())[:300]
