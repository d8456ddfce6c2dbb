"""The loaded index: one view, in global rows, over the live rows of a generation's segments.

Callers (retrieval, filters, ranking features, the chat's article view) keep seeing what a
single index gave them: global sentence rows ``0..N-1`` grouped by article, ``articles``,
``sentences``, ``vectors``, ``dense.search``, ``lexical.scores``. Row ``i`` of segment ``s``
is global row ``offset[s] + i`` minus the deleted rows before it: deleted (tombstoned) rows
are not in the view at all, so no caller has to mask them.

* Dense search asks every segment's FAISS index for its top ``k`` and keeps the best ``k``
  by score; exact (flat) segments give exactly what one flat index of the same vectors gives.
  Deleted rows are dropped by searching ``k + deleted`` and discarding them, or, when a
  segment holds more than OVERFETCH_LIMIT deleted rows, through an ID selector.
* BM25 scores with statistics over all live rows (index.bm25): equal, bit for bit, to one
  index built from the same articles.
* Per-article arrays (first rows, headline rows, mean vectors) are computed once per loaded
  segment and concatenated: a reload that adds a segment reuses the loaded ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from index import dense as dense_index
from index.bm25 import Bm25
from index.corpus import Article
from index.segments import Segment
from index.sentences import SentenceTable

#: A segment with at most this many deleted rows is searched for ``k`` + that many rows, the
#: deleted ones dropped (the same rows an ID selector would give, without its per-row test).
OVERFETCH_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class _Slice:
    segment: Segment
    live_rows: np.ndarray  # local rows in the view, ascending
    live_articles: np.ndarray  # local article rows in the view, ascending
    global_of_local: np.ndarray  # int64 per local row; -1 for a deleted row
    row_offset: int
    dead: int  # deleted rows

    @property
    def whole(self) -> bool:
        return self.dead == 0

    def mask(self, part: np.ndarray | None) -> np.ndarray:
        """Local mask of the live rows (of those ``part``, a mask over them, allows)."""
        out = np.zeros(len(self.global_of_local), bool)
        out[self.live_rows] = True if part is None else part
        return out


class IndexData:
    """Everything a loaded index holds, in global rows; row i of each part is sentence i (see
    :class:`~index.sentences.SentenceTable`)."""

    def __init__(self, manifest: dict[str, Any], segments: Sequence[Segment],
                 tombstones: Mapping[str, Sequence[int]] | None = None,
                 generation: str = "") -> None:
        self.manifest, self.generation, self.segments = manifest, generation, list(segments)
        tombstones = tombstones or {}
        self._slices: list[_Slice] = []
        offset = 0
        for seg in self.segments:
            art_live = np.ones(len(seg.articles), bool)
            art_live[np.asarray(tombstones.get(seg.name, ()), np.int64)] = False
            row_live = art_live[seg.sentences.article]
            live_rows = np.flatnonzero(row_live)
            mapping = np.full(len(row_live), -1, np.int64)
            mapping[live_rows] = np.arange(offset, offset + len(live_rows))
            self._slices.append(_Slice(seg, live_rows, np.flatnonzero(art_live), mapping, offset,
                                       len(row_live) - len(live_rows)))
            offset += len(live_rows)
        self.dim = int(manifest["model"]["dim"])
        parts, articles, sentences = [], [], []
        art_offset = 0
        for sl in self._slices:
            seg = sl.segment
            articles += (seg.articles if sl.whole
                         else [seg.articles[i] for i in sl.live_articles.tolist()])
            renumber = np.full(len(seg.articles), -1, np.int64)
            renumber[sl.live_articles] = np.arange(art_offset, art_offset + len(sl.live_articles))
            rows = seg.sentences.array[sl.live_rows]
            sentences.append(np.column_stack([renumber[rows[:, 0]], rows[:, 1:]]))
            parts.append((seg.lexical, sl.global_of_local))
            art_offset += len(sl.live_articles)
        self.articles: list[Article] = articles
        self.sentences = SentenceTable(np.concatenate(sentences) if sentences else
                                       np.zeros((0, 3), np.int64))
        self.hashes = (np.concatenate([sl.segment.hashes[sl.live_rows] for sl in self._slices])
                       if self._slices else np.zeros(0, "S16"))
        single = len(self._slices) == 1 and self._slices[0].whole
        self.vectors: Any = (self._slices[0].segment.vectors if single
                             else RowVectors(self._slices, self.dim, offset))
        self.dense = DenseView(self._slices, self.dim, offset)
        self.lexical = Bm25(parts)

    @cached_property
    def article_rows(self) -> dict[str, int]:
        """Article row by article id."""
        return {a.id: i for i, a in enumerate(self.articles)}

    @cached_property
    def article_first_row(self) -> np.ndarray:
        """First sentence row of each article (rows are grouped by article, in order)."""
        arts = self.sentences.article
        return np.searchsorted(arts, np.arange(len(self.articles)), side="left")

    @cached_property
    def article_body_row(self) -> np.ndarray:
        """First row of each article that is not its headline."""
        offsets = [sl.segment.body_offset[sl.live_articles] for sl in self._slices]
        return self.article_first_row + (np.concatenate(offsets) if offsets else 0)

    @cached_property
    def article_vectors(self) -> np.ndarray:
        """Normalized mean of each article's sentence vectors: what the article is about."""
        if len(self._slices) == 1 and self._slices[0].whole:
            return self._slices[0].segment.article_vectors
        parts = [sl.segment.article_vectors[sl.live_articles] for sl in self._slices]
        return np.concatenate(parts) if parts else np.zeros((0, self.dim), np.float32)

    def sentence_text(self, row: int) -> str:
        art, start, end = self.sentences.span(row)
        return self.articles[art].text[start:end]


class RowVectors:
    """The vectors of the view's rows, gathered from the segments' memory-mapped files."""

    dtype = np.dtype(np.float32)

    def __init__(self, slices: list[_Slice], dim: int, n: int) -> None:
        self._slices, self.shape = slices, (n, dim)
        self._starts = np.array([sl.row_offset for sl in slices], np.int64)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: Any) -> np.ndarray:
        if isinstance(rows, slice):
            rows = np.arange(self.shape[0])[rows]
        if np.ndim(rows) == 0:
            return self[np.array([rows])][0]
        rows = np.asarray(rows, np.int64)
        out = np.empty((len(rows), self.shape[1]), np.float32)
        which = np.searchsorted(self._starts, rows, side="right") - 1
        for s in np.unique(which).tolist():
            sl, pick = self._slices[s], which == s
            out[pick] = sl.segment.vectors[sl.live_rows[rows[pick] - sl.row_offset]]
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[np.arange(self.shape[0])]
        return out if dtype is None else out.astype(dtype)


class DenseView:
    """Dense search over every segment, candidates merged by score into global rows."""

    def __init__(self, slices: list[_Slice], dim: int, n: int) -> None:
        self._slices, self.d, self.ntotal = slices, dim, n

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` rows per query: ``(scores, rows)``, best first; rows are -1 past the end."""
        return self._search(queries, k, None)

    def search_within(self, queries: np.ndarray, k: int,
                      allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` rows per query among the rows where ``allowed`` is True: ``min(k,
        allowed.sum())`` of them for every query (see index.dense.search_within)."""
        scores, rows = self._search(queries, k, allowed)
        width = min(k, int(allowed.sum()))
        return scores[:, :width], rows[:, :width]

    def _search(self, queries: np.ndarray, k: int,
                allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.d)
        found: list[tuple[np.ndarray, np.ndarray]] = []
        for sl in self._slices:
            seg, n_live = sl.segment, len(sl.live_rows)
            part = None if allowed is None else allowed[sl.row_offset:sl.row_offset + n_live]
            if n_live == 0 or k <= 0 or (part is not None and not part.any()):
                continue
            if part is not None or sl.dead > OVERFETCH_LIMIT:
                s, r = dense_index.search_within(seg.dense, seg.vectors, queries, min(k, n_live),
                                                 sl.mask(part))
            else:
                s, r = dense_index.search(seg.dense, queries, min(k + sl.dead, seg.dense.ntotal))
            rows = np.where(r >= 0, sl.global_of_local[np.maximum(r, 0)], -1)
            found.append((np.where(rows >= 0, s, -np.inf).astype(np.float32), rows))
        if len(self._slices) == 1 and self._slices[0].whole and found and found[0][1].shape[1] == k:
            return found[0]  # one whole segment: FAISS's answer as it is
        nq = len(queries)
        scores = np.concatenate([s for s, _ in found] + [np.full((nq, k), -np.inf, np.float32)],
                                axis=1)
        rows = np.concatenate([r for _, r in found] + [np.full((nq, k), -1, np.int64)], axis=1)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(scores, order, 1), np.take_along_axis(rows, order, 1)
