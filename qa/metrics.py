"""Answer-phrase and answerability metrics: SQuAD's token F1 and exact match with Arabic
normalization, and ROC AUC."""

from __future__ import annotations

import re
import string
from collections import Counter

import numpy as np

from index.lexical import normalize_arabic

_ARTICLES = re.compile(r"\b(?:a|an|the)\b")
# SQuAD drops English articles; for Arabic the definite article ال and the attached
# conjunction و are peeled so "والجيش" and "الجيش" and "جيش" match, as the Arabic SQuAD
# evaluations (ARCD, TyDi) normalize.
_AR_PREFIX = re.compile(r"^(?:و?ال|و)(?=\w{2,})")
_PUNCT = set(string.punctuation) | set("،؛؟«»“”‘’…–—")


def normalize_answer(text: str) -> str:
    text = normalize_arabic(text)
    text = "".join(" " if ch in _PUNCT else ch for ch in text)
    text = _ARTICLES.sub(" ", text)
    return " ".join(_AR_PREFIX.sub("", tok) for tok in text.split())


def token_f1(pred: str, gold: str) -> float:
    p, g = normalize_answer(pred).split(), normalize_answer(gold).split()
    if not p or not g:
        return float(p == g)
    common = sum((Counter(p) & Counter(g)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def exact_match(pred: str, gold: str) -> float:
    return float(normalize_answer(pred) == normalize_answer(gold))


def best_of(metric, pred: str, golds: list[str]) -> float:
    """SQuAD scores a prediction against its best-matching gold answer."""
    return max((metric(pred, g) for g in golds), default=0.0)


def roc_auc(labels, scores) -> float | None:
    """Area under the ROC curve (ties count half); None without both classes."""
    labels = np.asarray(labels, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if not n_pos or not n_neg:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # average ranks over ties
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
