"""Benchmark: what the index checksums cost at load, and what a full `daleel verify` takes.

    .venv/bin/python bench/checksum_cost.py --articles 2000
    .venv/bin/python bench/checksum_cost.py --articles 0          # the whole ANT corpus
    .venv/bin/python bench/checksum_cost.py --index DIR          # an index you built

Without ``--index`` it builds the first N ANT articles with a stand-in encoder (seeded random
unit vectors, 384 dimensions like e5-small): every file has the size and layout of a real
index, which is all the checksum cost depends on, and the build takes minutes instead of the
27 a real full-corpus embedding takes. Loads alternate with and without the checks (the
checks replaced by a no-op), page cache warm, first round discarded; medians of ``--rounds``.

Data: ../shared/data/ant_news_v2.1.jsonl.gz (third-party, read in place; see BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import itertools
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CORPUS = REPO.parent / "shared" / "data" / "ant_news_v2.1.jsonl.gz"
RESULTS = REPO / "bench" / "results"

from index import checksums, store  # noqa: E402
from index.build import build_index  # noqa: E402


class StandInEncoder:
    """Seeded random unit vectors of e5-small's size: real file sizes, no model."""

    name, backend, dim = "stand-in-384", "torch", 384
    query_prompt = passage_prompt = ""
    fingerprint = "stand-in-384-v1"

    def encode_passages(self, texts):
        out = np.empty((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(t.encode("utf-8", "replace"),
                                                  digest_size=8).digest(), "little")
            v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            out[i] = v / np.linalg.norm(v)
        return out

    encode_queries = encode_passages


def build(articles: int, work: Path) -> Path:
    corpus = work / "corpus.jsonl"
    with gzip.open(CORPUS, "rt", encoding="utf-8") as src, open(corpus, "w",
                                                                encoding="utf-8") as dst:
        for line in itertools.islice(src, articles or None):
            dst.write(line)
    index_dir = work / "idx"
    started = time.perf_counter()
    report = build_index([corpus], index_dir, encoder=StandInEncoder())
    print(f"built {report.articles:,} articles, {report.sentences:,} sentences in "
          f"{time.perf_counter() - started:.0f} s (stand-in encoder)", file=sys.stderr)
    return index_dir


def measure(index_dir: Path, rounds: int) -> dict:
    real_check = checksums.check_all

    def load(checked: bool) -> float:
        checksums.check_all = real_check if checked else (lambda *a, **k: None)
        try:
            started = time.perf_counter()
            store.load(index_dir)
            return time.perf_counter() - started
        finally:
            checksums.check_all = real_check

    load(True), load(False)  # warm the page cache; discarded
    with_checks, without = [], []
    for _ in range(rounds):
        with_checks.append(load(True))
        without.append(load(False))
    started = time.perf_counter()
    report = store.verify(index_dir)
    verify_s = time.perf_counter() - started
    a, b = statistics.median(with_checks), statistics.median(without)
    return {
        "articles": report["articles"], "sentences": report["sentences"],
        "index_mib": round(report["bytes"] / 2**20, 1),
        "load_s_without_checks": round(b, 3), "load_s_with_checks": round(a, 3),
        "check_cost_s": round(a - b, 3), "check_cost_pct": round(100 * (a - b) / b, 1),
        "verify_s": round(verify_s, 3), "rounds": rounds,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--articles", type=int, default=2000, help="first N ANT articles; 0: all")
    ap.add_argument("--index", type=Path, default=None, help="measure this index instead")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="daleel-checksum-") as tmp:
        index_dir = args.index or build(args.articles, Path(tmp))
        row = measure(index_dir, args.rounds)
    row.update(machine=f"{platform.machine()} {__import__('os').cpu_count()} cpu, "
               f"{platform.python_version()}", date=time.strftime("%Y-%m-%d %H:%M"),
               index=str(args.index) if args.index else "stand-in build")
    print("| articles | sentences | index MiB | load s (no checks) | load s (checks) | cost | "
          "verify s |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {row['articles']:,} | {row['sentences']:,} | {row['index_mib']} | "
          f"{row['load_s_without_checks']} | {row['load_s_with_checks']} | "
          f"{row['check_cost_pct']} % | {row['verify_s']} |")
    name = f"checksum_cost_{row['articles']}.json"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / name).write_text(json.dumps(row, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
