"""Near-duplicate removal: MinHash signatures of character shingles, banded LSH, verified by
the estimated Jaccard similarity. Keeps the first record of each cluster, in stream order.

Shingles are the character `shingle`-grams (default 5) of a record's comparison form
(`text.key`: NFKC, whitespace collapsed, casefolded), not word n-grams: support texts are short,
and one changed word removes all n word-n-grams that cover it (a third of a 12-word text at
n=3), while it removes only about `shingle` + its length character grams, so a one-word edit
still scores high; character grams also work for languages written without spaces (Japanese,
Chinese) and absorb typos and punctuation changes. A text shorter than `shingle` is one
shingle; an empty text has none and passes through untouched (drop-empty is the step for it).

Signatures are datasketch's `MinHash` (scheme "affine32", seed `SEED`, so runs are
reproducible): its permutations h -> a*h + b mod 2**32 over the MurmurHash3-premixed 32-bit
hash of each shingle. They are computed with numpy for a chunk of records at once, the same
values `MinHash(num_perm, seed=SEED, hashfunc=shingle_hash).update_batch(shingles)` gives (a
test holds them equal), ~14x faster than `MinHash.generator` over SHA-1-hashed shingles.

The index is banded LSH, but not datasketch's `MinHashLSH`, whose dict storage costs ~3.3 KB
per indexed record (a set per bucket; 3 GB at a million records) and ~50 us per insert. Here
each band of each kept record is an 8-byte key and a 4-byte id in a sorted numpy array, found
by binary search behind a bitmap that rules out most misses with one memory read; keys of
recent chunks wait in a dict until merged in a batch, and records of the same chunk are matched
with each other by sorting their keys. Bands and rows are chosen so a pair at exactly the
threshold becomes a candidate with probability >= `RECALL` (datasketch's default weights give
~46% at 0.85): a missed candidate is a missed duplicate, a false one costs one comparison.

Every candidate is verified: a record is dropped when the estimated Jaccard (the share of equal
signature values) with an earlier kept record is >= the threshold; the reason names the best
match. Dropped records are not indexed, so clusters do not chain. Kept signatures are stored as
the low 16 bits of each value (b-bit minwise hashing, Li & Koenig 2010): two different values
agree there with probability 2**-16, less than 0.002 extra equal values at 128 permutations.

Memory grows with kept records only: 2 bytes x num_perm for the signature and ~14 bytes per
band (key, id, bitmap), ~450 bytes per kept record at the defaults (14 bands), plus at most
~100 MB of keys waiting to be merged and a copy of the key array while merging (~700 MB in all
at a million records). The hashing works in blocks of bounded size, whatever the text lengths.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Protocol

import numpy as np

from llmops.compiler.kinds.dataset import DedupNear
from llmops.runners.data.text import Record, column_value, key

SEED = 1
RECALL = 0.97
CHUNK = 512  # records hashed together; the stream runs this far ahead of what it yields
BLOCK_CELLS = 1 << 20  # shingles x permutations computed at once (4 MiB of uint32)
STORE_ROWS = 1 << 16  # signatures per block of the signature store (pages fill as used)
MERGE_AT = 1 << 17  # band keys waiting in the dict before a merge into the sorted arrays...
MERGE_MAX = 1 << 20  # ...or an eighth of those arrays, up to this

_MASK64 = (1 << 64) - 1
_MUL = 0x9E3779B97F4A7C15  # odd: the polynomial base of the shingle hash and the band mix
_PAD = 0x110000  # above every code point: pads texts shorter than a shingle
_FMIX64 = (0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53)
_FMIX32 = (0x85EBCA6B, 0xC2B2AE35)
_MAX32 = np.uint32(0xFFFFFFFF)


class Count(Protocol):
    """What the steps report to: `clean.StepCount` has it."""

    found: Counter[str]

    def drop(self, record: Record, reason: str) -> None: ...


def near_dedup(
    rows: Iterable[Record], column: str, step: DedupNear, count: Count, *, where: str = "dedup-near"
) -> Iterator[Record]:
    """Records that are not near duplicates of an earlier kept record, in order.

    Settings are checked and the hashing set up when called, before any row is read; rows are
    read lazily, `CHUNK` at a time. `count.drop` gets each dropped record and why.
    """
    sketch = Sketch(step.num_perm, step.shingle)
    bands, rows_per_band = lsh_params(step.threshold, step.num_perm)
    need = next(m for m in range(step.num_perm + 1) if m / step.num_perm >= step.threshold)
    index = _Index(bands, rows_per_band, step.num_perm)
    return _near_dedup(iter(rows), column, sketch, index, need, count, where)


def near_duplicate_rate(
    texts: Iterable[str], threshold: float = 0.85, num_perm: int = 128, shingle: int = 5
) -> float:
    """Share of texts that are near duplicates of an earlier one (what dedup-near would drop)."""
    step = DedupNear(step="dedup-near", threshold=threshold, num_perm=num_perm, shingle=shingle)
    tally = _Tally()
    kept = sum(1 for _ in near_dedup(({"text": t} for t in texts), "text", step, tally))
    total = kept + tally.dropped
    return round(tally.dropped / total, 6) if total else 0.0


def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows per band): the most rows per band (fewest bands, fewest false candidates)
    with which a pair at exactly `threshold` becomes a candidate with probability >= RECALL."""
    for rows in range(num_perm, 0, -1):
        bands = num_perm // rows
        if 1 - (1 - threshold**rows) ** bands >= RECALL:
            return bands, rows
    return num_perm, 1


def shingles(text: str, size: int) -> list[str]:
    """The character `size`-grams of a comparison-form text; a shorter text is one shingle."""
    if not text:
        return []
    if len(text) <= size:
        return [text]
    return [text[i : i + size] for i in range(len(text) - size + 1)]


def shingle_hash(shingle: str, size: int) -> int:
    """32-bit hash of one shingle, as the vectorized code computes it (for tests and reference):
    a polynomial over its code points (padded to `size`) mod 2**64, MurmurHash3-finalized,
    top 32 bits."""
    points = [ord(c) for c in shingle] + [_PAD] * (size - len(shingle))
    h = 0
    for point in points:
        h = (h * _MUL + point) & _MASK64
    h ^= h >> 33
    h = (h * _FMIX64[0]) & _MASK64
    h ^= h >> 33
    h = (h * _FMIX64[1]) & _MASK64
    h ^= h >> 33
    return h >> 32


class Sketch:
    """MinHash signatures of many texts at once (comparison forms in, uint32 rows out)."""

    def __init__(self, num_perm: int, size: int) -> None:
        from datasketch import MinHash  # imports scipy: only when the step runs

        reference = MinHash(num_perm=num_perm, seed=SEED, scheme="affine32")
        a, b = reference.permutations
        self.num_perm = num_perm
        self.size = size
        self.a = np.ascontiguousarray(a, dtype=np.uint32).reshape(-1, 1)
        self.b = np.ascontiguousarray(b, dtype=np.uint32).reshape(-1, 1)
        self.block = max(256, BLOCK_CELLS // num_perm)
        self.cells: np.ndarray | None = None

    def signatures(self, texts: list[str]) -> np.ndarray:
        """(len(texts), num_perm) uint32; an empty text's row is all 0xFFFFFFFF."""
        hashes, counts = _shingle_hashes(texts, self.size)
        hashes = _fmix32(hashes)
        sig = np.full((self.num_perm, len(texts)), _MAX32, dtype=np.uint32)
        owner = np.repeat(np.arange(len(texts)), counts)
        if self.cells is None:  # reused: a fresh block each time costs page faults
            self.cells = np.empty((self.num_perm, self.block), dtype=np.uint32)
        for start in range(0, len(hashes), self.block):
            part = hashes[start : start + self.block]
            own = owner[start : start + self.block]
            starts = np.flatnonzero(np.concatenate(([True], own[1:] != own[:-1])))
            ids = own[starts]
            cells = self.cells[:, : len(part)]
            np.multiply(self.a, part, out=cells)  # wraps mod 2**32, as intended
            cells += self.b
            sig[:, ids] = np.minimum(sig[:, ids], np.minimum.reduceat(cells, starts, axis=1))
        return np.ascontiguousarray(sig.T)


def _shingle_hashes(texts: list[str], size: int) -> tuple[np.ndarray, np.ndarray]:
    """`shingle_hash` of every shingle of every text, concatenated, and the count per text."""
    lens = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    width = np.where(lens > 0, np.maximum(lens, size), 0)
    counts = np.where(lens > 0, width - size + 1, 0)
    points = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    if np.array_equal(width, lens):
        buf = points.astype(np.uint64)
    else:  # some texts are shorter than a shingle: pad each to `size`
        buf = np.full(int(width.sum()), _PAD, dtype=np.uint64)
        shift = (np.cumsum(width) - width) - (np.cumsum(lens) - lens)
        buf[np.repeat(shift, lens) + np.arange(len(points))] = points
    windows = len(buf) - size + 1
    if windows <= 0:
        return np.empty(0, dtype=np.uint32), counts
    h = buf[:windows].copy()
    mul = np.uint64(_MUL)
    for j in range(1, size):
        h *= mul
        h += buf[j : j + windows]
    total = int(counts.sum())
    first = (np.cumsum(width) - width) - (np.cumsum(counts) - counts)
    h = h[np.repeat(first, counts) + np.arange(total)]
    return (_fmix64(h) >> np.uint64(32)).astype(np.uint32), counts


def _fmix64(h: np.ndarray) -> np.ndarray:
    h ^= h >> np.uint64(33)
    h *= np.uint64(_FMIX64[0])
    h ^= h >> np.uint64(33)
    h *= np.uint64(_FMIX64[1])
    h ^= h >> np.uint64(33)
    return h


def _fmix32(h: np.ndarray) -> np.ndarray:
    """datasketch's premix of the input hash (MurmurHash3's 32-bit finalizer)."""
    h = h.copy()
    h ^= h >> np.uint32(16)
    h *= np.uint32(_FMIX32[0])
    h ^= h >> np.uint32(13)
    h *= np.uint32(_FMIX32[1])
    h ^= h >> np.uint32(16)
    return h


class _Index:
    """Banded LSH over kept records' signatures, and those signatures (see the module doc).

    Kept ids count kept records from 0. Band keys of records kept in earlier chunks live in a
    sorted array (`keys`, `ids`) or, until merged into it, in `pending` (dict) and `fresh`
    (the same entries as arrays); a bitmap with a bit per hashed key rules out most misses.
    Records of the chunk being decided are matched with each other by `runs`.
    """

    def __init__(self, bands: int, rows: int, num_perm: int) -> None:
        self.bands = bands
        self.rows = rows
        self.num_perm = num_perm
        self.salt = (np.arange(1, bands + 1, dtype=np.uint64) * np.uint64(_MUL)).reshape(1, -1)
        self.keys = np.empty(0, dtype=np.uint64)
        self.ids = np.empty(0, dtype=np.int32)
        self.pending: dict[int, Any] = {}  # band key -> kept id, or a list of them
        self.fresh: list[tuple[np.ndarray, np.ndarray]] = []
        self.fresh_size = 0
        self.bits_log2 = 16
        self.bits = np.zeros(1 << (self.bits_log2 - 3), dtype=np.uint8)
        self.store: list[np.ndarray] = []
        self.sources: list[Any] = []

    def band_keys(self, sigs: np.ndarray) -> np.ndarray:
        """(records, bands) uint64: a hash of each band of each signature, salted by band."""
        bands = sigs[:, : self.bands * self.rows].reshape(len(sigs), self.bands, self.rows)
        h = np.repeat(self.salt, len(sigs), axis=0)
        mul = np.uint64(_MUL)
        for j in range(self.rows):
            h ^= bands[:, :, j]
            h *= mul
        return _fmix64(h)

    def earlier(self, band_keys: np.ndarray, sigs: np.ndarray) -> dict[int, tuple[int, int]]:
        """For each record of a chunk (by position) sharing a band with records kept in earlier
        chunks: (equal signature values, kept id) of the closest one, the earliest on ties."""
        flat = band_keys.ravel()
        flagged = np.flatnonzero(self._maybe(flat))
        if not len(flagged):
            return {}
        wanted = flat[flagged]
        found_at: list[np.ndarray] = []
        found_ids: list[np.ndarray] = []
        if len(self.keys):
            lo = np.searchsorted(self.keys, wanted)
            hit = self.keys[np.minimum(lo, len(self.keys) - 1)] == wanted
            if hit.any():
                lo = lo[hit]
                width = np.searchsorted(self.keys, wanted[hit], side="right") - lo
                offsets = np.arange(int(width.sum())) - np.repeat(np.cumsum(width) - width, width)
                found_ids.append(self.ids[np.repeat(lo, width) + offsets].astype(np.int64))
                found_at.append(np.repeat(flagged[hit] // self.bands, width))
        if self.pending:
            at_list: list[int] = []
            id_list: list[int] = []
            get = self.pending.get
            for at, band_key in zip(flagged.tolist(), wanted.tolist(), strict=True):
                kept = get(band_key)
                if kept is None:
                    continue
                for one in [kept] if isinstance(kept, int) else kept:
                    at_list.append(at // self.bands)
                    id_list.append(one)
            found_at.append(np.array(at_list, dtype=np.int64))
            found_ids.append(np.array(id_list, dtype=np.int64))
        if not found_at:
            return {}
        at = np.concatenate(found_at)
        ids = np.concatenate(found_ids)
        if not len(at):
            return {}
        pair = np.unique((at << 32) | ids)  # one pair per (record, candidate), sorted
        at, ids = pair >> 32, pair & 0xFFFFFFFF
        matches = np.count_nonzero(self._rows(ids) == sigs[at].astype(np.uint16), axis=1)
        order = np.lexsort((ids, -matches, at))  # per record: most matches, then earliest
        at, ids, matches = at[order], ids[order], matches[order]
        first = np.flatnonzero(np.concatenate(([True], at[1:] != at[:-1])))
        return dict(
            zip(
                at[first].tolist(),
                zip(matches[first].tolist(), ids[first].tolist(), strict=True),
                strict=True,
            )
        )

    def _rows(self, ids: np.ndarray) -> np.ndarray:
        """Stored signatures of kept ids (any order)."""
        block = ids // STORE_ROWS
        if len(ids) and block[0] == block[-1] and (block == block[0]).all():
            return self.store[int(block[0])][ids % STORE_ROWS]
        rows = np.empty((len(ids), self.num_perm), dtype=np.uint16)
        for number in np.unique(block).tolist():
            mask = block == number
            rows[mask] = self.store[number][ids[mask] % STORE_ROWS]
        return rows

    def runs(self, band_keys: np.ndarray) -> dict[int, list[list[int]]]:
        """For each record of a chunk sharing a band with another one, the lists that will hold
        the kept ids of each such group: a record appends itself to its lists when kept."""
        flat = band_keys.ravel()
        order = np.argsort(flat, kind="stable")
        same = np.flatnonzero(flat[order][1:] == flat[order][:-1]).tolist()
        groups: dict[int, list[list[int]]] = {}
        i = 0
        while i < len(same):
            j = i
            while j + 1 < len(same) and same[j + 1] == same[j] + 1:
                j += 1
            kept: list[int] = []
            for at in (order[same[i] : same[j] + 2] // self.bands).tolist():
                groups.setdefault(at, []).append(kept)
            i = j + 1
        return groups

    def best(self, sig: np.ndarray, candidates: list[int]) -> tuple[int, int]:
        """(equal signature values, kept id) of the closest candidate; the earliest on ties."""
        ids = np.array(sorted(set(candidates)), dtype=np.int64)
        matches = np.count_nonzero(self._rows(ids) == sig.astype(np.uint16), axis=1)
        top = int(np.argmax(matches))  # the first of the best: the earliest kept
        return int(matches[top]), int(ids[top])

    def keep(self, sig: np.ndarray, source: Any) -> int:
        """Store a kept record's signature; its band keys follow with `commit`."""
        kept = len(self.sources)
        if kept % STORE_ROWS == 0:
            self.store.append(np.empty((STORE_ROWS, self.num_perm), dtype=np.uint16))
        self.store[-1][kept % STORE_ROWS] = sig  # the low 16 bits (see the module doc)
        self.sources.append(source)
        return kept

    def commit(self, band_keys: np.ndarray, first: int) -> None:
        """Index the band keys (kept records x bands) of ids first, first + 1, ..."""
        if not len(band_keys):
            return
        keys = band_keys.ravel()
        ids = np.repeat(np.arange(first, first + len(band_keys), dtype=np.int32), self.bands)
        # keys whose bit is clear and that occur once are new: a plain dict update takes them
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        repeated = np.zeros(len(keys), dtype=bool)
        dup = ordered[1:] == ordered[:-1]
        repeated[order[1:][dup]] = True
        repeated[order[:-1][dup]] = True
        slow = repeated | self._maybe(keys)
        fast = ~slow
        self.pending.update(zip(keys[fast].tolist(), ids[fast].tolist(), strict=True))
        pending = self.pending
        for band_key, kept in zip(keys[slow].tolist(), ids[slow].tolist(), strict=True):
            hit = pending.get(band_key)
            if hit is None:
                pending[band_key] = kept
            elif isinstance(hit, int):
                pending[band_key] = [hit, kept]
            else:
                hit.append(kept)
        self.fresh.append((ordered, ids[order]))
        self.fresh_size += len(keys)
        total = len(self.keys) + self.fresh_size
        if total * 16 > (1 << self.bits_log2):
            self.bits_log2 = math.ceil(math.log2(total * 32))
            self.bits = np.zeros(1 << (self.bits_log2 - 3), dtype=np.uint8)
            self._set_bits(self.keys)
            for fresh_keys, _ in self.fresh:
                self._set_bits(fresh_keys)
        else:
            self._set_bits(ordered)
        if self.fresh_size >= max(MERGE_AT, min(len(self.keys) >> 3, MERGE_MAX)):
            self._merge()

    def _merge(self) -> None:
        keys = np.concatenate([k for k, _ in self.fresh])
        ids = np.concatenate([i for _, i in self.fresh])
        order = np.argsort(keys, kind="stable")
        keys, ids = keys[order], ids[order]
        at = np.searchsorted(self.keys, keys, side="right")
        self.keys = np.insert(self.keys, at, keys)
        self.ids = np.insert(self.ids, at, ids)
        self.pending.clear()
        self.fresh.clear()
        self.fresh_size = 0

    def _maybe(self, keys: np.ndarray) -> np.ndarray:
        slot = keys >> np.uint64(64 - self.bits_log2)
        return ((self.bits[slot >> np.uint64(3)] >> (slot & np.uint64(7)).astype(np.uint8)) & 1).astype(bool)

    def _set_bits(self, keys: np.ndarray) -> None:
        slot = keys >> np.uint64(64 - self.bits_log2)
        np.bitwise_or.at(
            self.bits, slot >> np.uint64(3), np.left_shift(1, slot & np.uint64(7)).astype(np.uint8)
        )

    def origin(self, kept: int) -> str:
        source = self.sources[kept]
        return "an earlier record" if source is None else f"a record from source {source}"


def _near_dedup(
    rows: Iterator[Record],
    column: str,
    sketch: Sketch,
    index: _Index,
    need: int,
    count: Count,
    where: str,
) -> Iterator[Record]:
    perms = sketch.num_perm
    while chunk := list(islice(rows, CHUNK)):
        texts = [key(column_value(record, column, where)) for record in chunk]
        sigs = sketch.signatures(texts)
        band_keys = index.band_keys(sigs)
        earlier = index.earlier(band_keys, sigs)
        runs = index.runs(band_keys)
        first = len(index.sources)
        kept_at: list[int] = []
        for at, (record, text) in enumerate(zip(chunk, texts, strict=True)):
            if not text:
                yield record
                continue
            matches, kept = earlier.get(at, (-1, -1))
            groups = runs.get(at, ())
            here = [kept for group in groups for kept in group]
            if here:  # kept earlier in this chunk: later ids, so they win only with more matches
                close, close_id = index.best(sigs[at], here)
                if close > matches:
                    matches, kept = close, close_id
            if matches >= need:
                count.drop(record, f"near duplicate (jaccard {matches / perms:.2f}) of {index.origin(kept)}")
                continue
            kept = index.keep(sigs[at], record.get("_source"))
            for group in groups:
                group.append(kept)
            kept_at.append(at)
            yield record
        index.commit(band_keys[kept_at], first)


@dataclass
class _Tally:
    dropped: int = 0
    found: Counter[str] = field(default_factory=Counter)

    def drop(self, record: Record, reason: str) -> None:
        self.dropped += 1
