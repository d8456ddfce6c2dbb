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


def test_swapped_questions_are_negatives_for_their_answer_sentence_in_training_only(
        train_reader, tmp_path) -> None:
    first = ("ولد عبد السلام هارون في الإسكندرية عام 1909. "
             "ونال جائزة الملك فيصل العالمية عام 1981.")
    second = "ولد نجيب محفوظ في القاهرة عام 1911. ونال جائزة نوبل في الأدب عام 1988."
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(squad_data({"هارون": [first], "محفوظ": [second]}, [
        ("هارون", 0, "في أي عام ولد عبد السلام هارون؟", "1909"),
        ("هارون", 0, "متى نال هارون جائزة الملك فيصل؟", "1981"),
        ("محفوظ", 0, "في أي عام ولد نجيب محفوظ؟", "1911"),
        ("محفوظ", 0, "متى نال محفوظ جائزة نوبل؟", "1988"),
    ]), ensure_ascii=False), encoding="utf-8")
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
