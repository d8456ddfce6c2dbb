"""Extractive, honest answers: quote the best sentence(s) verbatim, or say the corpus has none.

Quotes are never re-typed: each one is ``article.text[start:end]`` from the index records, so
``Answer.text`` holds every quoted sentence exactly as the article has it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from qa.records import Answer, Citation
from qa.retrieve import Scored

MAX_QUESTION_CHARS = 1000
NO_ANSWER = "لم أجد في المقالات المفهرسة جملة تجيب عن هذا السؤال."
NO_ANSWER_EN = "I found no sentence in the indexed articles that answers this question."


class QuestionError(ValueError):
    """The question cannot be asked as given; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Policy:
    """When to answer and how much to quote, calibrated on the seed and seed-check questions
    in bench/questions/ (answerable and not; Arabic and English; seed-holdout is kept for
    checking): see BENCHMARKS.md.

    Confidence is the best sentence's dense cosine plus a little credit for lexical overlap
    (BM25, capped, and absent for an English question over Arabic text). Cross-lingual
    cosines run lower too, so a mostly-Latin question gets a lower bar.
    """

    min_confidence: float = 0.860
    lexical_weight: float = 0.005
    lexical_cap: float = 10.0
    cross_lingual_offset: float = 0.053
    #: Also quote a sentence adjacent to the best one, from the same article, when its ranking
    #: score is within this margin: the answer may straddle two sentences.
    second_margin: float = 1.0


def check_question(question: object) -> str:
    """Return the question stripped, or raise QuestionError with a message for the user."""
    if not isinstance(question, str):
        raise QuestionError("The question must be text.")
    text = question.strip()
    if not text:
        raise QuestionError("The question is empty: type a question, e.g. «متى بدأ الانسحاب؟».")
    if len(text) > MAX_QUESTION_CHARS:
        raise QuestionError(
            f"The question is {len(text):,} characters long; the limit is "
            f"{MAX_QUESTION_CHARS:,}. Ask about one thing, in a sentence or two."
        )
    if not any(unicodedata.category(ch)[0] in "LN" for ch in text):
        raise QuestionError("The question has no words, only punctuation or symbols.")
    return text


# A follow-up leans on the previous turn: it opens with a conjunction glued to a question
# word ("ومتى", "وكم"), or points back with a demonstrative ("ذلك", "هذا") or an English
# pronoun. Plain pronouns are not enough: "ما هي عاصمة اليابان؟" uses هي as a copula.
_FOLLOW_UP = re.compile(
    r"^\s*[وف](?:متى|أين|اين|كم|كيف|لماذا|لم|من|ماذا|ما|هل|أي|اي)(?:\s|$|؟)|"
    r"(?:^|\s)[وفب]?(?:ذلك|هذا|هذه|تلك|هؤلاء|هناك|هنالك|حينها|عندها|آنذاك)(?:\s|$|[؟?.!،])|"
    r"\b(?:it|that|this|they|them|there|he|she|his|her|their|then)\b",
    re.IGNORECASE,
)


def retrieval_query(question: str, history: Sequence[Any] | None) -> str:
    """The text to retrieve with: a follow-up question borrows the previous question's words.

    "ومتى حدث ذلك؟" names nothing by itself; joined to the question before it, it retrieves
    the sentences of the same story. Self-contained questions are used as they are.
    """
    previous = _previous_question(history)
    if previous and (len(question.split()) <= 2 or _FOLLOW_UP.search(question)):
        return f"{previous} {question}"
    return question


def _previous_question(history: Sequence[Any] | None) -> str:
    """The last user question in ``history``: Answers, (question, answer) pairs, role dicts."""
    for turn in reversed(list(history or [])):
        if isinstance(turn, Answer):
            return turn.question
        if isinstance(turn, dict) and turn.get("role") == "user":
            content = turn.get("content")
            return content if isinstance(content, str) else ""
        if isinstance(turn, list | tuple) and turn and isinstance(turn[0], str):
            return turn[0]
        if isinstance(turn, str):
            return turn
    return ""


def compose(
    question: str,
    query: str,
    ranked: list[Scored],
    to_hit,
    sentences,
    policy: Policy,
) -> Answer:
    """Build the answer from ranked candidates: quote, cite, or abstain."""
    latin = _mostly_latin(question)
    if not ranked or not confident(ranked[0], policy, cross_lingual=latin):
        text = NO_ANSWER_EN if latin else NO_ANSWER
        return Answer(text=text, citations=[], answered=False, question=question, query=query)
    best = ranked[0]
    chosen = [best]
    for other in ranked[1:3]:
        if best.score - other.score <= policy.second_margin and _adjacent(sentences, best, other):
            chosen.append(other)
            break
    chosen.sort(key=lambda s: s.row)  # reading order within the article
    citations = [
        Citation(**to_hit(s).to_dict(), number=i) for i, s in enumerate(chosen, start=1)
    ]
    quote = " ".join(f"«{c.sentence}» [{c.number}]" for c in citations)
    return Answer(text=quote, citations=citations, answered=True, question=question, query=query)


def confident(best: Scored, policy: Policy, *, cross_lingual: bool = False) -> bool:
    """Is the best candidate strong enough evidence to quote?"""
    confidence = best.dense + policy.lexical_weight * min(best.lexical, policy.lexical_cap)
    bar = policy.min_confidence - (policy.cross_lingual_offset if cross_lingual else 0.0)
    return confidence >= bar


def _adjacent(sentences, a: Scored, b: Scored) -> bool:
    same_article = int(sentences[a.row][0]) == int(sentences[b.row][0])
    return same_article and abs(a.row - b.row) == 1


def _mostly_latin(text: str) -> bool:
    letters = [ch for ch in text if ch.isalpha()]
    latin = sum(1 for ch in letters if ch.isascii())
    return bool(letters) and latin > len(letters) / 2

