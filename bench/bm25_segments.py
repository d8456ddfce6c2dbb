"""Benchmark: BM25 with global statistics over segments, against precomputed weights.

A synthetic lexical index of 300,000 sentences (Zipf-distributed terms, 12 per sentence, like
news sentences after stopwords) is scored three ways for the same queries:

* ``stored``: what index/lexical.py did before segments: bm25s-style precomputed
  ``idf * tf / (tf + norm)`` per posting, a query adds them up;
* ``one``: index.bm25.Bm25 over the index as one segment;
* ``segments``: the same rows as one large segment plus 30 small ones (one with deletions),
  scored with global statistics; checked bit for bit against ``one`` on the live rows.

Also reports the load-time cost (computing the per-posting weights for the global mean length).

    .venv/bin/python bench/bm25_segments.py [--rows 300000] [--queries 200]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from index.bm25 import Bm25
from index.lexical import LexicalIndex


def synthetic(rows: int, terms: int, per_row: int, seed: int) -> LexicalIndex:
    rng = np.random.default_rng(seed)
    lengths = rng.poisson(per_row, rows).astype(np.int32)
    ids = np.minimum(rng.zipf(1.3, int(lengths.sum())) - 1, terms - 1).astype(np.int64)
    row_of = np.repeat(np.arange(rows, dtype=np.int64), lengths)
    return LexicalIndex.from_pairs({str(i): i for i in range(terms)}, ids, row_of, lengths)


def split(lex: LexicalIndex, cuts: list[int]) -> list[LexicalIndex]:
    bounds = [0, *cuts, len(lex)]
    return [LexicalIndex.concat([(lex, np.arange(a, b))]) for a, b in zip(bounds, bounds[1:],
                                                                         strict=False)]


def stored_weights(lex: LexicalIndex) -> np.ndarray:
    """bm25s 'lucene' weights, as the old LexicalIndex stored them."""
    n, avgdl = len(lex), lex.lengths.mean()
    df = np.diff(lex.indptr)
    idf = np.log1p((n - df + 0.5) / (df + 0.5))
    norm = lex.K1 * (1 - lex.B + lex.B * lex.lengths / avgdl)
    tf = lex.tf.astype(np.float64)
    return (np.repeat(idf, df) * tf / (tf + norm[lex.indices])).astype(np.float32)


def stored_scores(lex: LexicalIndex, data: np.ndarray, query: str) -> np.ndarray:
    out = np.zeros(len(lex), np.float32)
    ids, counts = np.unique([lex.vocab[t] for t in query.split()], return_counts=True)
    for term, qtf in zip(ids.tolist(), counts.tolist(), strict=True):
        lo, hi = lex.indptr[term], lex.indptr[term + 1]
        out[lex.indices[lo:hi]] += data[lo:hi] * np.float32(qtf)
    return out


def timed(fn, queries: list[str]) -> float:
    fn(queries[0])
    times = []
    for q in queries:
        start = time.perf_counter()
        fn(q)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rows", type=int, default=300_000)
    p.add_argument("--queries", type=int, default=200)
    args = p.parse_args()
    lex = synthetic(args.rows, 200_000, 12, seed=0)
    rng = np.random.default_rng(1)
    # Question-like queries: 4-7 terms, mostly mid-frequency (ranks 10..5,000), one common.
    queries = [" ".join(str(t) for t in [*rng.integers(10, 5000, rng.integers(3, 7)),
                                         rng.integers(0, 10)]) for _ in range(args.queries)]
    data = stored_weights(lex)
    start = time.perf_counter()
    one = Bm25([(lex, np.arange(len(lex), dtype=np.int64))])
    load_one = (time.perf_counter() - start) * 1000

    big = int(0.9 * args.rows)
    cuts = [big + i * (args.rows - big) // 30 for i in range(30)][1:]
    parts = split(lex, [big, *cuts])
    maps, offset = [], 0
    for part in parts:
        maps.append(np.arange(offset, offset + len(part), dtype=np.int64))
        offset += len(part)
    start = time.perf_counter()
    seg = Bm25(list(zip(parts, maps, strict=True)))
    load_seg = (time.perf_counter() - start) * 1000
    for q in queries[:50]:  # bit for bit: the segmented index scores as the single one
        assert np.array_equal(one.scores(q), seg.scores(q)), q
    # Deleting half of one small segment: scores equal an index built without those rows.
    dead = np.zeros(len(lex), bool)
    dead[maps[3][::2]] = True
    remap = np.where(dead, -1, np.cumsum(~dead) - 1)
    deleted = Bm25([(part, remap[m]) for part, m in zip(parts, maps, strict=True)])
    fresh = Bm25([(LexicalIndex.concat([(lex, np.flatnonzero(~dead))]),
                   np.arange(int((~dead).sum()), dtype=np.int64))])
    for q in queries[:50]:
        assert np.array_equal(deleted.scores(q), fresh.scores(q)), q
    print(f"{len(lex):,} rows, {len(lex.tf):,} postings, {len(parts)} segments")
    print(f"load (weights for the global mean length): one {load_one:.0f} ms, "
          f"segments {load_seg:.0f} ms")
    stored = timed(lambda q: stored_scores(lex, data, q), queries)
    alone, split_up = timed(one.scores, queries), timed(seg.scores, queries)
    print(f"query median: stored weights {stored:.2f} ms, one segment {alone:.2f} ms, "
          f"{len(parts)} segments {split_up:.2f} ms")
    np.testing.assert_allclose(one.scores(queries[0]), stored_scores(lex, data, queries[0]),
                               rtol=2e-6, atol=1e-6)


if __name__ == "__main__":
    main()
