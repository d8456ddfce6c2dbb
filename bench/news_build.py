"""Benchmark: index the first N articles of the ANT news corpus from the CLI, then query it.

Reports build wall time, sentences/s, peak memory (RSS of the build process), index size,
an incremental rebuild after editing one article, and ask() latency (median, p95).

    .venv/bin/python bench/news_build.py --articles 2000
    .venv/bin/python bench/news_build.py --articles 0        # the whole corpus (31,525)

Data: ../shared/data/ant_news_v2.1.jsonl.gz (third-party, read in place; see BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "data" / "ant_news_v2.1.jsonl.gz"
RESULTS = REPO / "bench" / "results"


def subset(n: int, out: Path) -> list[dict]:
    records = []
    with gzip.open(CORPUS, "rt", encoding="utf-8") as fh:
        for line in fh:
            records.append(json.loads(line))
            if n and len(records) == n:
                break
    write_jsonl(records, out)
    return records


def write_jsonl(records: list[dict], out: Path) -> None:
    with open(out, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")


def timed_build(corpus: Path, index_dir: Path, extra: list[str]) -> dict:
    """Run `daleel build` in a child process: wall time and the child's peak RSS."""
    cmd = [sys.executable, "-m", "qa", "build", str(corpus), "--index", str(index_dir), *extra]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"build failed:\n{proc.stderr[-3000:]}")
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(proc.stdout, end="")
    summary = proc.stdout
    return {"wall_s": round(wall, 1), "peak_rss_mib": round(peak_kib / 1024), "summary": summary}


def approximate_recall(bot, questions: list[str]) -> float | None:
    """Recall@10 of the index's dense search against exact search, for the same queries."""
    import faiss
    import numpy as np

    if len(bot.data.segments) != 1:
        return None  # several segments: exact where flat, IVF only in the large one
    dense = bot.data.segments[0].dense
    if isinstance(dense, faiss.IndexFlat):
        return None
    queries = bot.encoder.encode_queries(questions)
    exact = faiss.IndexFlatIP(queries.shape[1])
    exact.add(np.asarray(bot.data.vectors))
    _, want = exact.search(queries, 10)
    _, got = dense.search(queries, 10)
    hits = [len(set(g) & set(w)) / 10 for g, w in zip(got.tolist(), want.tolist(), strict=True)]
    return round(float(np.mean(hits)), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=2000, help="0 = the whole corpus")
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: tmp)")
    parser.add_argument("--build-args", default="", help="extra args for daleel build")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON results (default: bench/results/news_build_N.json)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="daleel-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    corpus, index_dir = work / "news.jsonl", work / "index"
    records = subset(args.articles, corpus)
    extra = args.build_args.split()

    full = timed_build(corpus, index_dir, extra)
    gen = (index_dir / (index_dir / "CURRENT").read_text().strip())
    manifest = json.loads((gen / "manifest.json").read_text())
    size = sum(f.stat().st_size for f in gen.rglob("*") if f.is_file())
    n_sent = manifest["counts"]["sentences"]

    # Incremental: edit one article (append a sentence), rebuild into the same index.
    records[len(records) // 2]["text"] += "\nوأضاف المتحدث أن الاجتماع المقبل سيعقد الأسبوع القادم."
    write_jsonl(records, corpus)
    incremental = timed_build(corpus, index_dir, extra)

    from qa import Assistant

    bot = Assistant.load(index_dir, watch=False)
    rng = random.Random(7)
    sample = rng.sample(records, min(args.questions, len(records)))
    questions = [r["title"] for r in sample if r.get("title")]
    bot.ask(questions[0])  # warm-up
    latencies = []
    for q in questions:
        t = time.perf_counter()
        bot.ask(q)
        latencies.append((time.perf_counter() - t) * 1000)
    latencies.sort()
    ann_recall = approximate_recall(bot, questions)
    result = {
        "articles": len(records),
        "sentences": n_sent,
        "build_wall_s": full["wall_s"],
        "sentences_per_s": round(n_sent / full["wall_s"], 1),
        "build_peak_rss_mib": full["peak_rss_mib"],
        "index_size_mib": round(size / 2**20, 1),
        "bytes_per_sentence": round(size / max(n_sent, 1)),
        "incremental_rebuild_s": incremental["wall_s"],
        "ask_ms_median": round(statistics.median(latencies), 1),
        "ask_ms_p95": round(latencies[int(0.95 * (len(latencies) - 1))], 1),
        "questions": len(latencies),
        "dense_index": ",".join(s.manifest["settings"]["dense"] for s in bot.data.segments),
        "ann_recall@10_vs_exact": ann_recall,
        "build_args": args.build_args,
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    out = args.out or RESULTS / f"news_build_{args.articles or 'all'}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print("\n| metric | value |\n|---|---|")
    for k, v in result.items():
        print(f"| {k} | {v} |")
    print(f"\nwritten {out}")


if __name__ == "__main__":
    main()
