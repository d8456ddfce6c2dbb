"""Fit how the assistant uses the reader: the fusion weight (on XQuAD-ar) and the answer
thresholds (on the written seed and seed-check sets). TyDi-ar is never read here.

    .venv/bin/python bench/fit_reader_use.py [--data ../shared/data]

1. Fusion: each question of XQuAD-ar's "eval" half (the reader trains on the other half) has
   its top qa.rerank.DEPTH retrieved sentences read once; the weight of the retrieval score
   beside the reader logit is picked from a grid by sentence R@1.
2. Thresholds: for every seed/seed-check question (answerable or not, Arabic or English), the
   best sentence's calibrated probability after fused reranking. ``min_probability`` is the
   grid value that maximizes the smaller of (share of unanswerable declined, share of
   answerable quoting the right sentence), ties broken by their sum, then by the larger value.
   Questions in Latin script get their own bar only when there are at least 8 of each kind;
   otherwise the Arabic bar applies to them too. seed-holdout and seed-fresh are never read.

Prints both fits and writes bench/results/fit_reader_use.json; with ``--write`` also stores
them in the weights' config (``reader.json``, key ``use``), where the assistant takes them
from: fusion weight and thresholds belong to the weights they were fitted for.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from index.encoder import Encoder  # noqa: E402
from qa.answer import Policy, mostly_latin, normalize_question  # noqa: E402
from qa.assistant import Assistant  # noqa: E402
from qa.datasets import assign_gold, load_dataset, read_questions  # noqa: E402
from qa.evaluate import DEFAULT_WORK_DIR, index_name, prepare_index  # noqa: E402
from qa.reader import CONFIG_FILE, WEIGHTS_DIR, Reader  # noqa: E402
from qa.rerank import DEPTH, Judging, fuse, judge  # noqa: E402

WEIGHTS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)
BARS = tuple(round(x, 3) for x in np.arange(0.05, 0.96, 0.01))
QUESTIONS = ROOT / "bench" / "questions"


def read_all(bot: Assistant, questions, depth: int = DEPTH):
    """Per question: the retrieval candidates and the reader's readings of the top ``depth``."""
    retriever = bot._current()
    texts = [normalize_question(q.text) for q in questions]
    ranked = retriever.score_batch(texts, depth)
    out = []
    for text, scored in zip(texts, ranked, strict=True):
        readings = bot.reader.read(text, [(h.title, h.sentence)
                                          for h in map(retriever.to_hit, scored)])
        out.append((scored, readings))
    return out


def fused_order(scored, readings, weight: float) -> list[int]:
    fused = fuse(scored, readings, weight)
    return sorted(range(len(fused)), key=lambda i: -fused[i])


def fit_fusion(bot: Assistant, path: Path, part: str = "eval") -> dict:
    _, questions = load_dataset(path, part)
    assign_gold(questions, bot.data)
    qs = [q for q in questions if q.gold]
    read = read_all(bot, qs)
    table = {}
    for w in WEIGHTS:
        top = [scored[fused_order(scored, readings, w)[0]].row in q.gold if scored else False
               for q, (scored, readings) in zip(qs, read, strict=True)]
        table[w] = round(100 * sum(top) / len(questions), 2)
    baseline = sum(bool(s) and s[0].row in q.gold for q, (s, _) in zip(qs, read, strict=True))
    best = max(table, key=lambda w: (table[w], -w))
    return {"dataset": f"{path.name} [{part} half]", "questions": len(questions),
            "r1_by_weight": table,
            "retrieval_r1": round(100 * baseline / len(questions), 2), "weight": best}


def fit_thresholds(bot: Assistant, weight: float, sets: list[str]) -> dict:
    rows = []  # (latin, answerable, probability of the best, best is gold)
    for name in sets:
        ans = read_questions(QUESTIONS / f"{name}.jsonl")
        unans = [dataclasses.replace(q, answerable=False)
                 for q in read_questions(QUESTIONS / f"{name}-unanswerable.jsonl")]
        assign_gold(ans, bot.data)
        for q in ans + unans:
            cands = judge(normalize_question(q.text),
                          bot._current().score_batch([normalize_question(q.text)], DEPTH)[0],
                          bot._current().to_hit, bot.reader, Judging(weight=weight))
            best = cands[0]
            rows.append((mostly_latin(q.text), q.answerable, best.hit.probability,
                         q.answerable and best.row in q.gold))

    def rates(subset, bar):
        declined = [p < bar for latin, a, p, _ in subset if not a]
        right = [p >= bar and gold for latin, a, p, gold in subset if a]
        return (float(np.mean(declined)) if declined else 1.0,
                float(np.mean(right)) if right else 1.0)

    def pick(subset):
        return max(BARS, key=lambda b: (min(rates(subset, b)), sum(rates(subset, b)), b))

    arabic = [r for r in rows if not r[0]]
    latin = [r for r in rows if r[0]]
    bar = pick(arabic)
    enough = sum(not r[1] for r in latin) >= 8 and sum(r[1] for r in latin) >= 8
    latin_bar = pick(latin) if enough else bar
    return {"sets": sets, "questions": len(rows), "latin_questions": len(latin),
            "min_probability": bar, "min_probability_latin": latin_bar,
            "arabic": dict(zip(("declined", "quoting_gold"), rates(arabic, bar), strict=True)),
            "latin": dict(zip(("declined", "quoting_gold"), rates(latin, latin_bar),
                              strict=True)),
            "all_probabilities": [[*r[:2], round(r[2], 4), r[3]] for r in rows]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "fit_reader_use.json")
    ap.add_argument("--reader-weights", type=Path, default=None,
                    help="reader weights folder (default: the committed reader)")
    ap.add_argument("--write", action="store_true",
                    help="store the fitted values in that folder's reader.json ('use')")
    args = ap.parse_args()
    encoder = Encoder(backend="openvino-int8")
    reader = Reader.load(encoder.float32(), args.reader_weights)

    xquad = args.data / "xquad.ar.json"
    articles, _ = load_dataset(xquad)
    index_dir, _ = prepare_index(args.work_dir / index_name(xquad, None, (), "title"),
                                 articles, encoder, "title")
    fusion = fit_fusion(Assistant(index_dir, encoder.float32(), reader=reader, watch=False),
                        xquad)
    print(f"fusion on XQuAD-ar's eval half: R@1 by weight {fusion['r1_by_weight']} "
          f"(retrieval alone {fusion['retrieval_r1']}); weight {fusion['weight']}")

    from index.corpus import read_corpus

    seeds = read_corpus([ROOT / "seeds"]).articles
    seed_name = index_name(QUESTIONS / "seed.jsonl", None, [ROOT / "seeds"], "title")
    seed_dir, _ = prepare_index(args.work_dir / seed_name, seeds, encoder, "title")
    bot = Assistant(seed_dir, encoder.float32(), reader=reader, policy=Policy(), watch=False)
    thresholds = fit_thresholds(bot, fusion["weight"], ["seed", "seed-check"])
    print(f"thresholds on seed + seed-check: {thresholds['min_probability']} "
          f"(Latin {thresholds['min_probability_latin']}); Arabic {thresholds['arabic']}, "
          f"Latin {thresholds['latin']}")
    args.out.write_text(json.dumps({"fusion": fusion, "thresholds": thresholds},
                                   ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    if args.write:
        folder = args.reader_weights or WEIGHTS_DIR
        config = dataclasses.replace(reader.config, use={
            "retrieval_weight": fusion["weight"],
            "min_probability": thresholds["min_probability"],
            "min_probability_latin": thresholds["min_probability_latin"],
            "fitted": f"bench/fit_reader_use.py, {time.strftime('%Y-%m-%d %H:%M')}: fusion on "
                      f"{fusion['dataset']}, thresholds on {' + '.join(thresholds['sets'])}"})
        (folder / CONFIG_FILE).write_text(config.to_json() + "\n", encoding="utf-8")
        print(f"Stored in {folder / CONFIG_FILE}")
    print(f"Results: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
