"""Benchmark: two single-thread int8 encoders on one machine, their threads pinned to cores or not.

What a Ray build runs on each node: one actor per CPU, each with ``DALEEL_THREADS=1``. OpenVINO
pins stream threads to cores by default, starting at the first core in every process, so pinned
actors share a core. This starts two processes at once, each embedding the same 1,536 ANT
sentences with one thread, pinned and then not, and prints each one's sentences per second.

    .venv/bin/python bench/pinning.py

Data: ../shared/data/ant_news_v2.1.jsonl.gz (third-party, read in place; see BENCHMARKS.md).
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ANT = REPO.parent / "shared" / "data" / "ant_news_v2.1.jsonl.gz"
N = 1536


def worker() -> None:
    import index.encoder.openvino_int8 as ov_int8

    ov_int8.pin_threads = lambda: os.environ["PIN"] == "1"  # what the runtime would decide
    from index.encoder.light import passage_encoder

    texts: list[str] = []
    with gzip.open(ANT, "rt", encoding="utf-8") as fh:
        for line in fh:
            texts += [s.strip() for s in json.loads(line).get("text", "").split(".")
                      if len(s.strip()) > 20]
            if len(texts) >= N:
                break
    encoder = passage_encoder(None, backend="openvino-int8")
    encoder.encode_passages(texts[:64])  # compiled and warm
    start = time.perf_counter()
    encoder.encode_passages(texts[:N])
    print(f"{N / (time.perf_counter() - start):.0f}")


def main() -> None:
    print("| threads pinned | process 1 sentences/s | process 2 sentences/s | sum |")
    print("|---|---|---|---|")
    for pin in ("1", "0"):
        env = dict(os.environ, PIN=pin, DALEEL_THREADS="1")
        procs = [subprocess.Popen([sys.executable, __file__, "--worker"], cwd=REPO, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                 for _ in range(2)]
        rates = [int(p.communicate()[0].split()[-1]) for p in procs]
        print(f"| {'yes' if pin == '1' else 'no'} | {rates[0]} | {rates[1]} | {sum(rates)} |")


if __name__ == "__main__":
    worker() if "--worker" in sys.argv else main()
