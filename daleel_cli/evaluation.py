"""``daleel eval``: its options, the run, and the results as a markdown table (the evaluation
itself is :mod:`qa.evaluate`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from index.chunk import CONTEXT_MODES, DEFAULT_CONTEXT
from index.encoder import BACKENDS, OPENVINO_INT8, Encoder
from qa.datasets import PARTS
from qa.evaluate import DEFAULT_WORK_DIR, KS, MRR_K, PARAGRAPH_K, evaluate
from qa.reader import Reader


def format_table(results: dict[str, Any]) -> str:
    """The figures as a markdown table (recalls in %), with the run's setup underneath."""
    head = ["dataset", "mode", "questions", "gold located", "R@1", "R@5", "R@20",
            f"MRR@{MRR_K}", f"paragraph R@{PARAGRAPH_K}", "answer F1 / EM", "answerability AUC",
            "ask ms median/p95", "search ms median/p95", "declined / quoting gold"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for d in results["datasets"]:
        ask, search, ab = d["latency_ms"]["ask"], d["latency_ms"]["search"], d["abstention"]
        cells = [d["dataset"], d["mode"], str(d["answerable"]), str(d["gold_located"]),
                 *(_pct(d[f"recall@{k}"]) for k in KS), _pct(d[f"mrr@{MRR_K}"]),
                 _pct(d[f"paragraph_recall@{PARAGRAPH_K}"]),
                 f"{_pct(d['answer_f1'])} / {_pct(d['answer_em'])}" if "answer_f1" in d else "-",
                 _pct(d.get("answerability_auc")),
                 f"{ask['median']} / {ask['p95']}", f"{search['median']} / {search['p95']}",
                 f"{_pct(ab['unanswerable_declined'])} / {_pct(ab['answerable_quoting_gold'])}"
                 if ab else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    dist = results["distractors"]
    lines.append(f"\nModel {results['model']['name']}, context {results['context']}, "
                 f"{dist['n'] if dist['path'] else 0} distractor articles, "
                 f"settings {results['settings']}; {results['date']}.")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``daleel eval``."""
    parser.add_argument("datasets", nargs="+", type=Path,
                        help="SQuAD-format .json files or .jsonl question files")
    parser.add_argument("--distractors", type=Path, default=None,
                        help="news corpus whose first articles are indexed beside each dataset")
    parser.add_argument("--n-distractors", type=int, default=3000)
    parser.add_argument("--unanswerable", type=Path, default=None,
                        help=".jsonl questions the corpus cannot answer (abstention accuracy)")
    parser.add_argument("--corpus", type=Path, action="append", default=[],
                        help="articles to index too (repeatable): what JSONL questions ask about")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON results file (default: WORK_DIR/results.json)")
    parser.add_argument("--limit", type=int, default=None, help="first N questions per dataset")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR,
                        help=f"where indexes are built and cached (default: {DEFAULT_WORK_DIR})")
    parser.add_argument("--model", default=None, help="sentence-transformers model")
    parser.add_argument("--backend", choices=BACKENDS, default=OPENVINO_INT8,
                        help="embedding path used to build the index (questions are embedded "
                        "in float32, as by daleel ask and serve)")
    parser.add_argument("--context", choices=CONTEXT_MODES, default=DEFAULT_CONTEXT,
                        help="what is embedded with each sentence")
    parser.add_argument("--modes", choices=("both", "reader", "retrieval"), default="both",
                        help="answer with the reader, retrieval alone, or both side by side")
    parser.add_argument("--reader-weights", type=Path, action="append", default=[],
                        help="reader weights folder to evaluate (repeatable, side by side; "
                        "default: the committed reader)")
    parser.add_argument("--part", choices=PARTS, default="all",
                        help="ask only the questions of this half of a SQuAD file's articles "
                        "(the reader trains on XQuAD-ar's 'train' half); all are indexed")
    parser.add_argument("--dense", choices=("auto", "compact"), default="auto",
                        help="dense tier of the evaluation indexes ('compact': IVF-PQ codes "
                        "re-scored with float16 vectors, as daleel build --dense compact)")


def run(args: argparse.Namespace, *, encoder: Encoder | None = None) -> int:
    """``daleel eval``: evaluate, print the table, write the JSON file."""
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be at least 1, got {args.limit}")
    encoder = encoder or Encoder(args.model, backend=args.backend)
    readers: list[tuple[str, Reader | None]] = []
    if args.modes in ("both", "retrieval"):
        readers.append(("retrieval", None))
    if args.modes in ("both", "reader"):
        for folder in args.reader_weights or [None]:
            label = "reader" if folder is None else f"reader {folder.name}"
            readers.append((label, Reader.load(encoder.float32(), folder)))
    results = evaluate(
        args.datasets, work_dir=args.work_dir, distractors=args.distractors,
        n_distractors=args.n_distractors, unanswerable=args.unanswerable, corpus=args.corpus,
        encoder=encoder, context=args.context, limit=args.limit, readers=readers, part=args.part,
        dense=args.dense,
    )
    out = args.out or Path(args.work_dir) / "results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(format_table(results))
    print(f"\nResults: {out}")
    return 0


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"
