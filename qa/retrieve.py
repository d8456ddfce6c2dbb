"""Sentence retrieval: dense (FAISS) and lexical (BM25) candidates, ranked by qa.rank.

Candidates are the union of the dense top-N and the BM25 top-N, so a sentence that only one
retriever finds still competes; qa.rank scores them from both kinds of evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from index.bm25 import Corpus
from index.encoder import Encoder
from index.store import IndexData
from qa import rank
from qa.filters import Facets, Filter, article_days
from qa.records import Hit


@dataclass(frozen=True, slots=True)
class Settings:
    #: Candidates taken from each retriever before ranking.
    candidates: int = 100
    #: Weights of qa.rank.FEATURES.
    weights: tuple[float, ...] = tuple(rank.WEIGHTS.tolist())
    #: Added to the ranking score of a follow-up's context rows (the sentences of the article
    #: the previous answer quoted): the story under discussion comes first, the index second.
    #: On the ranker's scale 20 puts them ahead of other articles' sentences; 0-20 quote the
    #: same on the follow-up chains, 20 ranks one more right first (bench/followups.py).
    context_bonus: float = 20.0


@dataclass(frozen=True, slots=True)
class Scored:
    """A candidate row with the evidence used to rank it and to decide whether to answer
    (a sharded search, qa.shards, sends its hit with it; ``row`` is then a shard key)."""

    row: int
    score: float
    dense: float
    lexical: float
    hit: Hit | None = None


class Ranked(list[Scored]):
    """One query's ranked candidates; ``missing``: shards of a sharded index that did not
    answer, so these are from the others only (always empty for one index)."""

    def __init__(self, items: Sequence[Scored] = (), missing: tuple[int, ...] = ()) -> None:
        super().__init__(items)
        self.missing = missing


class Retriever:
    def __init__(self, data: IndexData, encoder: Encoder, settings: Settings | None = None):
        self.data = data
        self.encoder = encoder
        self.settings = settings or Settings()
        # Derived per-article arrays are computed now, in the loading thread, not mid-request.
        _ = data.article_vectors, data.article_body_row

    def score_batch(self, queries: Sequence[str], k: int,
                    context: Sequence[np.ndarray | None] | None = None,
                    allowed: np.ndarray | None = None) -> list[list[Scored]]:
        """Top ``k`` candidate rows for each query, best first. ``context`` (per query, or None)
        rows are candidates too, favoured by ``Settings.context_bonus``; ``allowed`` (a mask
        over rows, see :meth:`allowed_rows`) limits every candidate to those rows."""
        context = list(context) if context is not None else [None] * len(queries)
        if allowed is not None:
            context = [c if c is None else c[allowed[c]] for c in context]
        candidates = self.candidates_batch(queries, k, context, allowed)
        return [self.rank(q, c, k, favoured=f)
                for q, c, f in zip(queries, candidates, context, strict=True)]

    def ranked(self, queries: Sequence[str], k: int,
               contexts: Sequence[Sequence[str] | None] | None = None,
               flt: Filter | None = None) -> list[Ranked]:
        """Top ``k`` per query; ``contexts``: per query, the articles (ids) a follow-up is
        about, favoured; ``flt``: only its outlets and dates compete. (qa.shards.Fanout has
        the same method over a sharded index.)"""
        allowed = self.allowed_rows(flt)
        rows = None if contexts is None else [
            None if ids is None else self.article_rows(ids) for ids in contexts]
        return [Ranked(r) for r in self.score_batch(queries, k, rows, allowed)]

    def facets(self) -> Facets:
        return Facets.of(self.sources, self.days, len(self.data.sentences))

    def candidates_batch(self, queries: Sequence[str], k: int = 0,
                         context: Sequence[np.ndarray | None] | None = None,
                         allowed: np.ndarray | None = None, *, qvecs: np.ndarray | None = None,
                         corpus: Corpus | None = None) -> list[rank.Candidates]:
        """Union of the dense and the BM25 top candidates of each query (and its ``context``
        rows), with both scores; only ``allowed`` rows when a mask is given. ``qvecs``: the
        queries already embedded; ``corpus``: BM25 statistics of the whole collection when
        this index is one shard of it (index.bm25)."""
        n = len(self.data.sentences)
        if n == 0 or not queries or (allowed is not None and not allowed.any()):
            return [rank.Candidates(*_EMPTY) for _ in queries]
        if qvecs is None:
            qvecs = self.encoder.encode_queries(list(queries))
        depth = min(n, max(self.settings.candidates, k))
        if allowed is None:
            dense_scores, dense_rows = self.data.dense.search(qvecs, depth)
        else:
            dense_scores, dense_rows = self.data.dense.search_within(qvecs, depth, allowed)
        lexical = self.data.lexical
        if corpus is not None:
            lexical = lexical.for_corpus(corpus.n, corpus.length)
        return [
            self._candidates(q, qvecs[i], dense_rows[i], dense_scores[i],
                             context[i] if context is not None else None, allowed,
                             lexical.scores(q, corpus.df if corpus is not None else None))
            for i, q in enumerate(queries)
        ]

    def _candidates(
        self, query: str, qvec: np.ndarray, rows: np.ndarray, dense: np.ndarray,
        context: np.ndarray | None, allowed: np.ndarray | None, all_lexical: np.ndarray,
    ) -> rank.Candidates:
        keep = rows >= 0  # FAISS pads with -1 when it finds fewer than asked
        rows, dense = rows[keep], dense[keep]
        pool = all_lexical if allowed is None else np.where(allowed, all_lexical, 0)
        top_lexical = _top_rows(pool, self.settings.candidates)
        extra = top_lexical if context is None else np.union1d(top_lexical, context)
        extra = np.setdiff1d(extra, rows)
        if len(extra):
            rows = np.concatenate([rows, extra])
            dense = np.concatenate([dense, self.data.vectors[extra] @ qvec])
        kind = np.zeros(len(rows), np.uint8)
        kind[:int(keep.sum())] |= rank.DENSE_TOP
        kind[np.isin(rows, top_lexical)] |= rank.LEXICAL_TOP
        if context is not None:
            kind[np.isin(rows, context)] |= rank.CONTEXT
        return rank.Candidates(rows.astype(np.int64), dense, all_lexical[rows], qvec, kind)

    def rank(self, query: str, cands: rank.Candidates, k: int,
             favoured: np.ndarray | None = None) -> list[Scored]:
        weights = np.asarray(self.settings.weights, dtype=np.float32)
        scores = rank.score(rank.features(query, rank.evidence(query, cands, self.data)),
                            weights)
        if favoured is not None and len(favoured):
            scores = scores + self.settings.context_bonus * np.isin(cands.rows, favoured)
        order = np.argsort(-scores, kind="stable")[:k]
        return [
            Scored(int(cands.rows[i]), float(scores[i]), float(cands.dense[i]),
                   float(cands.lexical[i]))
            for i in order
        ]

    def allowed_rows(self, flt: Filter | None) -> np.ndarray | None:
        """Mask over sentence rows of the articles ``flt`` lets through (None: no filter)."""
        if flt is None:
            return None
        keep = flt.article_mask(self.sources, self.days)
        return keep[self.data.sentences.article]

    @cached_property
    def sources(self) -> list[str]:
        """Each article's outlet (``Article.source``)."""
        return [a.source for a in self.data.articles]

    @cached_property
    def days(self) -> np.ndarray:
        """Each article's day number (qa.filters.NO_DAY where its date is unreadable)."""
        return article_days(self.data.articles)

    def article_rows(self, article_ids: Sequence[str]) -> np.ndarray:
        """The sentence rows of the given articles (ids no longer indexed are left out)."""
        data, out = self.data, []
        for article_id in article_ids:
            a = data.article_rows.get(article_id)
            if a is not None:
                end = (data.article_first_row[a + 1] if a + 1 < len(data.articles)
                       else len(data.sentences))
                out.append(np.arange(data.article_first_row[a], end, dtype=np.int64))
        return np.concatenate(out) if out else np.zeros(0, np.int64)

    def to_hit(self, scored: Scored) -> Hit:
        if scored.hit is not None:
            return scored.hit
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


_EMPTY = (np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0), np.zeros(0, np.float32))


def _top_rows(scores: np.ndarray, n: int) -> np.ndarray:
    """Rows of the ``n`` highest positive scores (unordered)."""
    top = np.argpartition(-scores, n)[:n] if n < len(scores) else np.arange(len(scores))
    return top[scores[top] > 0]
