"""The small typed records the retrieval API returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Hit:
    """One retrieved sentence: ``article text[start:end] == sentence``, always.

    When the reader has judged it, ``probability`` is its calibrated estimate that the sentence
    answers the question, and ``answer_start``/``answer_end`` (offsets into the article, inside
    ``start:end``) mark the answer phrase; otherwise they are None.
    """

    article_id: str
    title: str
    sentence: str
    start: int
    end: int
    score: float
    url: str = ""
    date: str = ""
    source: str = ""
    probability: float | None = None
    answer_start: int | None = None
    answer_end: int | None = None

    @property
    def answer(self) -> str:
        """The answer phrase, sliced from the quoted sentence ('' when none was found)."""
        if self.answer_start is None or self.answer_end is None:
            return ""
        return self.sentence[self.answer_start - self.start : self.answer_end - self.start]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "answer": self.answer}


@dataclass(frozen=True, slots=True)
class Citation(Hit):
    """A hit quoted in an answer, with its number in the answer text ([1], [2], ...)."""

    number: int = 0


@dataclass(frozen=True, slots=True)
class Topic:
    """What a conversation is about after a turn, for the follow-up that comes next: the
    turn's question and the sentence last quoted in the conversation (its article and offsets;
    a turn that declines keeps the one before: "I found nothing" does not change the story)."""

    question: str
    article_id: str | None = None
    start: int | None = None
    end: int | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    text: str
    citations: list[Citation] = field(default_factory=list)
    answered: bool = False
    question: str = ""
    #: The text actually used for retrieval (the question plus context from earlier turns).
    query: str = ""
    #: The reader's calibrated probability that the best sentence answers (None without reader).
    probability: float | None = None
    #: When declined: the closest sentences found, not verified to answer (best first).
    related: list[Hit] = field(default_factory=list)
    #: Some shards of a sharded index did not answer (down or restarting): this answer is from
    #: the others only, and may miss what the missing ones hold.
    partial: bool = False
    #: What the conversation is about after this turn (set by Assistant.ask): pass this
    #: Answer in ``history`` and a follow-up is read against it.
    topic: Topic | None = None
    #: The number of the citation the answer rests on: the sentence judged best. A sentence
    #: next to it, quoted as well, is context; citations stay in reading order, so the best
    #: one is not always the first.
    best: int = 1

    @property
    def best_citation(self) -> Citation | None:
        """The citation numbered ``best`` (the first one if none is; None when nothing is
        quoted)."""
        first = self.citations[0] if self.citations else None
        return next((c for c in self.citations if c.number == self.best), first)

    @property
    def answer(self) -> str:
        """The short answer phrase ('' when declined or not found): the best citation's, or
        else that of the first citation whose ``answer_start``/``answer_end`` are set."""
        best = self.best_citation
        if best is not None and best.answer:
            return best.answer
        return next((c.answer for c in self.citations if c.answer), "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "answered": self.answered,
            "text": self.text,
            "answer": self.answer,
            "best": self.best,
            "probability": self.probability,
            "question": self.question,
            "citations": [c.to_dict() for c in self.citations],
            "related": [h.to_dict() for h in self.related],
            "partial": self.partial,
            "topic": None if self.topic is None else asdict(self.topic),
        }
