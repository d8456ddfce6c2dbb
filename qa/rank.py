"""Choosing the sentence: a small linear model over dense, lexical and answer-type evidence.

Each candidate sentence gets a handful of features; a linear model, fitted on XQuAD-ar by
``bench/fit_ranker.py`` (softmax over each question's candidates) and checked on TyDi-ar,
turns them into one score. The weights are plain constants here, so ranking is cheap and
reproducible; BENCHMARKS.md records what each feature earned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from index.bm25 import Corpus
from index.lexical import analyze
from index.store import IndexData

FEATURES = (
    "dense",  # cosine of question and embedded text (headline + sentence)
    "dense_gap",  # dense minus the best dense among candidates
    "lexical_ratio",  # BM25 / best BM25 among candidates
    "coverage",  # IDF-weighted share of question terms in the sentence
    "article_dense_gap",  # best dense within the sentence's article, minus the overall best
    "article_lexical_ratio",  # best BM25 ratio within the sentence's article
    "type_match",  # the question asks how many / when and the sentence has a number / date
    "type_miss",  # ...and the sentence has none
    "headline",  # the sentence is the article's headline
    "log_length",  # log of the sentence length in characters
    "article_centroid",  # cosine of the question and the mean vector of the article's sentences
    "first_sentence",  # the first sentence of the article body (definitions, summaries)
    "bigram_overlap",  # share of the question's adjacent term pairs found in the sentence
)

#: Fitted by bench/fit_ranker.py on XQuAD-ar (see BENCHMARKS.md); order as in FEATURES.
WEIGHTS = np.array(
    [25.02, 28.76, 0.08, 3.32, 60.55, 3.91, 1.78, -0.79, -0.61, -0.06, 23.84, -0.17, -0.41],
    dtype=np.float32,
)

_AR_DIGITS = "0-9\u0660-\u0669\u06f0-\u06f9"
_NUMBER_WORDS = (
    "واحد|اثن|ثلاث|أربع|اربع|خمس|ست|سبع|ثمان|تسع|عشر|مئة|مائة|مئات|ألف|الف|آلاف|مليون|ملايين|"
    "مليار|نصف|ربع|ثلث|ضعف|بالمئة|بالمائة"
)
_HAS_NUMBER = re.compile(rf"[{_AR_DIGITS}]|(?<!\w)(?:و|ب|ل)?(?:{_NUMBER_WORDS})")
_MONTHS = (
    "يناير|فبراير|مارس|أبريل|ابريل|مايو|يونيو|يوليو|أغسطس|اغسطس|سبتمبر|أكتوبر|اكتوبر|نوفمبر|"
    "ديسمبر|كانون|شباط|آذار|اذار|نيسان|أيار|ايار|حزيران|تموز|آب|أيلول|ايلول|تشرين|محرم|صفر|"
    "ربيع|جمادى|رجب|شعبان|رمضان|شوال|القعدة|الحجة"
)
_HAS_DATE = re.compile(
    rf"(?<![{_AR_DIGITS}])(?:1[0-9]|20)[0-9]{{2}}(?![{_AR_DIGITS}])|[\u0660-\u0669]{{4}}|"
    rf"{_MONTHS}|القرن|عام|سنة|الأحد|الاثنين|الثلاثاء|الأربعاء|الخميس|الجمعة|السبت|"
    r"\b(?:January|February|March|April|May|June|July|August|September|October|November|"
    r"December|century)\b"
)
_ASKS_NUMBER = re.compile(r"(?:^|\s|^و|\sو)(?:كم|بكم)(?:\s|$)|how (?:many|much)|ما عدد|ما نسبة",
                          re.IGNORECASE)
_ASKS_DATE = re.compile(
    r"(?:^|\s|^و|\sو)(?:متى)(?:\s|$|؟)|في أي (?:عام|سنة|قرن|شهر|يوم|تاريخ)|ما تاريخ|\bwhen\b|"
    r"what year|which year",
    re.IGNORECASE,
)


#: Why a row is a candidate (bits of ``Candidates.kind``): among the dense top, among the BM25
#: top, or in a follow-up's context. A sharded search (qa.shards) merges by them.
DENSE_TOP, LEXICAL_TOP, CONTEXT = 1, 2, 4


@dataclass(frozen=True, slots=True)
class Candidates:
    rows: np.ndarray  # int64 index rows
    dense: np.ndarray  # float32 cosines
    lexical: np.ndarray  # float32 BM25 scores
    query_vector: np.ndarray  # float32 (dim,)
    kind: np.ndarray | None = None  # uint8 bits DENSE_TOP | LEXICAL_TOP | CONTEXT per row


def answer_type(question: str) -> str:
    """'number', 'date' or '' from the question's wording (Arabic or English)."""
    if _ASKS_NUMBER.search(question):
        return "number"
    if _ASKS_DATE.search(question):
        return "date"
    return ""


@dataclass(frozen=True, slots=True)
class Evidence:
    """What ranking needs of each candidate, gathered where its rows live (the index, or the
    shard holding them): everything but what depends on the other candidates (gaps, ratios,
    best per article), which :func:`features` computes over the whole list."""

    dense: np.ndarray  # float32 cosines
    lexical: np.ndarray  # float32 BM25 scores
    coverage: np.ndarray  # float32, see Bm25.coverage
    article: np.ndarray  # int64: which article (a key unique among the candidates)
    headline: np.ndarray  # bool: the sentence is its article's headline
    first: np.ndarray  # bool: the first sentence of its article's body
    centroid: np.ndarray  # float32: cosine of the question and the article's mean vector
    texts: list[str]

    def take(self, picks: np.ndarray) -> Evidence:
        return Evidence(*(getattr(self, f)[picks] for f in _ARRAYS),
                        texts=[self.texts[i] for i in picks.tolist()])

    @classmethod
    def concat(cls, parts: list[Evidence]) -> Evidence:
        if not parts:
            return cls(*(np.zeros(0, t) for t in _ARRAYS.values()), texts=[])
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in _ARRAYS),
                   texts=[t for p in parts for t in p.texts])


_ARRAYS = {"dense": np.float32, "lexical": np.float32, "coverage": np.float32,
           "article": np.int64, "headline": bool, "first": bool, "centroid": np.float32}


def evidence(question: str, cands: Candidates, data: IndexData,
             corpus: Corpus | None = None) -> Evidence:
    """The candidates' evidence from the index holding them; ``corpus``: the statistics of the
    whole collection when ``data`` is one shard of it (index.bm25)."""
    if not len(cands.rows):
        return Evidence.concat([])
    articles = data.sentences.article[cands.rows]
    body_row = data.article_body_row[articles]
    return Evidence(
        dense=cands.dense.astype(np.float32), lexical=cands.lexical.astype(np.float32),
        coverage=(data.lexical.coverage(question, cands.rows) if corpus is None else
                  data.lexical.for_corpus(corpus.n, corpus.length).coverage(
                      question, cands.rows, corpus.df)),
        article=articles.astype(np.int64), headline=cands.rows < body_row,
        first=cands.rows == body_row,
        centroid=(data.article_vectors[articles] @ cands.query_vector).astype(np.float32),
        texts=[data.sentence_text(int(r)) for r in cands.rows])


def features(question: str, ev: Evidence) -> np.ndarray:
    """(len(candidates), len(FEATURES)) float32 feature matrix for one question's candidates."""
    n = len(ev.texts)
    out = np.zeros((n, len(FEATURES)), dtype=np.float32)
    if n == 0:
        return out
    dense, lexical, texts = ev.dense, ev.lexical, ev.texts
    best_lex = float(lexical.max())
    lex_ratio = lexical / best_lex if best_lex > 0 else np.zeros_like(lexical)
    art_dense = _group_max(ev.article, dense)
    art_lex = _group_max(ev.article, lex_ratio)
    wants = answer_type(question)
    pattern = {"number": _HAS_NUMBER, "date": _HAS_DATE}.get(wants)
    has = (np.array([bool(pattern.search(t)) for t in texts], dtype=np.float32)
           if pattern is not None else None)
    columns = {
        "dense": dense,
        "dense_gap": dense - dense.max(),
        "lexical_ratio": lex_ratio,
        "coverage": ev.coverage,
        "article_dense_gap": art_dense - dense.max(),
        "article_lexical_ratio": art_lex,
        "type_match": has if has is not None else 0.0,
        "type_miss": 1.0 - has if has is not None else 0.0,
        "headline": ev.headline,
        "log_length": np.log1p([len(t) for t in texts]),
        "article_centroid": ev.centroid,
        "first_sentence": ev.first,
        "bigram_overlap": _bigram_overlap(question, texts),
    }
    for i, name in enumerate(FEATURES):
        out[:, i] = columns[name]
    return out


def score(feats: np.ndarray, weights: np.ndarray = WEIGHTS) -> np.ndarray:
    return feats @ weights


def _bigram_overlap(question: str, texts: list[str]) -> np.ndarray:
    terms = analyze(question)
    wanted = set(zip(terms, terms[1:], strict=False))
    if not wanted:
        return np.zeros(len(texts), dtype=np.float32)
    out = []
    for text in texts:
        t = analyze(text)
        out.append(len(wanted & set(zip(t, t[1:], strict=False))) / len(wanted))
    return np.array(out, dtype=np.float32)


def _group_max(groups: np.ndarray, values: np.ndarray) -> np.ndarray:
    """For each element, the max of ``values`` over elements of the same group."""
    best: dict[int, float] = {}
    for g, v in zip(groups.tolist(), values.tolist(), strict=True):
        if v > best.get(g, -np.inf):
            best[g] = v
    return np.array([best[g] for g in groups.tolist()], dtype=np.float32)
