"""qa.evaluate: gold-sentence location, metrics, the JSON report and the index cache."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from index.segment import split_sentences
from qa import evaluate as ev
from tests.conftest import SEED_ID, SEEDS

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
UNANSWERABLE = ["ما هي عاصمة اليابان؟", "من فاز بكأس العالم عام 2022؟", "What is 2 + 2?"]


def squad(paragraphs: dict[str, list[str]] = PARAGRAPHS) -> dict:
    data = []
    for title, contexts in paragraphs.items():
        paras = [{"context": c, "qas": []} for c in contexts]
        for n, (t, p, question, answer) in enumerate(QUESTIONS):
            if t == title:
                start = contexts[p].index(answer)
                paras[p]["qas"].append({"id": f"q{n}", "question": question,
                                        "answers": [{"text": answer, "answer_start": start}]})
        data.append({"title": title, "paragraphs": paras})
    return {"version": "1.1", "data": data}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("eval-data")
    (root / "mini.json").write_text(json.dumps(squad(), ensure_ascii=False), encoding="utf-8")
    (root / "unans.jsonl").write_text(
        "".join(json.dumps({"question": q, "answerable": False}, ensure_ascii=False) + "\n"
                for q in UNANSWERABLE), encoding="utf-8")
    return {"squad": root / "mini.json", "unans": root / "unans.jsonl", "root": root}


@pytest.fixture(scope="module")
def results(files, encoder, tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("eval-work")
    return ev.evaluate([files["squad"]], work_dir=work, unanswerable=files["unans"],
                       encoder=encoder)


# -- gold sentence location (no model) -------------------------------------------------
def test_locate_inside_between_and_past_the_end():
    spans = [(0, 10), (12, 20), (20, 30)]
    assert [ev.locate(spans, o) for o in (0, 9, 10, 11, 12, 19, 20, 29)] == [0, 0, 1, 1, 1, 1, 2, 2]
    assert ev.locate(spans, 30) is None
    assert ev.locate([], 0) is None


def test_gold_sentence_holds_the_answer_start():
    text = PARAGRAPHS["نهر_النيل"][0]
    spans = split_sentences(text)
    start = text.index("بحيرة فيكتوريا")
    s, e = spans[ev.locate(spans, start)]
    assert text[s:e] == "ينبع النهر من بحيرة فيكتوريا في شرق أفريقيا."
    gap = spans[1][0] - 1  # the space between the first and the second sentence
    assert text[gap] == " " and ev.locate(spans, gap) == 1


def test_squad_loader_dedupes_paragraphs_and_cleans_titles(tmp_path):
    data = squad()
    data["data"].append(json.loads(json.dumps(data["data"][0])))  # the same paragraphs again
    path = tmp_path / "dup.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    articles, questions = ev.load_dataset(path)
    assert len(articles) == 4 and len(questions) == len(QUESTIONS) + 5
    assert {a.title for a in articles} == {"نهر النيل", "القهوة"}
    assert all(q.answerable and q.starts and q.article_id for q in questions)


def test_metrics_by_hand():
    m = ev.retrieval_metrics([[1, 2], [3, 4], [5, 6]], [frozenset({1}), frozenset({4}),
                                                        frozenset({9})])
    assert m["recall@1"] == pytest.approx(1 / 3) and m["recall@5"] == pytest.approx(2 / 3)
    assert m["mrr@10"] == pytest.approx((1 + 0.5) / 3)
    assert ev.retrieval_metrics([], [])["recall@1"] is None


def test_bad_inputs_say_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset not found"):
        ev.load_dataset(tmp_path / "nope.json")
    (tmp_path / "x.json").write_text('{"articles": []}', encoding="utf-8")
    with pytest.raises(ValueError, match="SQuAD"):
        ev.load_dataset(tmp_path / "x.json")
    (tmp_path / "q.jsonl").write_text('{"question": "متى؟"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="--corpus"):
        ev.evaluate([tmp_path / "q.jsonl"], work_dir=tmp_path, encoder=object())


# -- with the real model ----------------------------------------------------------------
@pytest.mark.slow
def test_every_gold_sentence_is_located_and_metrics_are_consistent(results):
    (d,) = results["datasets"]
    assert d["answerable"] == d["gold_located"] == len(QUESTIONS)
    assert d["articles"] == 4 and d["unanswerable"] == len(UNANSWERABLE)
    r1, r5, r20, mrr = (d[k] for k in ("recall@1", "recall@5", "recall@20", "mrr@10"))
    assert all(0 <= x <= 1 for x in (r1, r5, r20, mrr, d["paragraph_recall@5"]))
    assert r1 <= r5 <= r20
    assert r1 + (r5 - r1) / 5 - 1e-9 <= mrr <= r20
    assert d["paragraph_recall@5"] >= r5
    assert r5 >= 0.75  # an easy fixture: the model must find most of it
    ab = d["abstention"]
    assert all(0 <= ab[k] <= 1 for k in ("unanswerable_declined", "answerable_answered"))
    assert d["latency_ms"]["ask"]["n"] == len(QUESTIONS) and d["latency_ms"]["ask"]["median"] > 0


@pytest.mark.slow
def test_second_run_reuses_the_index_and_a_changed_corpus_rebuilds(files, encoder, tmp_path):
    first = ev.evaluate([files["squad"]], work_dir=tmp_path, encoder=encoder)
    again = ev.evaluate([files["squad"]], work_dir=tmp_path, encoder=encoder)
    assert first["datasets"][0]["index"]["rebuilt"] and first["datasets"][0]["index"]["embedded"]
    assert again["datasets"][0]["index"] == {**first["datasets"][0]["index"], "rebuilt": False,
                                             "embedded": 0, "build_seconds": 0.0}
    assert {k: v for k, v in again["datasets"][0].items() if k.startswith(("recall", "mrr"))} == {
        k: v for k, v in first["datasets"][0].items() if k.startswith(("recall", "mrr"))}
    changed = {**PARAGRAPHS, "القهوة": [*PARAGRAPHS["القهوة"][:1],
                                        PARAGRAPHS["القهوة"][1] + " ويشرب العرب القهوة بالهيل."]}
    path = tmp_path / "mini.json"
    path.write_text(json.dumps(squad(changed), ensure_ascii=False), encoding="utf-8")
    third = ev.evaluate([path], work_dir=tmp_path, encoder=encoder)["datasets"][0]["index"]
    assert third["rebuilt"] and third["embedded"] == 1  # only the new sentence


@pytest.mark.slow
def test_cli_writes_the_json_report_and_prints_the_table(files, encoder, tmp_path, capsys):
    questions = tmp_path / "seed.jsonl"
    rows = [
        {"question": "كم عدد الجنود غير الأمريكيين في العراق؟", "article_id": SEED_ID,
         "answer_sentence": "2400", "answerable": True},
        {"question": "ما هي عاصمة اليابان؟", "answerable": False},
    ]
    questions.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                         encoding="utf-8")
    parser = argparse.ArgumentParser()
    ev.add_arguments(parser)
    out = tmp_path / "res" / "results.json"
    args = parser.parse_args([str(files["squad"]), str(questions), "--corpus", str(SEEDS),
                              "--unanswerable", str(files["unans"]), "--out", str(out),
                              "--work-dir", str(tmp_path / "work"), "--limit", "5"])
    assert ev.run(args, encoder=encoder) == 0
    saved = json.loads(out.read_text(encoding="utf-8"))
    assert {"date", "machine", "model", "settings", "policy", "context", "distractors",
            "unanswerable", "limit", "datasets"} <= saved.keys()
    assert saved["model"]["fingerprint"] == encoder.fingerprint
    assert saved["machine"]["cpu_count"] >= 1
    squad_run, seed_run = saved["datasets"]
    assert squad_run["questions"] == 5 and squad_run["articles"] > 4  # the seed article too
    assert seed_run["answerable"] == seed_run["gold_located"] == 1
    assert seed_run["unanswerable"] == len(UNANSWERABLE) + 1
    table = capsys.readouterr().out
    assert "| dataset |" in table and "| seed.jsonl |" in table and str(out) in table
