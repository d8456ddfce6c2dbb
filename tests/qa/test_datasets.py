"""QA dataset loading and gold-sentence location (qa/datasets.py); no model needed."""

from __future__ import annotations

import json

import pytest

from index.segment import split_sentences
from qa import datasets as ds
from tests.qa.conftest import PARAGRAPHS, QUESTIONS, squad


def test_locate_inside_between_and_past_the_end():
    spans = [(0, 10), (12, 20), (20, 30)]
    assert [ds.locate(spans, o) for o in (0, 9, 10, 11, 12, 19, 20, 29)] == [0, 0, 1, 1, 1, 1, 2, 2]
    assert ds.locate(spans, 30) is None
    assert ds.locate([], 0) is None


def test_gold_sentence_holds_the_answer_start():
    text = PARAGRAPHS["نهر_النيل"][0]
    spans = split_sentences(text)
    start = text.index("بحيرة فيكتوريا")
    s, e = spans[ds.locate(spans, start)]
    assert text[s:e] == "ينبع النهر من بحيرة فيكتوريا في شرق أفريقيا."
    gap = spans[1][0] - 1  # the space between the first and the second sentence
    assert text[gap] == " " and ds.locate(spans, gap) == 1


def test_squad_loader_dedupes_paragraphs_and_cleans_titles(tmp_path):
    data = squad()
    data["data"].append(json.loads(json.dumps(data["data"][0])))  # the same paragraphs again
    path = tmp_path / "dup.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    articles, questions = ds.load_dataset(path)
    assert len(articles) == 4 and len(questions) == len(QUESTIONS) + 5
    assert {a.title for a in articles} == {"نهر النيل", "القهوة"}
    assert all(q.answerable and q.starts and q.article_id for q in questions)


def test_bad_inputs_say_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset not found"):
        ds.load_dataset(tmp_path / "nope.json")
    (tmp_path / "x.json").write_text('{"articles": []}', encoding="utf-8")
    with pytest.raises(ValueError, match="SQuAD"):
        ds.load_dataset(tmp_path / "x.json")
    (tmp_path / "q.jsonl").write_text('{"question": "متى؟"}\nnot json\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"q.jsonl:2: invalid JSON"):
        ds.load_dataset(tmp_path / "q.jsonl")


def test_parts_split_the_articles_alternately_and_keep_every_paragraph(tmp_path):
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(squad(), ensure_ascii=False), encoding="utf-8")
    articles, every = ds.load_dataset(path)
    halves = {part: ds.load_dataset(path, part) for part in ("train", "eval")}
    by_title = {a.id: a.title for a in articles}
    # the first article (النيل) is the eval half, the second (القهوة) the train half
    assert {by_title[q.article_id] for q in halves["eval"][1]} == {"نهر النيل"}
    assert {by_title[q.article_id] for q in halves["train"][1]} == {"القهوة"}
    assert len(halves["eval"][1]) + len(halves["train"][1]) == len(every)
    assert all(arts == articles for arts, _ in halves.values())  # the same index either way
    assert [ds.in_part(n, "train") for n in range(4)] == [False, True, False, True]
    with pytest.raises(ValueError, match="part must be one of"):
        ds.load_dataset(path, "test")
    (tmp_path / "q.jsonl").write_text('{"question": "متى؟"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="SQuAD files only"):
        ds.load_dataset(tmp_path / "q.jsonl", "eval")
