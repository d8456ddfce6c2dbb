"""QA datasets for evaluation: SQuAD-format and JSONL question files, and their gold sentences.

Each distinct paragraph of a SQuAD-format file becomes one article. Once the articles are
indexed, a question's gold sentence is the sentence, as the project's own splitter cut it, that
holds the answer's first character (or, for JSONL questions, the one matching
``answer_sentence``).
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index import store
from index.corpus import Article

_SPACES = re.compile(r"\s+")


@dataclass
class Question:
    """One question; ``gold`` (index rows) and ``article_row`` are filled once it is indexed."""

    text: str
    answerable: bool = True
    article_id: str | None = None
    starts: tuple[int, ...] = ()  # SQuAD answer_start offsets into the article text
    answers: tuple[str, ...] = ()  # SQuAD answer texts (for answer-phrase F1 / exact match)
    sentence: str = ""  # JSONL answer_sentence
    gold: frozenset[int] = frozenset()
    article_row: int | None = None


#: The halves of a SQuAD file's articles (its ``data`` entries, alternately): the reader trains
#: on XQuAD-ar's "train" half (the 2nd, 4th, ... article); its "eval" half (1st, 3rd, ...) is
#: what the fusion weight is tuned on and what is reported.
PARTS = ("all", "train", "eval")


def in_part(entry_index: int, part: str) -> bool:
    """Whether the SQuAD file's ``entry_index``-th article belongs to ``part``."""
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, not {part!r}")
    return part == "all" or (entry_index % 2 == 1) == (part == "train")


def load_dataset(path: str | Path, part: str = "all") -> tuple[list[Article], list[Question]]:
    """Articles (one per distinct paragraph) and questions of a SQuAD JSON or JSONL file.

    ``part`` keeps the questions of that half of the articles (:data:`PARTS`); every paragraph
    stays an article, so the index, and what competes with the gold sentence, is the same."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"dataset not found: {path} (give a SQuAD-format .json file "
                                "or a .jsonl file of questions)")
    if path.name.lower().endswith(".jsonl"):
        if part != "all":
            raise ValueError(f"{path}: a part ({part!r}) applies to SQuAD files only")
        return [], read_questions(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise ValueError(f"{path}: expected SQuAD v1.1 format, "
                         '{"data": [{"title": ..., "paragraphs": [...]}]}')
    articles: dict[str, Article] = {}
    questions: list[Question] = []
    for n, entry in enumerate(data["data"]):
        keep = in_part(n, part)
        title = str(entry.get("title", "")).replace("_", " ").strip()  # Wikipedia_style titles
        for para in entry.get("paragraphs", []):
            text = para["context"]
            art_id = "para-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
            articles.setdefault(art_id, Article(id=art_id, title=title, text=text))
            for qa in para.get("qas", []) if keep else ():
                golds = [] if qa.get("is_impossible") else qa.get("answers", [])
                starts = tuple(int(a["answer_start"]) for a in golds)
                texts = tuple(str(a.get("text", "")) for a in golds)
                questions.append(Question(qa["question"], bool(starts), art_id, starts, texts))
    return list(articles.values()), questions


def read_questions(path: Path) -> list[Question]:
    """JSON lines of {"question", "answer_sentence"?, "article_id"?, "answerable"?}."""
    out: list[Question] = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{n}: invalid JSON ({exc}); fix that line") from None
            if not isinstance(obj, dict) or not isinstance(obj.get("question"), str):
                raise ValueError(f"{path}:{n}: expected an object with a 'question' string")
            out.append(Question(obj["question"], bool(obj.get("answerable", True)),
                                obj.get("article_id"), sentence=obj.get("answer_sentence") or ""))
    return out


def locate(spans: Sequence[tuple[int, int]], offset: int) -> int | None:
    """Index of the span holding character ``offset``; the next span when ``offset`` falls
    between two; None past the last one."""
    i = bisect.bisect_right([s for s, _ in spans], offset) - 1
    if i >= 0 and offset < spans[i][1]:
        return i
    return i + 1 if i + 1 < len(spans) else None


def assign_gold(questions: Sequence[Question], data: store.IndexData) -> None:
    """Set each question's gold sentence rows and gold article row from the index."""
    sent = data.sentences
    for q in questions:
        q.article_row = data.article_rows.get(q.article_id) if q.article_id else None
        if q.article_row is not None:
            rows = np.flatnonzero(sent.article == q.article_row)
            rows = rows[np.argsort(sent.start[rows], kind="stable")]  # reading order
        else:  # no article named: any sentence may be the gold; a named one not found: none
            rows = np.arange(0 if q.article_id else len(sent))
        gold: set[int] = set()
        if q.starts:
            spans = [(int(sent.start[r]), int(sent.end[r])) for r in rows]
            gold = {int(rows[i]) for s in q.starts if (i := locate(spans, s)) is not None}
        elif q.sentence:
            want = _norm(q.sentence)
            for r in rows.tolist():
                text = _norm(data.sentence_text(r))
                if want in text or text in want:
                    gold.add(r)
        q.gold = frozenset(gold)


def _norm(text: str) -> str:
    return _SPACES.sub(" ", text).strip()
