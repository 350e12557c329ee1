"""Group-commit writer: every log and feedback row is committed before its request is answered,
without paying one transaction per request.

Handlers put a row and a future on a queue and await the future. One thread takes everything
queued (up to `max_batch` rows), redacts the free text, and inserts it all in one transaction; only
after the commit does it resolve the futures. Under load many rows share one commit (and one fsync
on SQLite), so durability costs little throughput; when idle a row is committed at once.
Closing drains the queue before returning, so a graceful shutdown loses nothing.

One client cannot fail another's request: text is made storable before the insert (`clean_row`),
and a batch the store refuses for one row's sake is retried row by row in savepoints, so only that
row fails (`RowRejected`, a 4xx for its client). Only a store that is down fails the whole batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from llmops.feedback_db.store import clean_row, feedback, requests
from llmops.pii.detect import redact

REDACTED = {"requests": ("request_text", "response_text", "error"), "feedback": ("correction", "comment")}
# What the database says when one row's content is at fault (a constraint, a value it cannot
# store); a Python-side error before the database (an encoding error while binding) is too. Any
# other database error (operational, a missing table, interface, internal), a lost connection or
# an OSError means the store itself is down: every row of the batch hears it.
ROW_FAULTS = (sa.exc.IntegrityError, sa.exc.DataError)
STORE_DOWN = (sa.exc.DBAPIError, sa.exc.DisconnectionError, sa.exc.TimeoutError, OSError, MemoryError)


def is_row_fault(exc: BaseException) -> bool:
    return isinstance(exc, ROW_FAULTS) or not isinstance(exc, STORE_DOWN)


class UnknownResponse(LookupError):
    """Feedback named a response id that is not in the store."""


class RowRejected(ValueError):
    """The store refused this one row (its content, not the store, is at fault): the client gets a
    4xx and the other rows of its group commit are kept."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"the store refused this row: {type(cause).__name__}")
        self.cause = cause


@dataclass
class _Item:
    table: str  # "requests" or "feedback"
    row: dict[str, Any]
    loop: asyncio.AbstractEventLoop | None
    future: asyncio.Future | None


_STOP = object()


class Writer:
    """Owns the store's write path; `start()` it once, `close()` it to drain and stop."""

    def __init__(
        self, engine: sa.Engine, *, max_batch: int = 512, on_batch: Callable[[int], None] | None = None
    ) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.on_batch = on_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="llmops-gateway-writer", daemon=True)
        self.committed = 0

    def start(self) -> None:
        self._thread.start()

    async def log_request(self, row: dict[str, Any]) -> str:
        """Commit a request row; returns its id (a fresh one if the engine's id was already taken)."""
        return await self._submit("requests", row)

    async def add_feedback(self, row: dict[str, Any]) -> int:
        """Commit a feedback row; returns its id. Raises `UnknownResponse` for an unknown response id."""
        return await self._submit("feedback", row)

    def log_request_nowait(self, row: dict[str, Any]) -> None:
        """Queue a request row without waiting (a stream whose client went away)."""
        self._queue.put(_Item("requests", row, None, None))

    async def _submit(self, table: str, row: dict[str, Any]) -> Any:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put(_Item(table, row, loop, future))
        return await future

    def close(self, timeout: float | None = None) -> None:
        """Write everything queued so far, then stop the thread."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)

    # The writer thread.

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch: list[_Item] = []
            item = self._queue.get()
            while True:
                if item is _STOP:
                    stopping = True
                else:
                    batch.append(item)
                if len(batch) >= self.max_batch:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                try:
                    self._write(batch)
                except BaseException as exc:  # a bug here must not leave requests waiting forever
                    _resolve(batch, [exc] * len(batch))

    def _write(self, batch: list[_Item]) -> None:
        results: list[Any] = [None] * len(batch)
        ready: list[int] = []
        for i, item in enumerate(batch):
            try:
                _prepare(item)
                ready.append(i)
            except Exception as exc:  # one row's bad text is that row's problem only
                results[i] = RowRejected(exc)
        rows = [batch[i] for i in ready]
        try:
            with self.engine.begin() as conn:
                written = self._insert(conn, rows)
        except Exception as exc:
            # a row at fault is found without failing its neighbours; a store that is down fails all
            written = self._write_row_by_row(rows) if is_row_fault(exc) else [exc] * len(rows)
        for i, result in zip(ready, written, strict=True):
            results[i] = result
        self.committed += sum(not isinstance(r, BaseException) for r in results)
        if self.on_batch is not None:
            self.on_batch(len(batch))
        _resolve(batch, results)

    def _insert(self, conn: sa.Connection, batch: list[_Item]) -> list[Any]:
        results: list[Any] = [None] * len(batch)
        logs = [i for i, item in enumerate(batch) if item.table == "requests"]
        # One executemany per set of keys: SQLAlchemy takes the columns from the first row, so a
        # row with a key the first lacks (a RAG request's `retrieval` after a plain one) would lose
        # that value without a word.
        for same_keys in _by_keys(batch[i].row for i in logs):
            conn.execute(requests.insert(), same_keys)
        for i in logs:
            results[i] = batch[i].row["id"]
        notes = [i for i, item in enumerate(batch) if item.table == "feedback"]
        if notes:
            wanted = {batch[i].row["response_id"] for i in notes}
            known = set(conn.scalars(sa.select(requests.c.id).where(requests.c.id.in_(wanted))))
            ok = []
            for i in notes:
                if batch[i].row["response_id"] in known:
                    ok.append(i)
                else:
                    results[i] = UnknownResponse(batch[i].row["response_id"])
            if ok:
                statement = feedback.insert().returning(feedback.c.id, sort_by_parameter_order=True)
                for group in _groups_by_keys(ok, lambda i: batch[i].row):
                    ids = conn.scalars(statement, [batch[i].row for i in group]).all()
                    for i, new_id in zip(group, ids, strict=True):
                        results[i] = new_id
        return results

    def _write_row_by_row(self, batch: list[_Item]) -> list[Any]:
        """The batch failed on a row: insert each row in a savepoint of one transaction (one commit,
        one fsync), so the row at fault is refused and the others are kept. A request id the engine
        reused gets a fresh gateway id rather than losing the row. Requests go first, as in
        `_insert`, so that feedback on a response in the same batch finds it. If the store goes
        down meanwhile, nothing was committed and every row hears it."""
        order = sorted(range(len(batch)), key=lambda i: batch[i].table != "requests")
        results: list[Any] = [None] * len(batch)
        try:
            with self.engine.begin() as conn:
                for i in order:
                    results[i] = self._insert_one(conn, batch[i])
        except Exception as exc:
            return [exc] * len(batch)
        return results

    def _insert_one(self, conn: sa.Connection, item: _Item) -> Any:
        for attempt in range(2):
            try:
                with conn.begin_nested():
                    return self._insert(conn, [item])[0]
            except Exception as exc:
                if not is_row_fault(exc):
                    raise
                if isinstance(exc, sa.exc.IntegrityError) and item.table == "requests" and attempt == 0:
                    item.row["id"] = f"resp-{uuid.uuid4().hex}"
                    continue
                return RowRejected(exc)
        raise AssertionError("unreachable")


def _prepare(item: _Item) -> None:
    """Make the row storable (see `clean_row`) and redact its free text, in place. A RAG request's
    `retrieval` (passage ids, titles: document names can hold an e-mail address too) is redacted
    value by value and only then written as JSON, so a redaction never breaks the JSON."""
    retrieval = item.row.get("retrieval")
    if isinstance(retrieval, dict):
        item.row["retrieval"] = json.dumps(_redact_values(retrieval), ensure_ascii=False, sort_keys=True)
    item.row = clean_row(item.row)
    for name in REDACTED[item.table]:
        if item.row.get(name):
            item.row[name] = redact(item.row[name])[0]


def _redact_values(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)[0] if value else value
    if isinstance(value, list):
        return [_redact_values(v) for v in value]
    if isinstance(value, dict):
        return {k: _redact_values(v) for k, v in value.items()}
    return value


def _groups_by_keys(indexes: list[int], row_of: Any) -> list[list[int]]:
    """`indexes` grouped by the key set of their rows, in first-seen order."""
    groups: dict[frozenset[str], list[int]] = {}
    for i in indexes:
        groups.setdefault(frozenset(row_of(i)), []).append(i)
    return list(groups.values())


def _by_keys(rows: Any) -> list[list[dict[str, Any]]]:
    listed = list(rows)
    groups = _groups_by_keys(list(range(len(listed))), listed.__getitem__)
    return [[listed[i] for i in group] for group in groups]


def _resolve(batch: list[_Item], results: list[Any]) -> None:
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future, Any]]] = {}
    for item, result in zip(batch, results, strict=True):
        if item.future is not None and item.loop is not None:
            by_loop.setdefault(item.loop, []).append((item.future, result))
    for loop, pairs in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            loop.call_soon_threadsafe(_settle, pairs)


def _settle(pairs: list[tuple[asyncio.Future, Any]]) -> None:
    for future, result in pairs:
        if future.done():
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)
