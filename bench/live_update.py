"""Benchmark: live updates (issue 17) on an index built from ANT articles.

Given an index built from CORPUS (a folder), this measures from the command line:

* a build with nothing new (it records the files' stamps), one new article, then ``--new``
  new articles (the next ones of the ANT corpus), each written as a file into CORPUS/live/
  and indexed with ``daleel build CORPUS``: wall time;
* ask() latency (median, p95, interleaved) on the resulting many-segment index and on a merged
  copy (hard links: segments never change), and whether both return the same top-5 for
  ``--questions`` questions (headlines of indexed articles, and their first sentences);
* ``daleel watch``: an article dropped into a watched folder, until a running Assistant (hot
  reload on) answers with it;
* with ``--fresh DIR`` (a full build of the corpus plus the watched article), after the watch
  step, the same top-5 comparison with it.

    .venv/bin/python bench/live_update.py CORPUS --index DIR [--new 200] [--questions 200]

Data: ../shared/data/ant_news_v2.1.jsonl.gz (third-party, read in place; see BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ANT = REPO.parent / "shared" / "data" / "ant_news_v2.1.jsonl.gz"
RESULTS = REPO / "bench" / "results"


def unindexed(index_dir: Path, n: int) -> list[dict]:
    """The first ``n`` ANT records with text whose ids the index does not hold."""
    from index import store

    known = {a.id for a in store.load(index_dir).articles}
    out = []
    with gzip.open(ANT, "rt", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            # Records the index skipped (empty text) are not new articles.
            if rec.get("docno", rec.get("id")) not in known and str(rec.get("text", "")).strip():
                out.append(rec)
                if len(out) == n:
                    break
    return out


def cli_build(corpus: Path, index_dir: Path, *extra: str) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "qa", "build", str(corpus), "--index",
                           str(index_dir), *extra], cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"build failed:\n{done.stderr[-3000:]}")
    print(done.stdout.strip())
    return wall


def write(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), "utf-8")


def questions(bot, n: int) -> list[str]:
    arts = bot.data.articles
    step = max(1, len(arts) // n)
    picked = [a for a in arts[::step] if a.title.strip()][: n // 2]
    firsts = [bot.data.sentence_text(int(bot.data.article_body_row[bot.data.article_rows[a.id]]))
              for a in picked]
    return [q[:300] for q in [a.title for a in picked] + firsts if q.strip()][:n]


def top5(bot, qs: list[str]) -> list[list[tuple]]:
    return [[(h.article_id, h.start) for h in hits] for hits in bot.search_batch(qs, k=5)]


def agreement(a, b, qs: list[str]) -> str:
    """How many of ``qs`` get the same top-5 from Assistants ``a`` and ``b``: "n/len"."""
    same = sum(x == y for x, y in zip(top5(a, qs), top5(b, qs), strict=True))
    return f"{same}/{len(qs)}"


def probe(bot, nprobe: int | None) -> None:
    """Every IVF segment of ``bot`` probes ``nprobe`` lists (None: all of them, exact)."""
    for seg in bot.data.segments:
        if hasattr(seg.dense, "nlist"):
            seg.dense.nprobe = nprobe or seg.dense.nlist


def latency(bots: dict, qs: list[str]) -> dict[str, dict[str, float]]:
    times: dict[str, list[float]] = {name: [] for name in bots}
    names = list(bots)
    for i, q in enumerate(qs):  # interleaved, each first every other time (ABBA): a runtime is
        # slower after a pause (BENCHMARKS.md section 10), so a fixed order favours the second
        for name in names if i % 2 == 0 else names[::-1]:
            bot = bots[name]
            start = time.perf_counter()
            bot.ask(q)
            times[name].append((time.perf_counter() - start) * 1000)
    return {name: {"p50_ms": round(statistics.median(t), 1),
                   "p95_ms": round(sorted(t)[int(0.95 * (len(t) - 1))], 1)}
            for name, t in times.items()}


def watch_latency(corpus: Path, index_dir: Path, record: dict) -> float:
    from qa import Assistant

    drop = corpus / "live-watch"
    drop.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "qa", "watch", str(drop), "--index",
                             str(index_dir), "--interval", "1"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert "Watching" in proc.stdout.readline()
        bot = Assistant.load(index_dir, check_every=0.5)
        time.sleep(3)  # the watcher's first look, at the folder as it is
        start = time.perf_counter()
        write(drop / "dropped.jsonl", [record])
        wanted = record.get("docno", record.get("id"))
        question = record.get("title") or record["text"][:200]
        while time.perf_counter() - start < 120:
            # As the chat does: each request checks for a new generation (hot reload).
            if any(h.article_id == wanted for h in bot.search(question, k=5)):
                return time.perf_counter() - start
            time.sleep(0.2)
        return float("nan")
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("corpus", type=Path, help="the folder the index was built from")
    p.add_argument("--index", type=Path, required=True)
    p.add_argument("--new", type=int, default=200)
    p.add_argument("--questions", type=int, default=200)
    p.add_argument("--fresh", type=Path, default=None, help="a full build of the same corpus")
    p.add_argument("--out", type=Path, default=RESULTS / "live_update.json")
    args = p.parse_args()
    from qa import Assistant

    records = unindexed(args.index, args.new + 2)
    out: dict = {}

    def save() -> None:  # after every step: a run cut short keeps what it measured
        args.out.write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n", "utf-8")

    # Nothing new: reads the corpus once and, for an index built before builds recorded file
    # stamps, records them (index.corpus.SourceFile); later builds skip the unchanged files.
    out["no_change_s"] = round(cli_build(args.corpus, args.index), 1)
    save()
    write(args.corpus / "live" / "one.jsonl", records[:1])
    out["one_article_s"] = round(cli_build(args.corpus, args.index), 1)
    save()
    write(args.corpus / "live" / "batch.jsonl", records[1:1 + args.new])
    out[f"{args.new}_articles_s"] = round(cli_build(args.corpus, args.index), 1)
    save()
    merged = args.index.with_name(args.index.name + "-merged")
    shutil.rmtree(merged, ignore_errors=True)
    shutil.copytree(args.index, merged, copy_function=lambda s, d: Path(d).hardlink_to(s),
                    ignore=shutil.ignore_patterns(".build.lock", ".checkpoint"))
    out["merge_s"] = round(cli_build(args.corpus, merged, "--merge"), 1)
    save()
    bots = {"segments": Assistant.load(args.index, watch=False),
            "merged": Assistant.load(merged, watch=False)}
    out["segments"] = len(bots["segments"].data.segments)
    qs = questions(bots["merged"], args.questions)
    out["same_top5_as_merged"] = agreement(bots["segments"], bots["merged"], qs)
    save()
    bots["segments"].ask(qs[0]), bots["merged"].ask(qs[0])  # warm
    out["ask"] = latency(bots, qs)
    save()
    out["watch_answerable_s"] = round(watch_latency(args.corpus, args.index, records[-1]), 1)
    save()
    if args.fresh:  # now the segments hold every article of the corpus, as the fresh build does
        segments = Assistant.load(args.index, watch=False)
        fresh = Assistant.load(args.fresh, watch=False)
        out["fresh_articles"] = len(fresh.data.articles)
        out["segments_articles_after_watch"] = len(segments.data.articles)
        out["same_top5_as_fresh"] = agreement(segments, fresh, qs)
        probe(segments, None), probe(fresh, None)  # exact dense: what is left is the segments'
        out["same_top5_as_fresh_exact_dense"] = agreement(segments, fresh, qs)
    import os
    import platform

    out.update(articles=len(bots["segments"].data.articles), load_average=list(os.getloadavg()),
               machine=f"{platform.machine()} {os.cpu_count()} cpu",
               date=time.strftime("%Y-%m-%d %H:%M"))
    print(json.dumps(out, ensure_ascii=False, indent=2))
    args.out.write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
