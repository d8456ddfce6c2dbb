"""scripts/train_reader.py: starting from weights trained with fewer top layers."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch

from qa import reader as R
from tests.conftest import REPO, squad_data


@pytest.fixture(scope="module")
def train_reader():
    spec = importlib.util.spec_from_file_location("train_reader",
                                                  REPO / "scripts" / "train_reader.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_weights_with_fewer_layers_fill_the_top_and_leave_the_rest_as_the_base(
        train_reader, encoder) -> None:
    one, _ = train_reader.build_net(encoder.path, 1)
    state = {k: v + 1.0 for k, v in train_reader.trainable_state(one).items()}  # "trained"
    two, _ = train_reader.build_net(encoder.path, 2)
    base = train_reader.trainable_state(two)
    with pytest.raises(R.ReaderError, match="lacks"):
        train_reader.load_trainable(two, state)  # a resumed checkpoint must be whole
    train_reader.load_trainable(two, state, lower_layers_fresh=True)
    now = dict(two.named_parameters())
    top, below = "base.encoder.layer.11.", "base.encoder.layer.10."
    assert any(k.startswith(top) for k in state) and not any(k.startswith(below) for k in state)
    for k, v in now.items():
        if k.startswith(top) or not k.startswith("base."):
            assert torch.equal(v, state[k]), k
        elif k.startswith(below):
            assert torch.equal(v, base[k]), k


def test_elliptical_drops_what_the_previous_question_named_and_keeps_the_question_word(
        train_reader) -> None:
    previous = "متى نال عبد السلام هارون جائزة الملك فيصل؟"
    assert train_reader.elliptical("أين ولد عبد السلام هارون؟", previous) == "وأين ولد؟"
    # no dangling preposition once its object is gone; a leading و is not doubled
    assert train_reader.elliptical("وكم عدد الجنود الأمريكيين في العراق؟",
                                   "متى غادرت القوات الأمريكية العراق؟") == "وكم عدد الجنود؟"


def test_elliptical_joins_keep_a_follow_up_answered_by_the_sentence_just_quoted(
        train_reader, tmp_path) -> None:
    context = ("ولد عبد السلام هارون في الإسكندرية عام 1909. "
               "ونال جائزة الملك فيصل العالمية عام 1981. "
               "وتوفي في القاهرة عام 1988.")
    path = tmp_path / "tiny.json"
    title = "عبد السلام هارون"
    path.write_text(json.dumps(squad_data({title: [context]}, [
        (title, 0, "أين ولد عبد السلام هارون؟", "الإسكندرية"),
        (title, 0, "في أي عام ولد عبد السلام هارون؟", "1909"),
        (title, 0, "متى نال عبد السلام هارون جائزة الملك فيصل؟", "1981"),
    ]), ensure_ascii=False), encoding="utf-8")
    plain, _, before = train_reader.load_pairs(path, 13, dev_share=0.0, join_share=1.0)
    short, _, stats = train_reader.load_pairs(path, 13, dev_share=0.0, join_share=1.0,
                                              ellipsis=1.0)
    assert before["elliptical"] == 0 and stats["elliptical"] == stats["joined"] == 3
    joined = [p for p in short if p["question"].count("؟") == 2]
    assert joined and all("؟ و" in p["question"] for p in joined)
    # every joined question keeps its positive; the two birth questions share one sentence, and
    # one asked after the other is a positive for it, never a negative
    birth = context[:context.index("1909") + 5]
    for p in joined:
        follow = p["question"].split("؟ ", 1)[1]
        assert "عبد السلام" not in follow, p["question"]
    assert not any(p["sentence"] == birth and p["label"] == 0.0 and "ولد" in
                   p["question"].split("؟ ", 1)[1] for p in joined)
    assert any(p["label"] == 1.0 for p in joined)
    # without --ellipsis, joins are as before: whole questions, other sentences only
    assert all(p["question"].split("؟ ", 1)[1].startswith(("أين", "في", "متى"))
               for p in plain if p["question"].count("؟") == 2)


def test_mismatched_swaps_the_word_the_question_is_about_for_one_of_its_kind(
        train_reader) -> None:
    sentence = "ولد عبد السلام هارون في الإسكندرية عام 1909."
    terms = set(train_reader.analyze(sentence))
    # sentence frequencies (negated): هارون is the rarest, though الإسكندرية comes after it
    rare = dict(zip(train_reader.analyze("هارون الإسكندرية ولد"), (-1, -5, -40), strict=True))
    question = "متى ولد هارون في الإسكندرية؟"
    i = train_reader.anchor(question, terms, lambda t: rare.get(t, -100))
    assert question.split()[i] == "هارون"
    assert train_reader.mismatched(question, i, "مبارك") == "متى ولد مبارك في الإسكندرية؟"
    end = train_reader.anchor("في أي عام ولد هارون؟", terms, lambda t: rare.get(t, -100))
    assert train_reader.mismatched("في أي عام ولد هارون؟", end, "1911") == "في أي عام ولد 1911؟"
    assert train_reader.anchor("متى انتهت الحرب؟", terms, lambda t: -1) is None  # none shared
    assert [train_reader.shape(w) for w in ("1909", "iPod", "والإسكندرية", "هارون")] == [
        "number", "latin", "defined", "word"]


HAROUN = "ولد عبد السلام هارون في الإسكندرية عام 1909. ونال جائزة الملك فيصل العالمية عام 1981."
MAHFOUZ = "ولد نجيب محفوظ في القاهرة عام 1911. ونال جائزة نوبل في الأدب عام 1988."


def two_articles(tmp_path, haroun: str = HAROUN, extra=()):
    """A SQuAD file of two short biographies, two answerable questions on each (+ ``extra``)."""
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(squad_data({"هارون": [haroun], "محفوظ": [MAHFOUZ]}, [
        ("هارون", 0, "في أي عام ولد عبد السلام هارون؟", "1909"),
        ("هارون", 0, "متى نال هارون جائزة الملك فيصل؟", "1981"),
        ("محفوظ", 0, "في أي عام ولد نجيب محفوظ؟", "1911"),
        ("محفوظ", 0, "متى نال محفوظ جائزة نوبل؟", "1988"), *extra,
    ]), ensure_ascii=False), encoding="utf-8")
    return path


def test_swapped_questions_are_negatives_for_their_answer_sentence_in_training_only(
        train_reader, tmp_path) -> None:
    first, second = HAROUN, MAHFOUZ
    path = two_articles(tmp_path)
    plain, _, before = train_reader.load_pairs(path, 13, dev_share=0.0)
    train, _, stats = train_reader.load_pairs(path, 13, dev_share=0.0, swap=1.0)
    assert before["swapped"] == 0 and stats["swapped"] == len(train) - len(plain) > 0
    asked = {p["question"] for p in plain}
    # every other pair is what training without swaps makes, in the same order
    assert [p for p in train if p["question"] in asked] == plain
    originals = {p["sentence"]: p["question"] for p in plain if p["label"] == 1.0}
    for p in train:
        if p["question"] in asked:
            continue
        # a question about something else, paired with the sentence that answered the original
        assert p["label"] == 0.0 and p["span"] is None
        changed = [(a, b) for a, b in zip(originals[p["sentence"]].split(),
                                          p["question"].split(), strict=True) if a != b]
        assert len(changed) == 1, p["question"]
        donor = changed[0][1].rstrip("؟")
        held = set(train_reader.analyze(p["sentence"] + " " + p["title"]))
        assert not set(train_reader.analyze(donor)) & held, p["question"]
        other = {"هارون": second, "محفوظ": first}[p["title"]]
        assert donor in other.split() or donor + "." in other.split(), donor  # another article's
    # the dev split never gets them: it measures runs alike
    _, dev, _ = train_reader.load_pairs(path, 13, dev_share=1.0, swap=1.0)
    assert dev and {p["question"] for p in dev} <= asked


def test_listwise_batches_keep_each_asking_of_a_question_whole(train_reader, tmp_path) -> None:
    path = two_articles(tmp_path, HAROUN + " وتوفي في القاهرة عام 1988.",
                        [("هارون", 0, "من رثى هارون؟", None)])
    pairs, _, stats = train_reader.load_pairs(path, 13, dev_share=0.0, swap=1.0)
    asked_first = [p for p in pairs if p["question"] == pairs[0]["question"]]
    pairs = pairs + asked_first * 2  # a question asked thrice (as XQuAD-ar's copies are)
    groups = train_reader.question_groups(pairs)
    assert sorted(i for g in groups for i in g) == list(range(len(pairs)))
    assert len(groups) == 5 + 2  # one per question, and one per extra copy
    for g in groups:
        assert sum(pairs[i]["label"] == 1.0 for i in g) <= 1
        assert len({pairs[i].get("group", pairs[i]["question"]) for i in g}) == 1
    # a swapped question is read in its original question's group
    assert stats["swapped"] and all(len(g) > 1 for g in groups)
    batches = train_reader.group_batches(pairs, 8, 13)
    assert sorted(i for b in batches for i in b) == list(range(len(pairs)))
    where = {i: n for n, b in enumerate(batches) for i in b}
    assert all(len({where[i] for i in g}) == 1 for g in groups)


def test_listwise_loss_ranks_the_positive_above_its_group(train_reader) -> None:
    def pair(q, label):
        return {"question": q, "article": 0, "label": label, "weight": 1.0}

    pairs = [pair("أ؟", 1.0), pair("أ؟", 0.0), pair("أ؟", 0.0), pair("ب؟", 0.0), pair("ب؟", 0.0)]
    first = train_reader.listwise_loss(torch.tensor([5.0, 0.0, 0.0, 9.0, -9.0]), pairs)
    last = train_reader.listwise_loss(torch.tensor([-5.0, 0.0, 0.0, 9.0, -9.0]), pairs)
    assert 0 < first.item() < 0.02 < last.item()
    # the group without a positive ("ب؟") adds nothing, whatever its logits
    assert train_reader.listwise_loss(torch.tensor([5.0, 0.0, 0.0, -9.0, 9.0]), pairs) == first
    assert train_reader.listwise_loss(torch.zeros(2), pairs[3:]).item() == 0.0


def test_a_batch_read_in_length_sorted_parts_has_the_same_losses(train_reader, encoder) -> None:
    net, tokenizer = train_reader.build_net(encoder.path, 1)
    config = R.ReaderConfig(base_fingerprint=encoder.fingerprint, top_layers=1)
    pairs = [{"question": "متى ولد هارون؟", "article": 0, "title": "هارون",
              "sentence": "ولد عبد السلام هارون في الإسكندرية عام 1909.", "label": 1.0,
              "weight": 1.0, "span": (35, 39)},
             {"question": "متى ولد هارون؟", "article": 0, "title": "هارون",
              "sentence": "ونال جائزة الملك فيصل العالمية عام 1981 عن تحقيقه كتب التراث "
                          "العربي ونشرها في طبعات علمية محققة.", "label": 0.0, "weight": 1.0,
              "span": None},
             {"question": "من رثى هارون؟", "article": 0, "title": "هارون",
              "sentence": "وتوفي في القاهرة.", "label": 0.0, "weight": 0.3, "span": None}]
    net.eval()  # no dropout: the two ways must agree
    with torch.no_grad():
        whole = train_reader.loss_of(net, tokenizer, pairs, config, listwise=1.0)
        parts = train_reader.loss_of(net, tokenizer, pairs, config, listwise=1.0, parts=2)
    assert whole[0].item() == pytest.approx(parts[0].item(), rel=1e-4)
    assert whole[1:] == pytest.approx(parts[1:], rel=1e-4)
    assert whole[2] > 0  # the one span was scored
