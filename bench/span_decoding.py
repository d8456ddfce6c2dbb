"""How the reader's answer phrase is decoded: each answerable question is read beside its gold
sentence (no retrieval), and the phrase is scored (SQuAD token F1 / exact match, Arabic
normalization) for a grid of length penalties, with and without widening to whole words.
qa.reader.LENGTH_PENALTY is set from this on XQuAD-ar's eval half; other files are measured.

    .venv/bin/python bench/span_decoding.py ../shared/data/xquad.ar.json --part eval
    .venv/bin/python bench/span_decoding.py ../shared/data/aaqad-heldout.ar.json --limit 1000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from index.encoder import Encoder  # noqa: E402
from index.segment import split_sentences  # noqa: E402
from qa.answer import normalize_question  # noqa: E402
from qa.datasets import PARTS, load_dataset  # noqa: E402
from qa.metrics import best_of, exact_match, token_f1  # noqa: E402
from qa.reader import Reader, best_span, encode_pairs  # noqa: E402

PENALTIES = (0.0, 0.02, 0.04, 0.05, 0.06, 0.08, 0.1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--part", choices=PARTS, default="all")
    ap.add_argument("--limit", type=int, default=0, help="first N questions (0: all)")
    ap.add_argument("--reader-weights", help="weights folder (default: the committed reader)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    reader = Reader.load(Encoder(), args.reader_weights)
    articles, questions = load_dataset(args.dataset, args.part)
    by_id = {a.id: a for a in articles}
    questions = [q for q in questions if q.answerable and q.starts]
    questions = questions[: args.limit] if args.limit else questions
    started = time.perf_counter()
    read = []  # per question: its sentence, gold answers and the reader's raw outputs
    for q in questions:
        art = by_id[q.article_id]
        span = next((s for s in split_sentences(art.text) if s[0] <= q.starts[0] < s[1]), None)
        if span is None:
            continue
        sentence = art.text[span[0]:span[1]]
        batch, offsets, masks, starts = encode_pairs(
            reader.tokenizer, [normalize_question(q.text)], [(art.title, sentence)],
            reader.config, reader.pad_multiple)
        _, start, end = (np.asarray(x) for x in reader.run(**batch))
        read.append((sentence, q.answers, start[0], end[0], masks[0], offsets[0], starts[0]))
    seconds = time.perf_counter() - started
    rows = []
    for words in (False, True):
        for penalty in PENALTIES:
            f1 = em = 0.0
            for sentence, golds, start, end, mask, offsets, head in read:
                span = best_span(start, end, mask, offsets, head, sentence,
                                 length_penalty=penalty, words=words)
                phrase = sentence[span[0]:span[1]] if span else ""
                f1 += best_of(token_f1, phrase, list(golds))
                em += best_of(exact_match, phrase, list(golds))
            n = len(read)
            rows.append({"whole_words": words, "length_penalty": penalty,
                         "f1": round(100 * f1 / n, 1), "em": round(100 * em / n, 1)})
    print(f"{args.dataset.name} ({args.part}): {len(read)} answerable questions read beside their "
          f"gold sentence in {seconds:.0f} s, reader {reader.backend}")
    print("| whole words | length penalty | F1 | EM |\n|---|---|---|---|")
    for r in rows:
        print(f"| {'yes' if r['whole_words'] else 'no'} | {r['length_penalty']} | {r['f1']} | "
              f"{r['em']} |")
    out = args.out or ROOT / "bench" / "results" / f"span_decoding_{args.dataset.stem}.json"
    out.write_text(json.dumps({"dataset": args.dataset.name, "part": args.part,
                               "questions": len(read), "reader_backend": reader.backend,
                               "rows": rows}, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
