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
