"""The ask path with a fake encoder and a fake reader: judging, quoting, declining, spans."""

from __future__ import annotations

import dataclasses
import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa import Assistant
from qa.answer import NO_ANSWER, NO_ANSWER_EN, Policy, compose, normalize_question
from qa.records import Hit
from qa.rerank import DEPTH, Candidate, Judging, judge
from qa.retrieve import Scored
from tests.conftest import REPO, FakeEncoder, FakeReader


@pytest.fixture(scope="module")
def index_dir(fake_index):
    return fake_index


def bot(index_dir, reader=None, **policy) -> Assistant:
    return Assistant(index_dir, FakeEncoder(), reader=reader, policy=Policy(**policy),
                     watch=False)


def test_reader_reranks_and_quotes_with_the_answer_phrase(index_dir) -> None:
    reader = FakeReader()
    ans = bot(index_dir, reader, min_probability=0.6).ask("أين ينبع النيل من")
    assert ans.answered and reader.calls == [DEPTH]  # the best retrieved DEPTH are read
    (c,) = ans.citations
    article = Assistant.article(bot(index_dir), c.article_id)
    assert article.text[c.start:c.end] == c.sentence == "ينبع النيل من بحيرة فيكتوريا."
    assert article.text[c.answer_start:c.answer_end] == ans.answer == "بحيرة"
    assert c.start <= c.answer_start < c.answer_end <= c.end
    assert ans.probability == c.probability == 0.75  # 3 of the question's 4 words


def test_declining_lists_the_closest_sentences_as_related(index_dir) -> None:
    ans = bot(index_dir, FakeReader(), min_probability=0.99, related=2).ask("كم طول النيل")
    assert not ans.answered and ans.citations == [] and ans.text == NO_ANSWER
    assert len(ans.related) == 2
    assert ans.related[0].sentence == "يبلغ طول نهر النيل 6650 كيلومترا."
    assert ans.probability == pytest.approx(2 / 3, abs=1e-4)
    out = ans.to_dict()
    assert out["answered"] is False and out["related"][0]["sentence"] == ans.related[0].sentence


def test_latin_questions_have_their_own_bar_and_english_message(index_dir) -> None:
    ans = bot(index_dir, FakeReader(), min_probability=0.0, min_probability_latin=0.5).ask(
        "Where is Brazil?")
    assert not ans.answered and ans.text == NO_ANSWER_EN


def test_search_carries_reader_verdicts(index_dir) -> None:
    hits = bot(index_dir, FakeReader()).search("أين ينبع النيل", k=3)
    assert [h.sentence for h in hits][0] == "ينبع النيل من بحيرة فيكتوريا."
    assert all(h.probability is not None for h in hits)
    probs = [h.probability for h in hits]
    assert probs[0] == max(probs)  # the sentence holding most of the question reads best
    assert hits[0].to_dict()["answer"] == "من"  # the first word the question lacks


def test_without_reader_hits_have_no_verdict(index_dir) -> None:
    hits = bot(index_dir).search("أين ينبع النيل", k=2)
    assert all(h.probability is None and h.answer_start is None for h in hits)
    assert hits[0].answer == ""


def test_diacritized_question_gets_the_plain_twins_answer(index_dir) -> None:
    plain, marked = "أين ينبع النيل", "أَيْنَ يَنْبَعُ النِّيلُ"
    assert normalize_question(marked) == plain
    assert normalize_question("النيـــل") == "النيل"  # tatweel
    b = bot(index_dir, FakeReader(), min_probability=0.6)
    assert b.ask(plain).answered
    assert b.ask(marked).citations == b.ask(plain).citations


def test_article_lookup(index_dir) -> None:
    b = bot(index_dir)
    assert b.article("coffee").title == "القهوة"
    assert b.article("nope") is None


def _hit(sentence: str, start: int, **kw) -> Hit:
    return Hit("a", "t", sentence, start, start + len(sentence), 0.0, **kw)


def test_compose_quotes_an_adjacent_sentence_that_answers_too() -> None:
    one = Candidate(Scored(4, 1.0, 0.9, 1.0), _hit("أولى.", 0, probability=0.9))
    two = Candidate(Scored(5, 0.5, 0.8, 1.0), _hit("ثانية.", 6, probability=0.7))
    far = Candidate(Scored(9, 0.4, 0.8, 1.0), _hit("بعيدة.", 30, probability=0.95))
    ans = compose("س؟", "س؟", [one, two], Policy(min_probability=0.6))
    assert [c.number for c in ans.citations] == [1, 2]
    assert [c.sentence for c in ans.citations] == ["أولى.", "ثانية."]
    ans = compose("س؟", "س؟", [one, far], Policy(min_probability=0.6))
    assert [c.sentence for c in ans.citations] == ["أولى."]


def test_judge_reads_only_the_top_candidates() -> None:
    scored = [Scored(i, 10.0 - i, 0.5, 0.0) for i in range(12)]

    def to_hit(s: Scored) -> Hit:
        return _hit(f"جملة رقم {s.row}", 100 * s.row)

    reader = FakeReader()
    out = judge("رقم 7", scored, to_hit, reader, Judging(depth=8, weight=0.0))
    assert reader.calls == [8]
    assert out[0].row in range(8) and [c.row for c in out[8:]] == [8, 9, 10, 11]
    assert all(c.hit.probability is None for c in out[8:])


WORDS = ["النيل", "القهوة", "طول", "ينبع", "البرازيل", "بحيرة", "في", "من", "كم", "أين", "؟",
         "،", "."]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=6))
def test_spans_always_lie_inside_the_quote_and_slice_back(index_dir, words) -> None:
    question = " ".join(words)
    b = bot(index_dir, FakeReader(), min_probability=0.0, min_probability_latin=0.0)
    try:
        ans = b.ask(question)
    except Exception as exc:  # only a clear QuestionError is acceptable
        assert type(exc).__name__ == "QuestionError"
        return
    for c in ans.citations:
        text = b.article(c.article_id).text
        assert text[c.start:c.end] == c.sentence
        if c.answer_start is not None:
            assert c.start <= c.answer_start < c.answer_end <= c.end
            assert text[c.answer_start:c.answer_end] == c.answer
            assert c.answer.strip() == c.answer
    for h in ans.related:
        assert b.article(h.article_id).text[h.start:h.end] == h.sentence
    assert dataclasses.asdict(ans)  # plain records all the way down


QUESTION_SETS = sorted((REPO / "bench" / "questions").glob("seed*.jsonl"))
_TASHKEEL = ["\u064e", "\u064f", "\u0650", "\u0652", "\u0651\u064e", "\u064b", "\u064d"]


def diacritize(text: str, seed: int) -> str:
    """Tashkeel after Arabic letters (and a tatweel now and then), as fully vocalized text."""
    rng = random.Random(seed)
    out = []
    for ch in text:
        out.append(ch)
        if "\u0621" <= ch <= "\u064a":
            if rng.random() < 0.1:
                out.append("\u0640")
            out.append(rng.choice(_TASHKEEL))
    return "".join(out)


def seed_questions() -> list[str]:
    return [json.loads(line)["question"] for path in QUESTION_SETS
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_diacritized_seed_questions_normalize_to_their_plain_twins() -> None:
    questions = seed_questions()
    assert len(questions) >= 160
    for i, q in enumerate(questions):
        marked = diacritize(q, i)
        assert marked != q or not any("\u0621" <= ch <= "\u064a" for ch in q)
        assert normalize_question(marked) == normalize_question(q)


def test_diacritized_questions_get_the_same_answers(index_dir) -> None:
    b = bot(index_dir, FakeReader(), min_probability=0.3)
    for i, q in enumerate(["كم يبلغ طول نهر النيل", "أين اكتشفت القهوة", "من أين ينبع النيل"]):
        plain, marked = b.ask(q), b.ask(diacritize(q, i))
        assert plain.answered and plain.answer
        assert marked.citations == plain.citations and marked.answer == plain.answer
        assert marked.related == plain.related


def test_only_the_best_sentence_carries_the_answer_phrase() -> None:
    before = Candidate(Scored(4, 0.5, 0.8, 1.0),
                       _hit("أولى.", 0, probability=0.7, answer_start=0, answer_end=4))
    best = Candidate(Scored(5, 1.0, 0.9, 1.0),
                     _hit("ثانية.", 6, probability=0.9, answer_start=6, answer_end=11))
    ans = compose("س؟", "س؟", [best, before], Policy(min_probability=0.6))
    first, second = ans.citations  # reading order: the adjacent sentence comes first
    assert first.answer_start is None and first.answer == ""
    assert second.answer == ans.answer == "ثانية"
    # The answer rests on the best sentence, not on the first in reading order: the
    # conversation's topic (what a follow-up is read against) is that sentence too.
    assert ans.best == 2 and ans.best_citation == second and ans.to_dict()["best"] == 2
    from qa.answer import topic_after
    topic = topic_after(ans, None)
    assert (topic.start, topic.end) == (6, 12)
    alone = compose("س؟", "س؟", [best], Policy(min_probability=0.6))
    assert alone.best == 1 and alone.best_citation == alone.citations[0]
    assert compose("س؟", "س؟", [best], Policy(min_probability=0.95)).best_citation is None
    # built by hand with a phrase on both sentences, the answer is still the best one's
    phrased = dataclasses.replace(first, answer_start=0, answer_end=4)
    both = dataclasses.replace(ans, citations=[phrased, second])
    assert phrased.answer == "أولى" and both.answer == "ثانية"


# --- follow-ups: the story under discussion first (issue 14) -----------------------------


@pytest.fixture(scope="module")
def two_stories(tmp_path_factory):
    from index.build import build_index

    corpus = tmp_path_factory.mktemp("stories")
    (corpus / "a.txt").write_text("اجتماع الوزراء في القاهرة\nعقد الوزراء اجتماعا في القاهرة. "
                                  "وانتهى الاجتماع يوم الأحد.\n", encoding="utf-8")
    (corpus / "b.txt").write_text("مباراة المنتخب في الرياض\nلعب المنتخب مباراة في الرياض. "
                                  "وماذا حدث يوم الأحد غير فوز المنتخب.\n", encoding="utf-8")
    index_dir = tmp_path_factory.mktemp("stories-index") / "idx"
    build_index([corpus], index_dir, encoder=FakeEncoder())
    return index_dir


def test_a_follow_up_is_answered_from_the_previous_answers_article_first(two_stories) -> None:
    from qa.retrieve import Settings

    # The bonus is on the ranker's scale; the fake encoder's vectors spread scores widely.
    b = Assistant(two_stories, FakeEncoder(), settings=Settings(context_bonus=50.0),
                  policy=Policy(min_confidence=0.0), watch=False)
    first = b.ask("أين عقد الوزراء اجتماعا؟")
    assert first.citations[0].article_id == "a"
    alone = b.ask("وماذا حدث يوم الأحد؟")  # no history: the other story matches best
    assert alone.citations[0].article_id == "b"
    follow = b.ask("وماذا حدث يوم الأحد؟", history=[first])
    assert follow.citations[0].article_id == "a"
    assert follow.citations[0].sentence == "وانتهى الاجتماع يوم الأحد."
    # A self-contained question after it is not pulled into the old story.
    assert b.ask("أين لعب المنتخب مباراة؟", history=[first]).citations[0].article_id == "b"


def test_the_conversation_keeps_its_story_over_a_turn_that_found_nothing(two_stories) -> None:
    from qa.records import Answer, Topic
    from qa.retrieve import Settings

    b = Assistant(two_stories, FakeEncoder(), settings=Settings(context_bonus=50.0),
                  policy=Policy(min_confidence=0.0), watch=False)
    first = b.ask("أين عقد الوزراء اجتماعا؟")
    quoted = first.citations[0]
    assert first.topic == Topic(first.question, "a", quoted.start, quoted.end)
    assert first.to_dict()["topic"]["article_id"] == "a"
    # The follow-up after it is declined (an assistant with an unreachable bar): the
    # conversation is still about article a, and the next follow-up is read against it.
    strict = Assistant(two_stories, FakeEncoder(), settings=Settings(context_bonus=50.0),
                       policy=Policy(min_confidence=99.0), watch=False)
    nothing = strict.ask("وكم وزيرا حضر؟", history=[first])
    assert not nothing.answered
    assert nothing.topic == Topic("وكم وزيرا حضر؟", "a", quoted.start, quoted.end)
    follow = b.ask("وماذا حدث يوم الأحد؟", history=[first, nothing])
    assert follow.citations[0].sentence == "وانتهى الاجتماع يوم الأحد."
    assert follow.topic.article_id == "a" and follow.topic.question == "وماذا حدث يوم الأحد؟"
    # An Answer built by hand (no topic) still gives its quote's article; chat messages, the
    # question alone.
    by_hand = Answer(text=quoted.sentence, citations=[quoted], answered=True,
                     question=first.question)
    assert b.ask("وماذا حدث يوم الأحد؟", history=[by_hand]).citations[0].article_id == "a"
    # a client that kept only the topic (Answer.to_dict()["topic"]) continues the same way
    kept = Topic(**first.to_dict()["topic"])
    assert b.ask("وماذا حدث يوم الأحد؟", history=[kept]).citations[0].article_id == "a"
    lone = b.ask("وماذا حدث يوم الأحد؟", history=[{"role": "user", "content": "سؤال"}])
    assert lone.topic == Topic("وماذا حدث يوم الأحد؟", lone.citations[0].article_id,
                               lone.citations[0].start, lone.citations[0].end)


def test_a_declined_answer_keeps_the_topic_it_followed() -> None:
    from qa.answer import topic_after
    from qa.records import Answer, Topic

    before = Topic("أين عقد الوزراء اجتماعا؟", "a", 0, 31)
    declined = Answer(text=NO_ANSWER, question="وكم وزيرا حضر؟")
    assert topic_after(declined, before) == Topic("وكم وزيرا حضر؟", "a", 0, 31)
    assert topic_after(declined, None) == Topic("وكم وزيرا حضر؟")


@pytest.mark.parametrize("question", ["ولأي شركة تتبع؟", "وإلى أين نُقل الركاب؟", "ومع من تعاقد؟",
                                      "ولمن كانت البطارية؟", "ومتى حدث ذلك؟", "why?"])
def test_follow_up_forms(question: str) -> None:
    from qa.answer import is_follow_up

    assert is_follow_up(question)


def test_standalone_questions_are_not_follow_ups() -> None:
    from qa.answer import is_follow_up

    assert not is_follow_up("ما هي عاصمة اليابان؟")
    assert not is_follow_up("كم عدد الجنود غير الأمريكيين في العراق؟")


def test_judge_reads_several_phrasings_and_takes_their_mean_verdict() -> None:
    scored = [Scored(i, 10.0 - i, 0.5, 0.0) for i in range(3)]
    texts = ["غادر الوزير القاهرة يوم الأحد.", "وصل الوفد يوم الاثنين.", "الطقس حار."]

    def to_hit(s: Scored) -> Hit:
        return _hit(texts[s.row], 100 * s.row)

    reader = FakeReader()
    alone = {c.row: c.hit.probability for c in judge("متى غادر", scored, to_hit, reader)}
    joined = {c.row: c.hit.probability
              for c in judge("متى غادر الوزير القاهرة", scored, to_hit, reader)}
    both = judge(("متى غادر الوزير القاهرة", "متى غادر"), scored, to_hit, reader)
    assert reader.calls == [3, 3, 3, 3]  # one read per phrasing
    assert both[0].row == 0
    for c in both:
        assert c.hit.probability == round((alone[c.row] + joined[c.row]) / 2, 4)


def test_fusion_weight_and_thresholds_come_with_the_readers_weights(index_dir) -> None:
    from qa.reader import ReaderConfig
    from qa.rerank import RETRIEVAL_WEIGHT, retrieval_weight

    class FittedReader(FakeReader):
        config = ReaderConfig(base_fingerprint="x", top_layers=4, use={
            "retrieval_weight": 0.25, "min_probability": 0.9, "min_probability_latin": 0.8})

    plain, fitted = FakeReader(), FittedReader()
    assert retrieval_weight(plain) == RETRIEVAL_WEIGHT and retrieval_weight(None) == 1.0
    assert retrieval_weight(fitted) == 0.25
    assert Policy.for_reader(plain) == Policy()
    assert Policy.for_reader(fitted) == dataclasses.replace(
        Policy(), min_probability=0.9, min_probability_latin=0.8)
    bot = Assistant(index_dir, FakeEncoder(), reader=fitted, watch=False)
    assert bot.policy.min_probability == 0.9  # unless a policy is given explicitly
    strict = Assistant(index_dir, FakeEncoder(), reader=fitted, policy=Policy(), watch=False)
    assert strict.policy.min_probability == Policy().min_probability
    # the fitted weight orders the candidates: judge without a weight uses it
    scored = [Scored(0, 5.0, 0.9, 3.0), Scored(1, 1.0, 0.5, 1.0)]
    hit = Hit("a", "t", "s", 0, 1, 0.0)
    by_default = judge("q", scored, lambda s: hit, fitted)
    explicit = judge("q", scored, lambda s: hit, fitted, Judging(weight=0.25))
    assert [c.hit.score for c in by_default] == [c.hit.score for c in explicit]


def test_the_follow_up_prior_favours_the_last_quote_and_its_neighbours_only() -> None:
    from index.segment import split_sentences
    from qa.records import Topic
    from qa.rerank import NEAR_BONUS, near

    text = "غادر الوزير القاهرة. ووصل إلى الرياض مساء. ثم عاد يوم الأحد."
    spans = split_sentences(text)  # as the index cuts them: one space between
    assert [text[s:e] for s, e in spans] == ["غادر الوزير القاهرة.", "ووصل إلى الرياض مساء.",
                                               "ثم عاد يوم الأحد."]
    prior = near(Topic("متى غادر الوزير؟", "a", *spans[0]))

    def hit(span, article="a"):
        return dataclasses.replace(_hit(text[span[0]:span[1]], span[0]), article_id=article)

    assert prior(hit(spans[0])) == prior(hit(spans[1])) == NEAR_BONUS
    assert prior(hit(spans[2])) == 0.0  # two sentences on
    assert prior(hit(spans[1], article="b")) == 0.0  # same offsets, another article
    assert near(Topic("سؤال"))(hit(spans[0])) == 0.0  # nothing quoted yet
    # in judge, the prior moves a sentence up by its bonus on the fused scale
    scored = [Scored(i, 10.0, 0.5, 0.0) for i in range(3)]
    plain = judge("متى عاد", scored, lambda s: hit(spans[s.row]), FakeReader())
    nudged = judge("متى عاد", scored, lambda s: hit(spans[s.row]), FakeReader(),
                   Judging(prior=prior))
    before = {c.row: c.hit.score for c in plain}
    for c in nudged:
        assert c.hit.score == pytest.approx(before[c.row] + (NEAR_BONUS if c.row < 2 else 0))


def test_a_follow_up_is_judged_deeper_with_the_prior_a_first_question_without() -> None:
    from qa.records import Topic
    from qa.rerank import FIRST_QUESTION, FOLLOW_UP_DEPTH, FOLLOW_UP_WEIGHT, NEAR_BONUS, judging

    assert judging(None) == FIRST_QUESTION and FIRST_QUESTION.prior is None
    follow = judging(Topic("متى غادر الوزير؟", "a", 0, 20))
    assert (follow.depth, follow.weight) == (FOLLOW_UP_DEPTH, FOLLOW_UP_WEIGHT)
    assert follow.depth > FIRST_QUESTION.depth
    assert follow.prior is not None
    assert follow.prior(_hit("غادر الوزير القاهرة.", 0)) == NEAR_BONUS  # article "a" too
