"""Extractive, honest answers: quote the best sentence(s) verbatim, or say the corpus has none.

Quotes are never re-typed: each one is ``article.text[start:end]`` from the index records, so
``Answer.text`` holds every quoted sentence exactly as the article has it.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from index.corpus import LONE_SURROGATE
from qa.records import Answer, Citation, Hit, Topic
from qa.rerank import Candidate

MAX_QUESTION_CHARS = 1000
NO_ANSWER = "لم أجد في المقالات المفهرسة جملة تجيب عن هذا السؤال."
NO_ANSWER_EN = "I found no sentence in the indexed articles that answers this question."


class QuestionError(ValueError):
    """The question cannot be asked as given; the message says why and what to do.

    ``str(exc)`` is the English message with the Arabic one after it; ``exc.arabic`` alone is
    what the Arabic chat shows."""

    def __init__(self, english: str, arabic: str) -> None:
        super().__init__(f"{english} — {arabic}")
        self.english, self.arabic = english, arabic


@dataclass(frozen=True, slots=True)
class Policy:
    """When to answer and how much to quote.

    With the reader (the default), the best sentence is quoted when the reader's calibrated
    probability that it answers clears ``min_probability`` (``min_probability_latin`` for a
    mostly-Latin question over Arabic text), thresholds fitted on the written seed and
    seed-check question sets in bench/questions/ (bench/fit_reader_use.py; BENCHMARKS.md).
    The defaults are those of the first-stage weights; :meth:`for_reader` takes the ones
    fitted for the reader in use.

    Without a reader (retrieval only, the baseline), confidence is the best sentence's dense
    cosine plus a little capped BM25 credit, with a lower bar for mostly-Latin questions.
    """

    min_probability: float = 0.47
    min_probability_latin: float = 0.22
    min_confidence: float = 0.860
    lexical_weight: float = 0.005
    lexical_cap: float = 10.0
    cross_lingual_offset: float = 0.053
    #: Also quote a sentence adjacent to the best one, from the same article, when it answers
    #: too (reader) or its ranking score is within this margin (retrieval only).
    second_margin: float = 1.0
    #: Unverified closest sentences offered when declining.
    related: int = 3

    @classmethod
    def for_reader(cls, reader: Any) -> Policy:
        """The default policy with the answer thresholds fitted for ``reader``'s weights
        (``ReaderConfig.use``), when it carries them."""
        config = getattr(reader, "config", None)
        use = config.use if config else {}
        keys = ("min_probability", "min_probability_latin")
        return cls(**{k: float(use[k]) for k in keys if k in use})


def check_question(question: object) -> str:
    """Return the question stripped, or raise QuestionError with a message for the user."""
    if not isinstance(question, str):
        raise QuestionError("The question must be text.", "يجب أن يكون السؤال نصًا.")
    text = question.strip()
    if not text:
        raise QuestionError("The question is empty: type a question, e.g. «متى بدأ الانسحاب؟».",
                            "السؤال فارغ: اكتب سؤالًا، مثل «متى بدأ الانسحاب؟».")
    if len(text) > MAX_QUESTION_CHARS:
        raise QuestionError(
            f"The question is {len(text):,} characters long; the limit is "
            f"{MAX_QUESTION_CHARS:,}. Ask about one thing, in a sentence or two.",
            f"طول السؤال {len(text):,} حرفًا والحد {MAX_QUESTION_CHARS:,}. "
            "اسأل عن أمر واحد في جملة أو جملتين.",
        )
    if bad := LONE_SURROGATE.search(text):  # e.g. a terminal's undecodable byte (surrogateescape)
        raise QuestionError(
            f"The question holds a character that is not valid text (\\u{ord(bad.group()):04x} "
            f"at position {bad.start() + 1}, from a broken encoding); retype or re-paste it.",
            "في السؤال رمز غير صالح (ترميز تالف)؛ أعد كتابته أو لصقه.",
        )
    if not any(unicodedata.category(ch)[0] in "LN" for ch in text):
        raise QuestionError("The question has no words, only punctuation or symbols.",
                            "لا كلمات في السؤال، بل علامات ترقيم أو رموز فقط.")
    return text


# Tashkeel (harakat, tanwin, shadda, sukun, dagger alif, Quranic marks) and tatweel: a
# diacritized question must retrieve and read like its plain twin. The index text keeps them;
# the lexical side folds them already.
_MARKS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e8"
                    "\u06ea-\u06ed\u0640]")
_PRESENTATION = re.compile("[\ufb50-\ufdff\ufe70-\ufeff]")


def normalize_question(text: str) -> str:
    """The question as the models see it: no tashkeel or tatweel, presentation forms folded."""
    if _PRESENTATION.search(text):
        text = _PRESENTATION.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)
    return " ".join(_MARKS.sub("", text).split())


# A follow-up leans on the previous turn: it opens with a conjunction glued to a question
# word ("ومتى", "وكم"), or points back with a demonstrative ("ذلك", "هذا") or an English
# pronoun. Plain pronouns are not enough: "ما هي عاصمة اليابان؟" uses هي as a copula.
_FOLLOW_UP = re.compile(
    r"^\s*[وف](?:ل|ب|(?:إلى|الى|مع|في|على|عن|من)\s)?"
    r"(?:متى|أين|اين|كم|كيف|لماذا|لم|من|ماذا|ما|هل|أي|اي|علام)(?:\s|$|؟)|"
    r"(?:^|\s)[وفب]?(?:ذلك|هذا|هذه|تلك|هؤلاء|هناك|هنالك|حينها|عندها|آنذاك)(?:\s|$|[؟?.!،])|"
    r"\b(?:it|that|this|they|them|there|he|she|his|her|their|then)\b",
    re.IGNORECASE,
)


def followed_topic(question: str, history: Sequence[Any] | None) -> Topic | None:
    """The topic ``question`` follows up on, or None for a self-contained question.

    "ومتى حدث ذلك؟" names nothing by itself; joined to the question before it (the topic's),
    it retrieves the sentences of the same story, read against the sentence last quoted.
    """
    topic = previous_topic(history)
    if topic is not None and topic.question and is_follow_up(question):
        return topic
    return None


def is_follow_up(question: str) -> bool:
    return len(question.split()) <= 2 or bool(_FOLLOW_UP.search(question))


def previous_topic(history: Sequence[Any] | None) -> Topic | None:
    """What the conversation in ``history`` (Answers, (question, answer) pairs, role dicts or
    a kept Topic) is about after its last turn. Only Answers and Topics carry the quoted
    sentence; chat messages give the question alone."""
    for turn in reversed(list(history or [])):
        if isinstance(turn, Topic):
            return turn
        if isinstance(turn, Answer):
            if turn.topic is not None:
                return turn.topic
            return topic_after(turn, None)  # an Answer made by hand
        if isinstance(turn, dict) and turn.get("role") == "user":
            content = turn.get("content")
            return Topic(content if isinstance(content, str) else "")
        if isinstance(turn, list | tuple) and turn and isinstance(turn[0], str):
            return Topic(turn[0])
        if isinstance(turn, str):
            return Topic(turn)
    return None


def topic_after(answer: Answer, before: Topic | None) -> Topic:
    """What the conversation is about once ``answer`` is given: its question, and the sentence
    it quoted or, declined, the one ``before`` (the follow-up's topic) held."""
    c = answer.best_citation
    if c is not None:
        return Topic(answer.question, c.article_id, c.start, c.end)
    if before is not None:
        return Topic(answer.question, before.article_id, before.start, before.end)
    return Topic(answer.question)


def compose(question: str, query: str, candidates: Sequence[Candidate], policy: Policy) -> Answer:
    """Quote the best candidate with its citation, or decline and list the closest ones.

    A candidate the reader has read carries its probability, which decides; otherwise the
    retrieval-only confidence does.
    """
    latin = mostly_latin(question)
    best = candidates[0] if candidates else None
    if best is None or not _answers(best, policy, latin):
        return Answer(
            text=NO_ANSWER_EN if latin else NO_ANSWER, answered=False, question=question,
            query=query, probability=best.hit.probability if best else None,
            related=[c.hit for c in candidates[: policy.related]],
        )
    chosen = [best]
    for other in candidates[1:3]:
        close = (_answers(other, policy, latin) if best.hit.probability is not None
                 else best.scored.score - other.scored.score <= policy.second_margin)
        if close and _adjacent(best.hit, other.hit, best.row, other.row):
            chosen.append(other)
            break
    chosen.sort(key=lambda c: c.row)  # reading order within the article
    # The answer phrase is the best sentence's: an adjacent quote is context, not a second one.
    hits = [c.hit if c is best else dataclasses.replace(c.hit, answer_start=None,
                                                         answer_end=None) for c in chosen]
    citations = [Citation(**dataclasses.asdict(h), number=i) for i, h in enumerate(hits, start=1)]
    quote = " ".join(f"«{c.sentence}» [{c.number}]" for c in citations)
    number = next(i for i, c in enumerate(chosen, start=1) if c is best)
    return Answer(text=quote, citations=citations, answered=True, question=question, query=query,
                  probability=best.hit.probability, best=number)


def _answers(c: Candidate, policy: Policy, latin: bool) -> bool:
    if c.hit.probability is not None:  # read by the reader
        bar = policy.min_probability_latin if latin else policy.min_probability
        return c.hit.probability >= bar
    s = c.scored
    confidence = s.dense + policy.lexical_weight * min(s.lexical, policy.lexical_cap)
    return confidence >= policy.min_confidence - (policy.cross_lingual_offset if latin else 0.0)


def _adjacent(a: Hit, b: Hit, row_a: int, row_b: int) -> bool:
    return a.article_id == b.article_id and abs(row_a - row_b) == 1


def mostly_latin(text: str) -> bool:
    letters = [ch for ch in text if ch.isalpha()]
    latin = sum(1 for ch in letters if ch.isascii())
    return bool(letters) and latin > len(letters) / 2

