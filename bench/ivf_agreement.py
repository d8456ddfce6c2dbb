"""Benchmark: how deep IVF must probe for two indexes of the same articles to agree.

A segmented index (its IVF lists trained on the base segment's vectors) and a fresh build (trained
on all of them) probe different lists, so approximate search can change a top-5. For nprobe in
64, 128, 256, 512 and all lists, this prints how many of 200 questions (headlines and first
sentences, as bench/live_update.py asks) get the same top-5 from both, and one dense search's
median time at depth 100.

    .venv/bin/python bench/ivf_agreement.py SEGMENTED_INDEX FRESH_INDEX
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from live_update import agreement, probe, questions  # noqa: E402


def main() -> None:
    from qa import Assistant

    a, b = (Assistant.load(p, watch=False) for p in sys.argv[1:3])
    qs = questions(b, 200)
    qvecs = b.encoder.encode_queries(qs[:100])
    print("| nprobe | same top-5 | dense search, ms (median) |\n|---|---|---|")
    for nprobe in (64, 128, 256, 512, None):
        probe(a, nprobe), probe(b, nprobe)
        same = agreement(a, b, qs)
        times = []
        for q in qvecs:
            start = time.perf_counter()
            b.data.dense.search(q[None], 100)
            times.append((time.perf_counter() - start) * 1000)
        print(f"| {nprobe or 'all'} | {same} | {statistics.median(times):.1f} |",
              flush=True)


if __name__ == "__main__":
    main()
