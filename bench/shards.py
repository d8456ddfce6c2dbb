"""Benchmark: a sharded index against the unsharded one (issue 19), in one run.

Inside a loopback-only network namespace (scripts/loopback_only.py; the script re-runs itself
there), on the first ``--articles`` ANT articles:

1. the unsharded index (built with ``daleel build``'s int8 encoder, or reused from ``--work``)
   split into 2 and into 4 shards (``index.shards.split``: vectors copied, nothing embedded);
2. ``--questions`` questions (article headlines and first sentences, as bench/live_update.py)
   asked of the unsharded index, of each split searched in-process, and of each split served by
   Ray actors on a local cluster (one actor per shard): top-5 of ``search()`` and the sentence
   ``ask()`` quotes (with the reader) compared with the unsharded index's, and ask() latency;
3. with 4 Ray shards, one shard actor killed (SIGKILL of its process) while questions keep
   coming: how many answers were partial, how many failed (none may), how long until answers
   were full again, and that they equal the unsharded ones afterwards.

Writes ``bench/results/shards.json`` and prints a table.

    .venv/bin/python bench/shards.py [--articles 2000] [--questions 200]

Data: ../shared/data/ant_news_v2.1.jsonl.gz (third-party, read in place; see BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
ISOLATED = "DALEEL_BENCH_ISOLATED"


def top5(bot, qs: list[str]) -> list[list[tuple]]:
    return [[(h.article_id, h.start) for h in bot.search(q, k=5)] for q in qs]


def asked(bot, qs: list[str]) -> tuple[list[tuple], list[float], int]:
    """The first quote of each answer (or None), ask() latencies in ms, partial answers."""
    quotes, ms, partial = [], [], 0
    for q in qs:
        t = time.perf_counter()
        a = bot.ask(q)
        ms.append((time.perf_counter() - t) * 1000)
        quotes.append((a.citations[0].article_id, a.citations[0].start) if a.citations else None)
        partial += a.partial
    return quotes, ms, partial


def same(a: list, b: list) -> str:
    return f"{sum(x == y for x, y in zip(a, b, strict=True))}/{len(a)}"


def outage(bot, qs: list[str], shard: int) -> dict:
    """Kill one shard actor's process and keep asking until answers are full again."""
    pid = bot._fanout.status()[shard][1]
    os.kill(pid, signal.SIGKILL)
    started, partial, full_after, failed, asked_n = time.monotonic(), 0, None, [], 0
    i = 0
    while time.monotonic() - started < 120:
        q = qs[i % len(qs)]
        i += 1
        try:
            a = bot.ask(q)
        except Exception as exc:  # a failed request: what must not happen
            failed.append(f"{type(exc).__name__}: {exc}")
            continue
        asked_n += 1
        if a.partial:
            partial += 1
        elif partial:
            full_after = round(time.monotonic() - started, 2)
            break
    status = bot._fanout.status()
    return {"killed_pid": pid, "new_pid": status[shard][1] if status[shard] else None,
            "asked": asked_n, "partial": partial, "failed": len(failed), "errors": failed[:5],
            "full_again_after_s": full_after}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--articles", type=int, default=2000)
    p.add_argument("--questions", type=int, default=200)
    p.add_argument("--work", type=Path, default=Path("/tmp/daleel-shards"),
                   help="where the indexes go (the unsharded one is reused when there)")
    p.add_argument("--out", type=Path, default=RESULTS / "shards.json")
    args = p.parse_args()
    if not os.environ.get(ISOLATED):
        os.environ[ISOLATED] = "1"
        os.execv(sys.executable, [sys.executable, str(REPO / "scripts" / "loopback_only.py"),
                                  sys.executable, *sys.argv])
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "bench"))
    from live_update import questions as headline_questions
    from news_build import subset

    from index import shards, store
    from index.build import build_index
    from qa import Assistant

    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    one = work / f"ant-{args.articles}"
    out: dict = {"articles": args.articles, "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    if store.current_generation(one) is None:
        subset(args.articles, work / "corpus.jsonl")
        t = time.perf_counter()
        build_index([work / "corpus.jsonl"], one)
        out["build_s"] = round(time.perf_counter() - t, 1)
    base = Assistant.load(one, watch=False)
    qs = headline_questions(base, args.questions)
    out["questions"] = len(qs)
    out["sentences"] = len(base.data.sentences)
    out["dense"] = sorted({s.manifest["settings"]["dense"] for s in base.data.segments})
    ref_top, (ref_quotes, ref_ms, _) = top5(base, qs), asked(base, qs)
    rows = [{"index": "unsharded", "search": "in-process", "top5_same": f"{len(qs)}/{len(qs)}",
             "quote_same": f"{len(qs)}/{len(qs)}", "ask_p50_ms": round(statistics.median(ref_ms),
                                                                        1)}]
    encoder, reader = base.encoder, base.reader
    for n in (2, 4):
        split_dir = work / f"ant-{args.articles}-x{n}"
        t = time.perf_counter()
        report = shards.split(one, split_dir, n)
        out[f"split_{n}_s"] = round(time.perf_counter() - t, 1)
        out[f"split_{n}_shards"] = report.shards
        for mode in ("in-process", "ray"):
            bot = Assistant(split_dir, encoder, reader=reader, watch=False,
                            ray="local" if mode == "ray" else None)
            try:
                quotes, ms, partial = asked(bot, qs)
                row = {"index": f"{n} shards", "search": mode,
                       "top5_same": same(top5(bot, qs), ref_top),
                       "quote_same": same(quotes, ref_quotes),
                       "ask_p50_ms": round(statistics.median(ms), 1), "partial": partial}
                if mode == "ray" and n == 4:
                    out["kill"] = outage(bot, qs, shard=1)
                    after, _, partial_after = asked(bot, qs)
                    out["kill"]["quote_same_after"] = same(after, ref_quotes)
                    out["kill"]["partial_after"] = partial_after
                rows.append(row)
                print(row, flush=True)
            finally:
                bot.close()
    out["rows"] = rows
    out.update(machine=platform.processor() or platform.machine(), cpus=os.cpu_count(),
               load_average=[round(x, 2) for x in os.getloadavg()],
               finished=time.strftime("%Y-%m-%d %H:%M:%S"))
    args.out.write_text(json.dumps(out, ensure_ascii=False, indent=2), "utf-8")
    print(f"\n{'index':<12} {'search':<11} {'top-5 same':>11} {'quote same':>11} {'ask p50':>9}")
    for r in rows:
        print(f"{r['index']:<12} {r['search']:<11} {r['top5_same']:>11} {r['quote_same']:>11} "
              f"{r['ask_p50_ms']:>7} ms")
    if "kill" in out:
        print("kill one of 4 Ray shard actors:", json.dumps(out["kill"], ensure_ascii=False))


if __name__ == "__main__":
    main()
