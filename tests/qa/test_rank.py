"""Ranking features, by name, on a tiny index with known contents."""

from __future__ import annotations

import numpy as np
import pytest

from index import store
from qa import rank


@pytest.fixture(scope="module")
def data(fake_index):
    return store.load(fake_index)


def cands(data, rows, dense, lexical, qvec=None):
    qvec = np.zeros(data.vectors.shape[1], np.float32) if qvec is None else qvec
    return rank.Candidates(np.array(rows, np.int64), np.array(dense, np.float32),
                           np.array(lexical, np.float32), qvec)


def column(feats, name):
    return feats[:, rank.FEATURES.index(name)]


def test_features_by_name(data) -> None:
    rows = [data.article_body_row[0], data.article_body_row[0] + 1, data.article_body_row[1]]
    texts = [data.sentence_text(r) for r in rows]
    question = "كم يبلغ طول النيل؟"
    feats = rank.features(question, rank.evidence(
        question, cands(data, rows, [0.5, 0.7, 0.2], [4, 2, 0]), data))
    assert feats.shape == (3, len(rank.FEATURES))
    np.testing.assert_allclose(column(feats, "dense"), [0.5, 0.7, 0.2])
    np.testing.assert_allclose(column(feats, "dense_gap"), [-0.2, 0.0, -0.5], atol=1e-6)
    np.testing.assert_allclose(column(feats, "lexical_ratio"), [1.0, 0.5, 0.0])
    # Best within the sentence's article, minus the overall best.
    np.testing.assert_allclose(column(feats, "article_dense_gap"), [0.0, 0.0, -0.5], atol=1e-6)
    np.testing.assert_allclose(column(feats, "first_sentence"), [1, 0, 1])
    np.testing.assert_allclose(column(feats, "headline"), [0, 0, 0])
    np.testing.assert_allclose(column(feats, "log_length"), np.log1p([len(t) for t in texts]),
                               rtol=1e-6)
    # "كم" asks for a number: only the first sentence (6650) has one.
    assert texts[0].startswith("يبلغ طول")
    np.testing.assert_allclose(column(feats, "type_match"), [1, 0, 0])
    np.testing.assert_allclose(column(feats, "type_miss"), [0, 1, 1])


def test_no_answer_type_leaves_type_columns_zero(data) -> None:
    feats = rank.features("النيل", rank.evidence("النيل", cands(data, [1, 2], [0.1, 0.2], [0, 0]),
                                                 data))
    assert not column(feats, "type_match").any() and not column(feats, "type_miss").any()
    assert not column(feats, "lexical_ratio").any()  # no BM25 evidence at all


def test_answer_type() -> None:
    assert rank.answer_type("كم عدد الجنود؟") == "number"
    assert rank.answer_type("ومتى حدث ذلك؟") == "date"
    assert rank.answer_type("When did it start?") == "date"
    assert rank.answer_type("من هو الرئيس؟") == ""


def test_score_is_the_weighted_sum() -> None:
    feats = np.eye(len(rank.FEATURES), dtype=np.float32)
    np.testing.assert_allclose(rank.score(feats), rank.WEIGHTS)
