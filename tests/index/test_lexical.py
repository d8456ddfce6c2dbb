"""Tests for index.lexical: Arabic analysis and a BM25 index checked against brute force."""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index.lexical import LexicalIndex, analyze, normalize_arabic

SENTENCES = [
    "أعلنت وزارة الدفاع الأمريكية أن عدد الجنود الأمريكيين في العراق يبلغ 2500 جندي.",
    "قالت الحكومة العراقية إنها ستبدأ محادثات رسمية مع الولايات المتحدة.",
    "ارتفعت أسعار النفط في الأسواق العالمية بعد قرار أوبك خفض الإنتاج.",
    "بدأت المفاوضات بين الحكومة والمعارضة في جنيف يوم الاثنين.",
    "أرسلت فرنسا مئات الجنود إلى مالي لمكافحة الجماعات المسلحة.",
    "افتتح وزير التعليم مدرسة جديدة في القاهرة بحضور المحافظ.",
    "فاز المنتخب المغربي على نظيره الإسباني في كأس العالم.",
    "تراجعت البورصة السعودية بنسبة ٢٪ في تعاملات اليوم.",
    "أكد الرئيس أن الانتخابات ستجرى في موعدها المحدد.",
    "والمفاوضات مستمرة رغم الخلافات حول الجدول الزمني لانسحاب القوات.",
    "شهدت العاصمة اللبنانية بيروت احتجاجات واسعة على ارتفاع الأسعار.",
    "سجلت وزارة الصحة ألف إصابة جديدة بفيروس كورونا خلال أسبوع.",
    "The Voice returns with four new coaches this season.",
    "في من على إلى هذا.",
]
QUERIES = [
    "كم عدد الجنود في العراق",
    "متى بدأت المفاوضات بين الحكومة والمعارضة؟",
    "أسعار النفط",
    "الجنود",
    "مدرسة القاهرة",
    "ما هي نسبة تراجع البورصة السعودية",
    "voice coaches",
    "مفاوضات مفاوضات الحكومة",  # a repeated term counts twice
    "كلمة غير موجودة إطلاقا",
]


def reference_bm25(docs: list[list[str]], query: list[str], k1: float, b: float) -> np.ndarray:
    """Textbook Lucene-variant BM25, written independently of bm25s and of the index."""
    n = len(docs)
    avgdl = sum(len(d) for d in docs) / n or 1.0  # all-empty corpus: nothing matches anyway
    df = Counter(t for d in docs for t in set(d))
    out = np.zeros(n)
    for i, doc in enumerate(docs):
        tf = Counter(doc)
        for term in query:
            if tf[term]:
                idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
                out[i] += idf * tf[term] / (tf[term] + k1 * (1 - b + b * len(doc) / avgdl))
    return out


@pytest.fixture(scope="module")
def index() -> LexicalIndex:
    return LexicalIndex.build(SENTENCES)


# --- normalization -------------------------------------------------------------------------


def test_tashkeel_tatweel_and_zero_width_removed() -> None:
    assert normalize_arabic("مُحَمَّـــدٌ") == "محمد"
    assert normalize_arabic("الْقُرْآنُ") == "القران"
    assert normalize_arabic("من\u200cزل\u200f\u202b\ufeff") == "منزل"


def test_alef_hamza_and_letter_folding() -> None:
    assert normalize_arabic("أحمد إبراهيم آمال ٱلله") == "احمد ابراهيم امال الله"
    assert normalize_arabic("مدرسة مستشفى مؤتمر رئيس") == "مدرسه مستشفي موتمر رييس"


def test_digits_presentation_forms_and_case() -> None:
    assert normalize_arabic("٢٠١٨ و۱۴۰۲") == "2018 و1402"
    assert normalize_arabic("ﻣﺮﺣﺒﺎ ﻻ") == "مرحبا لا"
    assert normalize_arabic("CNN") == "cnn"


def test_analyze_drops_stopwords_and_question_words() -> None:
    assert analyze("في من على إلى عن أن إن كان التي الذي هذا هذه ذلك تلك ثم أو و") == []
    assert analyze("كم متى أين من ماذا ما لماذا كيف هل") == []
    assert analyze("وفي فإن ومن؟! ، ؛ « »") == []
    assert analyze("the of and what is") == []


def test_ali_is_not_the_preposition_ala() -> None:
    assert analyze("على") == []
    assert analyze("علي") != []


@pytest.mark.parametrize(
    "forms",
    [
        ("المفاوضات", "مفاوضات", "والمفاوضات", "بالمفاوضات"),
        ("الجنود", "جنود", "والجنود", "للجنود"),
        ("الحكومة", "حكومة", "الحُكُومَةُ", "الحكـــومة", "للحكومة"),
        ("العراق", "عراق", "والعراق", "بالعراق"),
    ],
)
def test_inflected_forms_meet(forms: tuple[str, ...]) -> None:
    terms = {tuple(analyze(f)) for f in forms}
    assert len(terms) == 1 and len(next(iter(terms))) == 1, terms


def test_tokenizer_splits_punctuation_scripts_and_digits() -> None:
    assert analyze("«بـCNN»، ٢٠١٨م؟") == ["cnn", "2018"]
    assert analyze("السلام،الحرب") == analyze("السلام الحرب")
    assert analyze("Running dogs") == ["run", "dog"]


def search(index: LexicalIndex, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` rows (int64 ids, float32 scores), best first, ties by lower row id; only rows
    sharing a term with the query. A reference ranking over :meth:`LexicalIndex.scores`."""
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    all_scores = index.scores(query)
    rows = np.flatnonzero(all_scores > 0)
    order = np.lexsort((rows, -all_scores[rows]))[:k]
    rows = rows[order].astype(np.int64)
    return rows, all_scores[rows]


# --- search --------------------------------------------------------------------------------


def test_question_finds_matching_sentence(index: LexicalIndex) -> None:
    rows, scores = search(index, "كم عدد الجنود في العراق", 3)
    assert rows[0] == 0
    assert rows.dtype == np.int64 and scores.dtype == np.float32
    assert np.all(np.diff(scores) <= 0)
    rows, _ = search(index, "متى بدأت المفاوضات بين الحكومة والمعارضة؟", 1)
    assert rows.tolist() == [3]


def test_each_sentence_finds_itself(index: LexicalIndex) -> None:
    # Index-time and query-time analysis agree: a sentence used as a query ranks first.
    for row, text in enumerate(SENTENCES[:-1]):
        assert search(index, text, 1)[0].tolist() == [row], text


@pytest.mark.parametrize("query", QUERIES)
def test_scores_match_reference_bm25(index: LexicalIndex, query: str) -> None:
    want = reference_bm25([analyze(s) for s in SENTENCES], analyze(query), index.K1, index.B)
    got = index.scores(query)
    assert got.dtype == np.float32 and got.shape == (len(SENTENCES),)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)

    rows, scores = search(index, query, 5)
    matching = np.flatnonzero(want > 0)
    expected = matching[np.lexsort((matching, -got[matching]))][:5]
    np.testing.assert_array_equal(rows, expected)
    np.testing.assert_array_equal(scores, got[rows])


WORDS = ["الجنود", "جندي", "العراق", "والعراق", "النفط", "أسعار", "الحكومة", "2018", "في"]


@settings(max_examples=40, deadline=None)
@given(
    docs=st.lists(st.lists(st.sampled_from(WORDS), max_size=6), min_size=1, max_size=12),
    query=st.lists(st.sampled_from(WORDS), min_size=1, max_size=4),
)
def test_scores_match_reference_on_random_corpora(docs: list[list[str]], query: list[str]) -> None:
    texts = [" ".join(d) for d in docs]
    index = LexicalIndex.build(texts)
    terms = [analyze(t) for t in texts]
    want = reference_bm25(terms, analyze(" ".join(query)), index.K1, index.B)
    np.testing.assert_allclose(index.scores(" ".join(query)), want, rtol=1e-5, atol=1e-6)


def test_fewer_than_k_and_bad_k(index: LexicalIndex) -> None:
    rows, scores = search(index, "أسعار النفط", 100)
    assert 0 < len(rows) < 100 and np.all(scores > 0)
    assert len(search(index, "أسعار النفط", 0)[0]) == 0
    with pytest.raises(ValueError, match="k must be"):
        search(index, "النفط", -1)


def test_ties_break_by_row_id() -> None:
    index = LexicalIndex.build(["النفط", "الجنود", "النفط", "النفط"])
    assert search(index, "النفط", 2)[0].tolist() == [0, 2]


# --- save / load ---------------------------------------------------------------------------


def test_save_load_roundtrip(index: LexicalIndex, tmp_path: Path) -> None:
    directory = tmp_path / "lexical"
    index.save(directory)
    index.save(directory)  # overwriting an existing index replaces it
    loaded = LexicalIndex.load(directory)
    assert len(loaded) == len(index)
    for query in QUERIES:
        for a, b in zip(search(index, query, 10), search(loaded, query, 10), strict=True):
            np.testing.assert_array_equal(a, b)
    files = {p.name for p in tmp_path.rglob("*") if p.is_file()}
    assert not [f for f in files if not f.endswith((".npy", ".json"))], files
    # Terms are stored as readable UTF-8 (ensure_ascii=False), not \u escapes.
    assert analyze("المفاوضات")[0] in (directory / "vocab.json").read_text(encoding="utf-8")


def test_load_refuses_other_settings(index: LexicalIndex, tmp_path: Path) -> None:
    index.save(tmp_path / "lex")
    manifest = tmp_path / "lex" / "manifest.json"
    meta = json.loads(manifest.read_text(encoding="utf-8"))
    meta["analyzer_version"] = -1
    manifest.write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ValueError, match="rebuild"):
        LexicalIndex.load(tmp_path / "lex")
    with pytest.raises(FileNotFoundError):
        LexicalIndex.load(tmp_path / "missing")


# --- edge cases ----------------------------------------------------------------------------


def test_empty_corpus(tmp_path: Path) -> None:
    index = LexicalIndex.build([])
    assert len(index) == 0
    rows, scores = search(index, "الجنود", 5)
    assert rows.dtype == np.int64 and scores.dtype == np.float32 and len(rows) == 0
    assert index.scores("الجنود").shape == (0,)
    index.save(tmp_path / "empty")
    assert len(search(LexicalIndex.load(tmp_path / "empty"), "الجنود", 5)[0]) == 0


def test_corpus_of_stopwords_only() -> None:
    index = LexicalIndex.build(["في من على", "", "؟!"])
    assert len(index) == 3
    assert len(search(index, "في الجنود", 5)[0]) == 0
    assert index.scores("الجنود").tolist() == [0.0, 0.0, 0.0]


def test_stopword_only_query(index: LexicalIndex) -> None:
    for query in ["في من على؟", "...،؛", "", "   "]:
        rows, scores = search(index, query, 5)
        assert len(rows) == 0 and len(scores) == 0
        assert not index.scores(query).any()


def test_english_query_on_english_text() -> None:
    index = LexicalIndex.build(["Oil prices rose sharply.", "The dog runs in the park.", "كلب"])
    assert search(index, "running dogs", 5)[0].tolist() == [1]


def test_very_long_query(index: LexicalIndex) -> None:
    query = (" ".join(SENTENCES) * 200)[:100_000]
    start = time.perf_counter()
    rows, scores = search(index, query, 5)
    assert time.perf_counter() - start < 2.0
    assert len(rows) == 5 and np.all(np.isfinite(scores))
    assert len(search(index, "؟" * 100_000, 5)[0]) == 0
