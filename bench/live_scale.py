"""Benchmark: what an update costs beside embedding, at the size of the full ANT index.

Writes one synthetic segment the size of the full ANT index (31,525 articles, ~318,000
sentences, random unit vectors of dimension 384, synthetic BM25 postings, a flat FAISS index
to skip IVF training), then, with a stand-in encoder (no model):

* a one-article update with ``build_index`` given only the new file: seconds, and how many
  segments result;
* the hot reload a running chat does afterwards (``store.load`` reusing the loaded segment),
  against a cold load;
* BM25 scoring and dense search on the update's 2 segments against the base alone.

    .venv/bin/python bench/live_scale.py [--articles 31525] [--sentences-per-article 10]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from index import store
from index.build import build_index
from index.corpus import Article
from index.lexical import LexicalIndex
from index.segments import SegmentData
from index.sentences import SentenceTable

DIM = 384


class StandIn:
    """Random unit vectors; what a build reads of an encoder."""

    name, backend, dim, fingerprint = "stand-in", "torch", DIM, "stand-in-384"

    def encode_passages(self, texts):
        v = np.random.default_rng(len(texts)).standard_normal((len(texts), DIM))
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)

    encode_queries = encode_passages


def synthetic(n_articles: int, per: int) -> SegmentData:
    rng = np.random.default_rng(0)
    articles, spans = [], []
    for a in range(n_articles):
        sentences = [f"s{a}x{j} " + " ".join(f"w{t}" for t in rng.zipf(1.3, 8) % 50_000)
                     + "." for j in range(per)]
        text, start = "", 0
        for s in sentences:
            spans.append((a, start, start + len(s)))
            text += s + "\n"
            start = len(text)
        articles.append(Article(id=f"ant-{a}", title=sentences[0], text=text, source="syn",
                                date="2018-01-01", path="/synthetic"))
    n = len(spans)
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    lengths = np.full(n, 9, np.int32)
    term_ids = np.minimum(rng.zipf(1.3, 9 * n) - 1, 199_999).astype(np.int64)
    lexical = LexicalIndex.from_pairs({f"w{i}": i for i in range(200_000)}, term_ids,
                                      np.repeat(np.arange(n, dtype=np.int64), 9), lengths)
    keys = rng.bytes(16 * n)
    model = {"name": StandIn.name, "fingerprint": StandIn.fingerprint, "dim": DIM,
             "backend": "torch"}
    settings = {"context": "title", "max_sentence_chars": 1000, "analyzer_version": 1}
    return SegmentData(articles, ["/synthetic"] * n_articles, SentenceTable.from_rows(spans),
                       np.frombuffer(rng.bytes(16 * n), "S16"), np.frombuffer(keys, "S16"),
                       np.zeros(n, bool), vectors, lexical, model, settings)


def timed(fn, repeat: int = 1) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--articles", type=int, default=31_525)
    p.add_argument("--sentences-per-article", type=int, default=10)
    args = p.parse_args()
    from index import dense
    from index.build import MAX_SENTENCE_CHARS
    from index.lexical import ANALYZER_VERSION

    dense.EXACT_SEARCH_LIMIT = 10**9  # flat: no IVF training for a synthetic benchmark
    with tempfile.TemporaryDirectory() as tmp:
        index_dir, new = Path(tmp) / "idx", Path(tmp) / "new.jsonl"
        data = synthetic(args.articles, args.sentences_per_article)
        data.settings = {"context": "title", "max_sentence_chars": MAX_SENTENCE_CHARS,
                         "analyzer_version": ANALYZER_VERSION}
        start = time.perf_counter()
        store.save(data, index_dir, {"counts": {"articles": len(data.articles),
                                                "sentences": len(data.hashes)}})
        print(f"synthetic base: {len(data.articles):,} articles, {len(data.hashes):,} sentences,"
              f" written in {time.perf_counter() - start:.1f} s")
        del data
        base = store.load(index_dir)
        new.write_text('{"id": "new-1", "title": "خبر جديد", "text": "خبر جديد\\nجملة أولى عن '
                       'النفط. وجملة ثانية عن الطقس."}\n', encoding="utf-8")
        start = time.perf_counter()
        report = build_index([new], index_dir, encoder=StandIn())
        print(f"one-article update: {time.perf_counter() - start:.2f} s "
              f"({report.segments} segments, {report.articles:,} articles)")
        cold = timed(lambda: store.load(index_dir))
        warm = timed(lambda: store.load(index_dir, reuse=base), repeat=3)
        print(f"load after the update: cold {cold:.2f} s, hot reload reusing the base {warm:.2f} s")
        both = store.load(index_dir, reuse=base)
        queries = [" ".join(f"w{t}" for t in np.random.default_rng(i).integers(10, 5000, 5))
                   for i in range(100)]
        for name, view in (("base + update", both), ("base alone", base)) * 2:
            bm = timed(lambda v=view: [v.lexical.scores(q) for q in queries], repeat=5) * 10
            qv = StandIn().encode_queries(queries[:1])
            ds = timed(lambda v=view, q=qv: v.dense.search(q, 100), repeat=20) * 1000
            print(f"{name}: BM25 {bm:.2f} ms a query, dense top-100 {ds:.1f} ms (flat)")


if __name__ == "__main__":
    main()
