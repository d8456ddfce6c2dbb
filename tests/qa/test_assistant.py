"""End to end over the shipped seed article with the real model: the API contract."""

from __future__ import annotations

import json

import numpy as np
import pytest

from index import segments, store
from qa import Answer, Assistant, QuestionError
from tests.conftest import SEED_ID, SEEDS

pytestmark = pytest.mark.slow
SEED_TEXT = (SEEDS / f"{SEED_ID}.txt").read_text(encoding="utf-8")
Q_2400 = "كم عدد الجنود غير الأمريكيين في العراق؟"

ANSWERABLE = {
    Q_2400: "2400 شخص",
    "متى اتفقت بغداد وواشنطن على سحب القوات الأمريكية المقاتلة؟": "26 يوليو/تموز",
    "منذ متى تتواجد أمريكا في العراق؟": "منذ عام 2003",
    "ما الإطار الزمني الذي طالبت به الولايات المتحدة للانسحاب؟": "بين عامين وخمسة أعوام",
    "متى أرسل العراق خطابا رسميا لانسحاب قوات التحالف؟": "نوفمبر 2023",
    "أين يمكن أن تحافظ الولايات المتحدة على وجودها حتى لو انسحبت؟": "إقليم كردستان",
    "متى أقر البرلمان العراقي خطة طرد الجنود الأميركيين؟": "كانون الثاني/يناير 2018",
    "How many non-American troops are in Iraq?": "2400",
    "When did all US combat forces leave Iraq?": "عام 2011",
}
UNANSWERABLE = [
    "ما هي عاصمة اليابان؟",
    "من فاز بكأس العالم لكرة القدم عام 2022؟",
    "كم يبلغ سعر برميل النفط اليوم؟",
    "What is the boiling point of water?",
]


def check_citations(answer: Answer, bot: Assistant) -> None:
    articles = {a.id: a for a in bot.data.articles}
    for c in answer.citations:
        assert articles[c.article_id].text[c.start : c.end] == c.sentence
        assert c.sentence in answer.text


def test_the_2400_question_quotes_the_exact_sentence(seed_bot: Assistant) -> None:
    answer = seed_bot.ask(Q_2400)
    assert answer.answered
    first = answer.citations[0]
    assert first.article_id == SEED_ID
    assert "2400" in first.sentence
    assert SEED_TEXT[first.start : first.end] == first.sentence
    assert first.sentence.startswith("ويصل عدد الجنود")
    assert f"«{first.sentence}» [1]" in answer.text


@pytest.mark.parametrize("question,expected", ANSWERABLE.items())
def test_answerable_questions_quote_the_right_sentence(seed_bot, question, expected) -> None:
    answer = seed_bot.ask(question)
    assert answer.answered, question
    assert expected in answer.citations[0].sentence or any(
        expected in c.sentence for c in answer.citations
    )
    check_citations(answer, seed_bot)


@pytest.mark.parametrize("question", UNANSWERABLE)
def test_unanswerable_questions_are_declined(seed_bot, question) -> None:
    answer = seed_bot.ask(question)
    assert not answer.answered
    assert answer.citations == []
    assert answer.text


def test_verbatim_invariant_on_many_answers(seed_bot: Assistant) -> None:
    # Every sentence of the article, shortened, used as a question: all citations must slice.
    questions = [s.sentence[:60] for s in seed_bot.search(Q_2400, k=20)]
    for answer in [seed_bot.ask(q) for q in questions + list(ANSWERABLE)]:
        check_citations(answer, seed_bot)
    for hits in seed_bot.search_batch(questions, k=10):
        for h in hits:
            assert SEED_TEXT[h.start : h.end] == h.sentence


def test_search_returns_typed_hits_best_first(seed_bot: Assistant) -> None:
    hits = seed_bot.search(Q_2400, k=5)
    assert len(hits) == 5
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert "2400" in hits[0].sentence
    assert {h.article_id for h in hits} == {SEED_ID}
    assert seed_bot.search_batch([Q_2400], k=5)[0] == hits


def test_follow_up_question_uses_history(seed_bot: Assistant) -> None:
    first = seed_bot.ask("ما الذي اتفقت عليه بغداد وواشنطن بشأن سحب القوات الأمريكية المقاتلة؟")
    follow = seed_bot.ask("ومتى حدث ذلك؟", history=[first])
    assert follow.answered
    assert "26 يوليو/تموز" in follow.text
    as_messages = [{"role": "user", "content": first.question},
                   {"role": "assistant", "content": first.text}]
    # Chat messages carry no citations (no article to favour), but the question still leans on
    # the previous one.
    from_messages = seed_bot.ask("ومتى حدث ذلك؟", history=as_messages)
    assert from_messages.answered and "26 يوليو/تموز" in from_messages.text


@pytest.mark.parametrize("bad", ["", "   \n", "؟؟؟ !!! ...", "😀😀", "x" * 100_000, None,
                                 "\ud800", "متى \udcff غادر؟"])
def test_bad_questions_get_clear_errors(seed_bot: Assistant, bad) -> None:
    with pytest.raises(QuestionError) as caught:
        seed_bot.ask(bad)
    assert caught.value.english in str(caught.value) and caught.value.arabic in str(caught.value)
    assert any("\u0600" <= ch <= "\u06ff" for ch in caught.value.arabic)
    with pytest.raises(QuestionError):
        seed_bot.search(bad)


def test_other_scripts_are_answered_or_declined_not_crashing(seed_bot: Assistant) -> None:
    for q in ["今日の天気は？", "Как дела?", "שלום עולם", "😀 hello"]:
        assert isinstance(seed_bot.ask(q), Answer)


def test_bad_k_is_refused(seed_bot: Assistant) -> None:
    for k in (0, -1, 10_000):
        with pytest.raises(ValueError, match="k must be"):
            seed_bot.search(Q_2400, k=k)


def test_save_load_round_trip_gives_identical_results(seed_index, encoder, tmp_path) -> None:
    data = store.load(seed_index, fingerprint=encoder.fingerprint)
    (segment,) = data.segments
    store.save(segments.read_data(segment.folder), tmp_path / "copy")  # written anew
    a = Assistant(seed_index, encoder, watch=False)
    b = Assistant(tmp_path / "copy", encoder, watch=False)
    questions = list(ANSWERABLE) + UNANSWERABLE
    assert a.search_batch(questions, k=10) == b.search_batch(questions, k=10)
    assert [a.ask(q) for q in questions] == [b.ask(q) for q in questions]


def test_faiss_matches_brute_force_numpy(seed_bot: Assistant, encoder) -> None:
    data = seed_bot.data
    queries = encoder.encode_queries(list(ANSWERABLE))
    scores, rows = data.dense.search(queries, 10)
    brute = queries @ data.vectors.T
    expected_rows = np.argsort(-brute, axis=1, kind="stable")[:, :10]
    np.testing.assert_array_equal(rows, expected_rows)
    np.testing.assert_allclose(scores, np.take_along_axis(brute, expected_rows, 1), rtol=1e-5)


def test_index_from_another_model_is_refused(seed_index, encoder) -> None:
    with pytest.raises(store.IndexModelMismatchError, match="daleel build"):
        store.load(seed_index, fingerprint="0" * 32)


def test_json_output_shape(seed_bot: Assistant) -> None:
    out = json.loads(json.dumps(seed_bot.ask(Q_2400).to_dict(), ensure_ascii=False))
    assert out["answered"] is True
    assert set(out["citations"][0]) >= {"article_id", "title", "sentence", "start", "end", "score"}


def test_self_contained_question_after_history_stands_alone(seed_bot: Assistant) -> None:
    first = seed_bot.ask(Q_2400)
    later = seed_bot.ask("ما هي عاصمة اليابان؟", history=[first])
    assert later.query == later.question
    assert not later.answered
