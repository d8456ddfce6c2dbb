"""Retrieval: dense and BM25 candidates united, ranked, and turned into exact hits."""

from __future__ import annotations

import numpy as np
import pytest

from index import store
from qa.retrieve import Retriever, Settings
from tests.conftest import FakeEncoder


@pytest.fixture(scope="module")
def retriever(fake_index):
    return Retriever(store.load(fake_index), FakeEncoder(), Settings(candidates=3))


def test_candidates_unite_dense_and_lexical_with_true_scores(retriever) -> None:
    (c,) = retriever.candidates_batch(["بحيرة فيكتوريا"])
    data = retriever.data
    assert len(set(c.rows.tolist())) == len(c.rows)  # no row twice
    qvec = FakeEncoder().encode_queries(["بحيرة فيكتوريا"])[0]
    # Every candidate's dense score is its true cosine, whichever retriever found it.
    np.testing.assert_allclose(c.dense, data.vectors[c.rows] @ qvec, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c.lexical, data.lexical.scores("بحيرة فيكتوريا")[c.rows])
    best_lexical = int(np.argmax(data.lexical.scores("بحيرة فيكتوريا")))
    assert best_lexical in c.rows


def test_score_batch_orders_by_rank_score(retriever) -> None:
    (ranked,) = retriever.score_batch(["أين ينبع النيل"], k=4)
    assert len(ranked) == 4
    scores = [s.score for s in ranked]
    assert scores == sorted(scores, reverse=True)
    assert retriever.to_hit(ranked[0]).sentence == "ينبع النيل من بحيرة فيكتوريا."


def test_hits_slice_back_exactly(retriever) -> None:
    data = retriever.data
    for ranked in retriever.score_batch(["القهوة", "النيل", "Brazil"], k=5):
        for s in ranked:
            hit = retriever.to_hit(s)
            article = data.articles[data.article_rows[hit.article_id]]
            assert article.text[hit.start:hit.end] == hit.sentence


def test_empty_query_list(retriever) -> None:
    assert retriever.score_batch([], k=3) == []
