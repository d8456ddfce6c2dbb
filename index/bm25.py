"""BM25 over several segments at once, with the statistics of all of them together.

Each segment (:class:`~index.lexical.LexicalIndex`) stores raw term frequencies and row
lengths. :class:`Bm25` is built over the live rows of every segment of a generation: the row
count ``N``, each term's document frequency ``df`` and the mean row length are summed over the
live rows of all segments (deleted rows count nowhere), so a row scores what it would score in
one index built from the same articles. Exactly, bit for bit, not just closely:

* ``norm = k1 * (1 - b + b * len / avgdl)`` and the per-posting weight ``tf / (tf + norm)``
  are computed from integers and one float64 mean, then rounded once to float32;
* ``idf = log(1 + (N - df + 0.5) / (df + 0.5))`` is computed per query term from integer
  counts, and multiplied by the query's count of the term, rounded once to float32;
* a row's score adds its terms' contributions in the sorted order of the terms, the same
  order whatever segment holds the row.

The weights depend on ``avgdl``, which changes with every update, so they are computed when a
generation is loaded (one pass over the postings: measured in BENCHMARKS.md section 9), not
stored; a query then costs what it did when bm25s's precomputed weights were stored: one
multiply-add per posting of its terms, plus a few dictionary lookups per segment.

A shard of a sharded index (qa.shards) scores with the statistics of *all* shards, so that its
rows score what they would in the unsharded index: :meth:`Bm25.term_stats` reports its own row
count, total length and document frequencies; the driver sums them into a :class:`Corpus`,
and the shard scores with :meth:`Bm25.for_corpus` (weights compiled for the global mean length,
cached) and the global document frequencies.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from index.lexical import LexicalIndex, analyze


@dataclass(frozen=True, slots=True)
class Corpus:
    """Statistics BM25 needs of the whole collection: rows, summed row length, and the document
    frequency of each term asked about (a term not listed has df 0)."""

    n: int
    length: int
    df: dict[str, int]

    @classmethod
    def total(cls, parts: Sequence[Corpus]) -> Corpus:
        df: Counter[str] = Counter()
        for p in parts:
            df.update(p.df)
        return cls(sum(p.n for p in parts), sum(p.length for p in parts), dict(df))


@dataclass(frozen=True, slots=True)
class _Part:
    vocab: dict[str, int]
    indptr: np.ndarray  # int64 (terms + 1,): live postings of each term
    rows: np.ndarray  # int32/int64: global row of each live posting
    weights: np.ndarray  # float32: tf / (tf + norm) of each live posting


class Bm25:
    """BM25 (Lucene variant, ``LexicalIndex.K1``/``B``) over global rows.

    ``parts`` pairs each segment's postings with the global row of each of its rows (-1 for a
    deleted row); global rows must be ``0..N-1``, each used once. ``corpus`` (row count and
    summed length of a larger collection these rows are part of) sets the mean row length the
    weights are compiled for; by default these rows' own.
    """

    def __init__(self, parts: Sequence[tuple[LexicalIndex, np.ndarray]],
                 corpus: tuple[int, int] | None = None) -> None:
        self._source = list(parts)
        live = [rows >= 0 for _, rows in parts]
        self.n = int(sum(int(m.sum()) for m in live))
        self.length = sum(int(lex.lengths[m].sum(dtype=np.int64)) for (lex, _), m in zip(
            parts, live, strict=True))
        self.corpus = corpus or (self.n, self.length)
        self.avgdl = self.corpus[1] / self.corpus[0] if self.corpus[0] else 0.0
        dtype = np.int32 if self.n < 2**31 else np.int64
        self._parts = [self._compile(lex, rows, m, dtype) for (lex, rows), m in zip(
            parts, live, strict=True)] if self.length else []
        self._for: tuple[tuple[int, int], Bm25] | None = None

    def for_corpus(self, n: int, length: int) -> Bm25:
        """These rows, weighted for a collection of ``n`` rows of summed ``length`` (compiled
        once per collection size; a shard's is the same until some shard changes)."""
        if (n, length) == self.corpus:
            return self
        cached = self._for
        if cached is None or cached[0] != (n, length):
            cached = self._for = ((n, length), Bm25(self._source, (n, length)))
        return cached[1]

    def term_stats(self, terms: Sequence[str]) -> Corpus:
        """This collection's share of the statistics: rows, summed length, df of ``terms``."""
        df = {t: d for t in set(terms) if (d := self._df_of(t, self._postings(t), None))}
        return Corpus(self.n, self.length, df)

    def _compile(self, lex: LexicalIndex, rows: np.ndarray, live: np.ndarray,
                 dtype: type) -> _Part:
        k1, b = LexicalIndex.K1, LexicalIndex.B
        norm = k1 * (1.0 - b + b * lex.lengths.astype(np.float64) / self.avgdl)
        indices, tf, indptr = lex.indices, lex.tf, lex.indptr
        if not live.all():  # drop the postings of deleted rows
            keep = live[indices]
            term = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
            indptr = np.concatenate([[0], np.cumsum(np.bincount(
                term[keep], minlength=len(indptr) - 1))]).astype(np.int64)
            indices, tf = indices[keep], tf[keep]
        f = tf.astype(np.float64)
        weights = (f / (f + norm[indices])).astype(np.float32)
        return _Part(lex.vocab, indptr, rows[indices].astype(dtype), weights)

    def __len__(self) -> int:
        return self.n

    def _postings(self, term: str) -> list[tuple[_Part, int, int]]:
        out = []
        for part in self._parts:
            col = part.vocab.get(term)
            if col is not None and part.indptr[col + 1] > part.indptr[col]:
                out.append((part, int(part.indptr[col]), int(part.indptr[col + 1])))
        return out

    def _idf(self, df: int) -> float:
        return math.log1p((self.corpus[0] - df + 0.5) / (df + 0.5))

    def scores(self, query: str, df: dict[str, int] | None = None) -> np.ndarray:
        """BM25 score of every global row (float32, length ``N``); 0 where no term matches.
        ``df``: document frequencies over the whole collection (a shard's driver sums them);
        by default these rows' own.

        A term repeated in the query counts once per occurrence, as in textbook BM25 and bm25s.
        """
        out = np.zeros(self.n, dtype=np.float32)
        for term, qtf in sorted(Counter(analyze(query)).items()):
            postings = self._postings(term)
            if not postings:
                continue
            weight = np.float32(self._idf(self._df_of(term, postings, df)) * qtf)
            for part, lo, hi in postings:
                # Rows within one posting list are unique, so fancy-index += is exact.
                out[part.rows[lo:hi]] += part.weights[lo:hi] * weight
        return out

    @staticmethod
    def _df_of(term: str, postings: list[tuple[_Part, int, int]],
               df: dict[str, int] | None) -> int:
        return df.get(term, 0) if df is not None else sum(hi - lo for _, lo, hi in postings)

    def coverage(self, query: str, rows: np.ndarray,
                 df: dict[str, int] | None = None) -> np.ndarray:
        """IDF-weighted share of the query's distinct terms that each of ``rows`` contains.

        BM25 rewards a rare term matched twice; coverage rewards matching *all* the terms,
        which is what the sentence holding an answer tends to do (a ranking feature).
        """
        out = np.zeros(len(rows), dtype=np.float32)
        terms = sorted(set(analyze(query)))
        if not terms or not len(rows):
            return out
        known, total = 0, 0.0
        for term in terms:
            postings = self._postings(term)
            n_docs = self._df_of(term, postings, df)
            if not n_docs:
                continue
            known += 1
            idf = self._idf(n_docs)
            total += idf
            if postings:
                holding = np.concatenate([part.rows[lo:hi] for part, lo, hi in postings])
                out += np.float32(idf) * np.isin(rows, holding)
        # Query terms unknown to the index count in the denominator too: the corpus lacks them.
        total += (len(terms) - known) * math.log1p(self.corpus[0] + 0.5)
        return out / np.float32(total) if total > 0 else out
