"""The small typed records the retrieval API returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Hit:
    """One retrieved sentence: ``article text[start:end] == sentence``, always."""

    article_id: str
    title: str
    sentence: str
    start: int
    end: int
    score: float
    url: str = ""
    date: str = ""
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Citation(Hit):
    """A hit quoted in an answer, with its number in the answer text ([1], [2], ...)."""

    number: int = 0


@dataclass(frozen=True, slots=True)
class Answer:
    text: str
    citations: list[Citation] = field(default_factory=list)
    answered: bool = False
    question: str = ""
    #: The text actually used for retrieval (the question plus context from earlier turns).
    query: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "answered": self.answered,
            "text": self.text,
            "question": self.question,
            "citations": [c.to_dict() for c in self.citations],
        }
