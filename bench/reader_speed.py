"""The reader on both runtimes: int8 against float32 on the seed article (logits, spans, best
sentence), and the time to read one question's 8 candidates (median of 5 runs).

    .venv/bin/python bench/reader_speed.py [WEIGHTS_DIR]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from index.encoder import Encoder  # noqa: E402
from qa.reader import Reader  # noqa: E402

QUESTIONS = ("كم عدد الجنود غير الأمريكيين في العراق؟",
             "متى غادرت القوات القتالية الأمريكية العراق؟", "ما هي عاصمة اليابان؟")


def main() -> int:
    weights = sys.argv[1] if len(sys.argv) > 1 else None
    encoder = Encoder()
    int8 = Reader.load(encoder, weights)
    fp32 = Reader.load(encoder, weights, backend="torch")
    lines = (ROOT / "seeds" / "000_f4163db1c6c8c2c8.txt").read_text(encoding="utf-8").splitlines()
    passages = [(lines[0], line) for line in lines[1:] if line.strip()][:8]
    for q in QUESTIONS:
        a, b = fp32.read(q, passages), int8.read(q, passages)
        gap = [x.score - y.score for x, y in zip(a, b, strict=True)]
        same_best = np.argmax([x.score for x in a]) == np.argmax([y.score for y in b])
        spans = sum(x.span == y.span for x, y in zip(a, b, strict=True))
        print(f"{q}: float32 - int8 logit {min(gap):+.2f}..{max(gap):+.2f}, same best sentence "
              f"{bool(same_best)}, {spans}/8 spans equal")
    for reader in (fp32, int8):
        times = []
        for _ in range(5):
            t = time.perf_counter()
            reader.read(QUESTIONS[0], passages)
            times.append(time.perf_counter() - t)
        print(f"{reader.backend}: {1000 * np.median(times):.1f} ms for 8 pairs (median of 5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
