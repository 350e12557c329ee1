"""Group-commit writer: every log and feedback row is committed before its request is answered,
without paying one transaction per request.

Handlers put a row and a future on a queue and await the future. One thread takes everything
queued (up to `max_batch` rows), redacts the free text, and inserts it all in one transaction; only
after the commit does it resolve the futures. Under load many rows share one commit (and one fsync
on SQLite), so durability costs little throughput; when idle a row is committed at once.
Closing drains the queue before returning, so a graceful shutdown loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from llmops.feedback_db.store import feedback, requests
from llmops.pii.detect import redact

REDACTED = {"requests": ("request_text", "response_text", "error"), "feedback": ("correction", "comment")}


class UnknownResponse(LookupError):
    """Feedback named a response id that is not in the store."""


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
        for item in batch:
            for name in REDACTED[item.table]:
                if item.row.get(name):
                    item.row[name] = redact(item.row[name])[0]
        try:
            with self.engine.begin() as conn:
                results = self._insert(conn, batch)
        except sa.exc.IntegrityError:
            results = self._write_one_by_one(batch)
        except Exception as exc:  # the store is down: every waiting request hears it
            results = [exc] * len(batch)
        self.committed += sum(not isinstance(r, BaseException) for r in results)
        if self.on_batch is not None:
            self.on_batch(len(batch))
        _resolve(batch, results)

    def _insert(self, conn: sa.Connection, batch: list[_Item]) -> list[Any]:
        results: list[Any] = [None] * len(batch)
        logs = [i for i, item in enumerate(batch) if item.table == "requests"]
        if logs:
            conn.execute(requests.insert(), [batch[i].row for i in logs])
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
                ids = conn.scalars(statement, [batch[i].row for i in ok]).all()
                for i, new_id in zip(ok, ids, strict=True):
                    results[i] = new_id
        return results

    def _write_one_by_one(self, batch: list[_Item]) -> list[Any]:
        """A batch failed on a constraint: find the row at fault without failing its neighbours.
        A request id the engine reused gets a fresh gateway id rather than losing the row."""
        results: list[Any] = []
        for item in batch:
            for attempt in range(2):
                try:
                    with self.engine.begin() as conn:
                        results.append(self._insert(conn, [item])[0])
                    break
                except sa.exc.IntegrityError as exc:
                    if item.table == "requests" and attempt == 0:
                        item.row["id"] = f"resp-{uuid.uuid4().hex}"
                        continue
                    results.append(exc)
                    break
                except Exception as exc:
                    results.append(exc)
                    break
        return results


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
