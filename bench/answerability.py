"""Answerability as SQuAD 2.0 poses it: given a question and its own paragraph, does the
paragraph answer it? The score is the reader's best probability over the paragraph's sentences
(our splitter); ROC AUC over answerable vs unanswerable questions. No retrieval involved.

    .venv/bin/python bench/answerability.py ../shared/data/aaqad-heldout.ar.json [--limit 1000]

(`daleel eval` reports the pipeline version: the probability of the sentence retrieval and the
reader put first, over an index of all the dataset's paragraphs.)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from index.encoder import Encoder  # noqa: E402
from index.segment import split_sentences  # noqa: E402
from qa.answer import normalize_question  # noqa: E402
from qa.datasets import load_dataset  # noqa: E402
from qa.metrics import roc_auc  # noqa: E402
from qa.reader import Reader  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--limit", type=int, default=1000, help="first N questions")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "answerability.json")
    args = ap.parse_args()
    reader = Reader.load(Encoder())
    articles, questions = load_dataset(args.dataset)
    by_id = {a.id: a for a in articles}
    questions = questions[: args.limit]
    started = time.perf_counter()
    scores, labels = [], []
    for q in questions:
        art = by_id[q.article_id]
        sents = [art.text[s:e] for s, e in split_sentences(art.text)]
        readings = reader.read(normalize_question(q.text), [(art.title, s) for s in sents])
        scores.append(max((r.probability for r in readings), default=0.0))
        labels.append(q.answerable)
    result = {"dataset": args.dataset.name, "questions": len(questions),
              "answerable": sum(labels), "auc": roc_auc(labels, scores),
              "reader_backend": reader.backend,
              "seconds": round(time.perf_counter() - started, 1)}
    print(json.dumps(result, indent=1))
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
