"""Sentence retrieval: dense (FAISS) and lexical (BM25) evidence fused into one ranking.

Candidates are the union of the dense top-N and the BM25 top-N. Each gets a fused score: a
weighted sum of the dense cosine and the BM25 score, both scaled to [0, 1] over the candidates.
Weights were tuned on XQuAD-ar only and checked on TyDi-ar (BENCHMARKS.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from index.embed import Encoder
from index.store import IndexData
from qa.records import Hit


@dataclass(frozen=True, slots=True)
class Settings:
    #: Share of the dense score in the fused score (the rest is BM25).
    dense_weight: float = 0.6
    #: Candidates taken from each retriever before fusion.
    candidates: int = 100


@dataclass(frozen=True, slots=True)
class Scored:
    """A candidate row with the evidence used to rank it and to decide whether to answer."""

    row: int
    score: float
    dense: float
    lexical: float


class Retriever:
    def __init__(self, data: IndexData, encoder: Encoder, settings: Settings | None = None):
        self.data = data
        self.encoder = encoder
        self.settings = settings or Settings()

    def score_batch(self, queries: Sequence[str], k: int) -> list[list[Scored]]:
        """Top ``k`` candidate rows for each query, best first."""
        n = len(self.data.sentences)
        if n == 0 or not queries:
            return [[] for _ in queries]
        qvecs = self.encoder.encode_queries(list(queries))
        depth = min(n, max(self.settings.candidates, k))
        dense_scores, dense_rows = self.data.dense.search(qvecs, depth)
        return [
            self._fuse(q, qv, dense_rows[i], dense_scores[i], k)
            for i, (q, qv) in enumerate(zip(queries, qvecs, strict=True))
        ]

    def _fuse(
        self, query: str, qvec: np.ndarray, rows: np.ndarray, dense: np.ndarray, k: int
    ) -> list[Scored]:
        keep = rows >= 0  # FAISS pads with -1 when it finds fewer than asked
        rows, dense = rows[keep], dense[keep]
        all_lexical = self.data.lexical.scores(query)
        extra = np.setdiff1d(_top_rows(all_lexical, self.settings.candidates), rows)
        if len(extra):
            rows = np.concatenate([rows, extra])
            dense = np.concatenate([dense, self.data.vectors[extra] @ qvec])
        lexical = all_lexical[rows]
        fused = self.settings.dense_weight * _scale(dense) + (
            1 - self.settings.dense_weight
        ) * _scale(lexical)
        order = np.argsort(-fused, kind="stable")[:k]
        return [
            Scored(int(rows[i]), float(fused[i]), float(dense[i]), float(lexical[i])) for i in order
        ]

    def to_hit(self, scored: Scored) -> Hit:
        art_row, start, end = (int(x) for x in self.data.sentences[scored.row])
        art = self.data.articles[art_row]
        return Hit(
            article_id=art.id,
            title=art.title,
            sentence=art.text[start:end],
            start=start,
            end=end,
            score=round(scored.score, 6),
            url=art.url,
            date=art.date,
            source=art.source,
        )


def _top_rows(scores: np.ndarray, n: int) -> np.ndarray:
    """Rows of the ``n`` highest positive scores (unordered)."""
    top = np.argpartition(-scores, n)[:n] if n < len(scores) else np.arange(len(scores))
    return top[scores[top] > 0]


def _scale(x: np.ndarray) -> np.ndarray:
    """Min-max to [0, 1]; a constant vector maps to zeros (it carries no ranking signal)."""
    lo, hi = float(x.min()), float(x.max())
    if hi - lo < 1e-9:
        return np.zeros_like(x, dtype=np.float32)
    return ((x - lo) / (hi - lo)).astype(np.float32)
