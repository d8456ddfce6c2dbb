"""Benchmark: filtered questions (outlet, period) against unfiltered ones on the ANT index.

For each question (an article's headline, as bench/news_build.py asks), ask() and search() run
unfiltered and with three filters, interleaved so machine drift hits all alike: the article's
own outlet; its own month; another outlet within one week around it (selective: few rows
pass). Checks that every hit matches its filter and that search(k=10) returns
min(10, matching sentences) hits; reports ask() median/p95 per filter and the ratio to the
unfiltered median measured in the same run.

    .venv/bin/python bench/filters.py --articles 2000 [--work DIR]

Data: ../shared/data/ant_news_v2.1.jsonl.gz (third-party, read in place; see BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import calendar
import datetime as dt
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from news_build import RESULTS, subset, timed_build  # noqa: E402

from qa.filters import NO_DAY, Filter, article_day  # noqa: E402


def filters_for(article, outlets: list[str]) -> dict[str, dict]:
    """The filters a question is asked with; "another outlet" only when the index has two."""
    day = article_day(article.date)
    when = dt.date.fromordinal(day) if day != NO_DAY else dt.date(2018, 4, 1)
    last = calendar.monthrange(when.year, when.month)[1]
    week = {"since": when - dt.timedelta(days=3), "until": when + dt.timedelta(days=3)}
    out = {"own outlet": {"sources": [article.source]},
           "own month": {"since": when.replace(day=1), "until": when.replace(day=last)},
           "one week": week}
    others = [o for o in outlets if o != article.source]
    if others:
        out["another outlet, one week"] = {"sources": others[:1], **week}
    return out


def per_outlet(n: int, out: Path) -> None:
    """The first n / 5 articles of each ANT outlet (the corpus's first 2,000 are all one)."""
    import gzip

    from news_build import CORPUS, write_jsonl

    by_src: dict[str, list[dict]] = {}
    with gzip.open(CORPUS, "rt", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            group = by_src.setdefault(r.get("src", ""), [])
            if len(group) < n // 5:
                group.append(r)
    write_jsonl([r for group in by_src.values() for r in group], out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--work", type=Path, default=None,
                        help="scratch folder; an index already built there is reused")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--per-outlet", action="store_true",
                        help="index the first N/5 articles of each outlet, not the first N")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="daleel-filters-"))
    work.mkdir(parents=True, exist_ok=True)
    corpus, index_dir = work / "news.jsonl", work / "index"
    if not (index_dir / "CURRENT").exists():
        if args.per_outlet:
            per_outlet(args.articles, corpus)
        else:
            subset(args.articles, corpus)
        timed_build(corpus, index_dir, [])

    from qa import Assistant

    bot = Assistant.load(index_dir, watch=False)
    retriever = bot._current()
    outlets = list(bot.facets().sources)
    rng = random.Random(7)
    articles = [a for a in bot.data.articles if a.title and a.source]
    sample = rng.sample(articles, min(args.questions, len(articles)))
    bot.ask(sample[0].title)  # warm-up
    kinds = ["unfiltered", *filters_for(max(sample, key=lambda a: a.source != outlets[0]),
                                        outlets)]
    ask_ms: dict[str, list[float]] = {k: [] for k in kinds}
    checks = {k: {"questions": 0, "hits_wrong": 0, "short": 0, "matching_rows_min": None}
              for k in kinds[1:]}
    for article in sample:
        per = {"unfiltered": {}, **filters_for(article, outlets)}
        for kind in rng.sample([k for k in kinds if k in per], len(per)):  # fresh order
            kw = per[kind]
            t = time.perf_counter()
            answer = bot.ask(article.title, **kw)
            ask_ms[kind].append((time.perf_counter() - t) * 1000)
            if kind == "unfiltered":
                continue
            flt = Filter.make(**kw)
            allowed = retriever.allowed_rows(flt)
            n_allowed = int(allowed.sum())
            hits = bot.search(article.title, 10, **kw)
            c = checks[kind]
            c["questions"] += 1
            c["short"] += len(hits) != min(10, n_allowed)
            c["matching_rows_min"] = min(n_allowed, c["matching_rows_min"] or n_allowed)
            for h in [*hits, *answer.citations, *answer.related]:
                row = bot.data.article_rows[h.article_id]
                c["hits_wrong"] += not allowed[bot.data.article_first_row[row]]
    base = statistics.median(ask_ms["unfiltered"])
    table = {}
    for kind, ms in ask_ms.items():
        ms.sort()
        table[kind] = {"ask_ms_median": round(statistics.median(ms), 1),
                       "ask_ms_p95": round(ms[int(0.95 * (len(ms) - 1))], 1),
                       "ratio_to_unfiltered": round(statistics.median(ms) / base, 2),
                       **checks.get(kind, {})}
    result = {
        "articles": len(bot.data.articles), "sentences": len(bot.data.sentences),
        "questions": len(sample), "dense_index": ",".join(
            s.manifest["settings"]["dense"] for s in bot.data.segments),
        "outlets": bot.facets().sources,
        "filters": table,
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, {platform.python_version()}",
        "load_average": list(os.getloadavg()), "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    name = f"filters_{args.articles}{'_per_outlet' if args.per_outlet else ''}.json"
    out = args.out or RESULTS / name
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print("| filter | ask ms median | p95 | x unfiltered | hits outside filter | short lists |")
    print("|---|---|---|---|---|---|")
    for kind, row in table.items():
        print(f"| {kind} | {row['ask_ms_median']} | {row['ask_ms_p95']} | "
              f"{row['ratio_to_unfiltered']} | {row.get('hits_wrong', '-')} | "
              f"{row.get('short', '-')} |")
    print(f"\nwritten {out}")


if __name__ == "__main__":
    main()
