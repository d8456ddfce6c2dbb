"""Splitting an index into article shards (index.shards), and BM25 scored per shard with the
statistics of all of them (index.bm25): each row scores what it scores in the whole index."""

from __future__ import annotations

import json

import numpy as np
import pytest

from index import shards, store
from index.lexical import analyze
from tests.conftest import QUESTIONS
from tests.conftest import fake_assistant as bot


def test_split_puts_each_article_in_one_shard_by_its_id(indexes) -> None:
    one = store.load(indexes / "one")
    for n in (2, 3):
        dirs = shards.shard_dirs(indexes / f"split{n}")
        assert [d.name for d in dirs] == [f"shard-{i}" for i in range(n)]
        seen = {}
        for i, d in enumerate(dirs):
            data = store.load(d)
            assert data.articles and all(shards.shard_of(a.id, n) == i for a in data.articles)
            for a, art in enumerate(data.articles):
                rows = np.flatnonzero(data.sentences.article == a)
                seen[art.id] = (art, data.sentences.array[rows, 1:].tolist(),
                                np.asarray(data.vectors[rows]))
        assert sorted(seen) == sorted(a.id for a in one.articles)
        for a, art in enumerate(one.articles):  # the same rows and vectors, copied
            rows = np.flatnonzero(one.sentences.article == a)
            assert seen[art.id][0] == art
            assert seen[art.id][1] == one.sentences.array[rows, 1:].tolist()
            np.testing.assert_array_equal(seen[art.id][2], np.asarray(one.vectors[rows]))


def test_each_shard_scores_bm25_with_the_whole_collection_bit_for_bit(indexes) -> None:
    one = store.load(indexes / "one")
    parts = [store.load(d) for d in shards.shard_dirs(indexes / "split3")]
    for q in QUESTIONS:
        terms = analyze(q)
        stats = [p.lexical.term_stats(terms) for p in parts]
        n = sum(s.n for s in stats)
        length = sum(s.length for s in stats)
        df = {}
        for s in stats:
            for t, d in s.df.items():
                df[t] = df.get(t, 0) + d
        assert n == len(one.sentences) and df == one.lexical.term_stats(terms).df
        full = one.lexical.scores(q)
        for p in parts:
            mine = p.lexical.for_corpus(n, length).scores(q, df)
            rows = [one.article_first_row[one.article_rows[p.articles[a].id]] + int(
                r - p.article_first_row[a]) for r, a in enumerate(p.sentences.article)]
            np.testing.assert_array_equal(mine, full[rows])
            assert p.lexical.scores(q).tolist() != full[rows].tolist() or len(parts) == 1


def test_a_damaged_layout_says_how_to_split_again(indexes, tmp_path) -> None:
    (tmp_path / shards.LAYOUT).write_text('{"format": "daleel.shards"', "utf-8")
    with pytest.raises(shards.ShardLayoutError, match="daleel shard SOURCE_INDEX --shards N"):
        bot(tmp_path)
    (tmp_path / shards.LAYOUT).write_text(json.dumps(
        {"format": "daleel.shards", "version": 1, "shards": ["shard-0", "shard-7"]}), "utf-8")
    with pytest.raises(shards.ShardLayoutError, match="not a daleel shard layout"):
        bot(tmp_path)
    with pytest.raises(ValueError, match="its own directory"):
        shards.split(indexes / "one", indexes / "one", 2)
    with pytest.raises(ValueError, match="not a sharded index"):
        bot(indexes / "one", ray="local")
