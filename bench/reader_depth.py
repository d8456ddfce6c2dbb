"""XQuAD-ar sentence R@1 when the reader reads only the best D retrieved sentences (D = 1..8),
fused as the assistant does: the cost/quality trade-off of qa.rerank.DEPTH.

    .venv/bin/python bench/reader_depth.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fit_reader_use import (  # noqa: E402
    DEFAULT_WORK_DIR,
    ROOT,
    Assistant,
    Encoder,
    Reader,
    assign_gold,
    fused_order,
    index_name,
    load_dataset,
    prepare_index,
    read_all,
)

from qa.rerank import DEPTH, RETRIEVAL_WEIGHT  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = ap.parse_args()
    encoder = Encoder(backend="openvino-int8")
    xquad = args.data / "xquad.ar.json"
    articles, questions = load_dataset(xquad)
    index_dir, _ = prepare_index(DEFAULT_WORK_DIR / index_name(xquad, None, (), "title"),
                                 articles, encoder, "title")
    bot = Assistant(index_dir, encoder.float32(), reader=Reader.load(encoder.float32()),
                    watch=False)
    assign_gold(questions, bot.data)
    asked = [q for q in questions if q.gold]
    read = read_all(bot, asked, DEPTH)
    for d in range(1, DEPTH + 1):
        right = sum(s[:d][fused_order(s[:d], r[:d], RETRIEVAL_WEIGHT)[0]].row in q.gold
                    for q, (s, r) in zip(asked, read, strict=True))
        print(f"D={d}: R@1 {100 * right / len(questions):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
