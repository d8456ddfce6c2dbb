"""Shared test data for qa/: a small SQuAD-format set written for these tests."""

from __future__ import annotations

import json

import pytest

from index.build import build_index
from tests.conftest import FakeEncoder, squad_data

#: Two tiny news articles, indexed with the fake encoder by the ``fake_index`` fixture.
ARTICLES = [
    {"id": "nile", "title": "نهر النيل",
     "text": "نهر النيل\nيبلغ طول نهر النيل 6650 كيلومترا. ينبع النيل من بحيرة فيكتوريا. "
             "ويصب النيل في البحر المتوسط."},
    {"id": "coffee", "title": "القهوة",
     "text": "القهوة\nاكتشفت القهوة في إثيوبيا. وتنتج البرازيل أكثر القهوة في العالم."},
]


@pytest.fixture(scope="module")
def fake_index(tmp_path_factory):
    root = tmp_path_factory.mktemp("fake-index")
    (root / "corpus.jsonl").write_text(
        "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in ARTICLES), encoding="utf-8")
    build_index([root / "corpus.jsonl"], root / "index", encoder=FakeEncoder())
    return root / "index"

PARAGRAPHS = {
    "نهر_النيل": [
        "يعد نهر النيل أطول أنهار العالم، إذ يبلغ طوله نحو 6650 كيلومترا. ينبع النهر من "
        "بحيرة فيكتوريا في شرق أفريقيا. ويصب في البحر الأبيض المتوسط شمال مصر.",
        "بني السد العالي في أسوان بين عامي 1960 و1970. وقد ساعد السد في حماية مصر من "
        "الفيضانات. كما يولد السد كميات كبيرة من الكهرباء.",
    ],
    "القهوة": [
        "اكتشفت القهوة لأول مرة في إثيوبيا حسب الروايات المتداولة. ثم انتقلت زراعتها إلى "
        "اليمن في القرن الخامس عشر. ومن ميناء المخا انتشرت إلى بقية العالم.",
        "تعد البرازيل أكبر منتج للقهوة في العالم اليوم. وتأتي فيتنام في المرتبة الثانية. "
        "ويستهلك الفنلنديون أكبر كمية من القهوة للفرد.",
    ],
}
QUESTIONS = [  # (title, paragraph, question, answer text)
    ("نهر_النيل", 0, "كم يبلغ طول نهر النيل؟", "6650 كيلومترا"),
    ("نهر_النيل", 0, "من أين ينبع نهر النيل؟", "بحيرة فيكتوريا"),
    ("نهر_النيل", 0, "أين يصب نهر النيل؟", "البحر الأبيض المتوسط"),
    ("نهر_النيل", 1, "متى بني السد العالي؟", "بين عامي 1960 و1970"),
    ("نهر_النيل", 1, "ماذا يولد السد العالي؟", "الكهرباء"),
    ("القهوة", 0, "أين اكتشفت القهوة لأول مرة؟", "إثيوبيا"),
    ("القهوة", 0, "متى انتقلت زراعة القهوة إلى اليمن؟", "القرن الخامس عشر"),
    ("القهوة", 1, "ما هي أكبر دولة منتجة للقهوة؟", "البرازيل"),
]


def squad(paragraphs: dict[str, list[str]] = PARAGRAPHS) -> dict:
    return squad_data(paragraphs, QUESTIONS)
