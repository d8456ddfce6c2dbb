"""qa.evaluate: metrics, the JSON report and the index cache."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from daleel_cli import evaluation as cli_eval
from qa import evaluate as ev
from tests.conftest import SEED_ID, SEEDS
from tests.qa.conftest import PARAGRAPHS, QUESTIONS, squad

UNANSWERABLE = ["ما هي عاصمة اليابان؟", "من فاز بكأس العالم عام 2022؟", "What is 2 + 2?"]


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


def test_metrics_by_hand():
    m = ev.retrieval_metrics([[1, 2], [3, 4], [5, 6]], [frozenset({1}), frozenset({4}),
                                                        frozenset({9})])
    assert m["recall@1"] == pytest.approx(1 / 3) and m["recall@5"] == pytest.approx(2 / 3)
    assert m["mrr@10"] == pytest.approx((1 + 0.5) / 3)
    assert ev.retrieval_metrics([], [])["recall@1"] is None


def test_questions_without_articles_say_what_to_do(tmp_path, fake_encoder):
    (tmp_path / "q.jsonl").write_text('{"question": "متى؟"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="--corpus"):
        ev.evaluate([tmp_path / "q.jsonl"], work_dir=tmp_path, encoder=fake_encoder)


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
    cli_eval.add_arguments(parser)
    out = tmp_path / "res" / "results.json"
    args = parser.parse_args([str(files["squad"]), str(questions), "--corpus", str(SEEDS),
                              "--unanswerable", str(files["unans"]), "--out", str(out),
                              "--work-dir", str(tmp_path / "work"), "--limit", "5"])
    assert cli_eval.run(args, encoder=encoder) == 0
    saved = json.loads(out.read_text(encoding="utf-8"))
    assert {"date", "machine", "model", "settings", "context", "distractors",
            "unanswerable", "limit", "part", "datasets"} <= saved.keys()
    # each mode records the policy it answered with (a reader's own fitted thresholds)
    assert all(d["policy"]["min_probability"] > 0 for d in saved["datasets"])
    assert saved["model"]["fingerprint"] == encoder.fingerprint
    assert saved["machine"]["cpu_count"] >= 1
    runs = {(d["dataset"], d["mode"]): d for d in saved["datasets"]}
    assert len(runs) == 4  # each dataset with retrieval alone and with the reader
    squad_run, seed_run = runs["mini.json", "retrieval"], runs["seed.jsonl", "retrieval"]
    assert squad_run["questions"] == 5 and squad_run["articles"] > 4  # the seed article too
    assert seed_run["answerable"] == seed_run["gold_located"] == 1
    assert seed_run["unanswerable"] == len(UNANSWERABLE) + 1
    read = runs["mini.json", "reader"]
    assert 0 <= read["answer_f1"] <= 1 and 0 <= read["answer_em"] <= read["answer_f1"]
    assert read["answer_n"] == 5 and "answer_f1" not in squad_run
    assert runs["seed.jsonl", "reader"]["answerability_auc"] is not None
    table = capsys.readouterr().out
    assert "| dataset |" in table and "| seed.jsonl | reader |" in table and str(out) in table
