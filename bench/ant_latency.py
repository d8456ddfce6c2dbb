"""ask() latency on a built full-corpus index, several readers side by side, in one run.

The issue-13 latency target (ask p50 < 80 ms, p95 < 200 ms on the full ANT index) measured on
an index already built by ``bench/news_build.py --articles 0`` (or ``daleel build``), without
building it again: ``--questions`` article titles sampled as news_build.py samples them (seed 7),
each asked once of every reader in turn (so that host speed drift hits all of them alike), after
one warm-up question each. The order of the readers rotates from question to question: with a
fixed order, whichever reader asked a question second was faster (an earlier run gave the reader
asked first 130 ms and the same reader asked second 90 ms). Retrieval alone is one more row.
``--pad`` compares how a reader pads its batches (``Reader.pad_multiple``; 0: to the longest pair
only), each variant a reader of its own, with its own int8 shape cache. Each headline question
is followed by one follow-up (FOLLOW_UPS in turn, asked with the answer as history), timed on
its own: the follow-up path joins the two questions, reads FOLLOW_UP_DEPTH sentences twice
(``--follow-up-depth`` compares other depths, each a variant of every reader).

    .venv/bin/python bench/ant_latency.py --index /work/ant-index \\
        --reader-weights qa/reader_weights OTHER_WEIGHTS_DIR --pad 0 16 32

Writes ``bench/results/ant_latency.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ANT = ROOT.parent / "shared" / "data" / "ant_news_v2.1.jsonl.gz"
#: Elliptical follow-ups as users type them (none names its subject).
FOLLOW_UPS = ["ومتى حدث ذلك؟", "ومن قال ذلك؟", "وأين؟", "ولماذا؟", "وكم عددهم؟",
              "وماذا حدث بعد ذلك؟"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, default=Path("/work/ant-index"))
    ap.add_argument("--reader-weights", type=Path, nargs="+", default=[ROOT / "qa" /
                                                                       "reader_weights"])
    ap.add_argument("--pad", type=int, nargs="+", default=None,
                    help="also compare these Reader.pad_multiple values (0: exact lengths)")
    ap.add_argument("--torch-questions", action="store_true",
                    help="also each reader with questions embedded on the torch path "
                         "(Encoder.float32) instead of OpenVINO float32 (Encoder.for_questions)")
    ap.add_argument("--follow-up-depth", type=int, nargs="+", default=None,
                    help="also compare these qa.rerank.FOLLOW_UP_DEPTH values")
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ant_latency.json")
    args = ap.parse_args()
    from qa import Assistant, rerank
    from qa.reader import Reader

    with gzip.open(ANT, "rt", encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh]
    sample = random.Random(7).sample(records, min(args.questions, len(records)))
    questions = [r["title"] for r in sample if r.get("title")]
    base = Assistant.load(args.index, watch=False, reader=False)
    bots = {"retrieval only": base}
    depths = {}  # variant name -> the FOLLOW_UP_DEPTH it asks with
    for w in args.reader_weights:
        for pad in args.pad or [None]:
            reader = Reader.load(base.encoder, w)
            if pad is not None:
                reader.pad_multiple = pad or None
            name = str(w) if pad is None else f"{w} pad {pad}"
            bots[name] = Assistant(args.index, base.encoder, reader=reader, watch=False)
            if args.torch_questions:
                bots[f"{name}, questions on torch"] = Assistant(
                    args.index, base.encoder.float32(), reader=reader, watch=False)
            for depth in args.follow_up_depth or []:
                depths[f"{name}, follow-ups read {depth}"] = depth
                bots[f"{name}, follow-ups read {depth}"] = bots[name]
    shipped = rerank.FOLLOW_UP_DEPTH
    ms: dict[str, list[float]] = {name: [] for name in bots}
    follow_ms: dict[str, list[float]] = {name: [] for name in bots}
    for name, bot in bots.items():  # warm-up
        rerank.FOLLOW_UP_DEPTH = depths.get(name, shipped)
        bot.ask(FOLLOW_UPS[0], history=[bot.ask(questions[0])])
    names = list(bots)
    for i, q in enumerate(questions):
        for name in names[i % len(names):] + names[:i % len(names)]:
            bot = bots[name]
            rerank.FOLLOW_UP_DEPTH = depths.get(name, shipped)
            t = time.perf_counter()
            answer = bot.ask(q)
            ms[name].append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            bot.ask(FOLLOW_UPS[i % len(FOLLOW_UPS)], history=[answer])
            follow_ms[name].append((time.perf_counter() - t) * 1000)
    rows = {name: {**_summary(v), "follow_up": _summary(follow_ms[name])}
            for name, v in ms.items()}
    out = {"index": str(args.index), "sentences": len(base.data.sentences),
           "questions": len(questions), "readers": rows,
           "machine": f"{platform.machine()} {os.cpu_count()} cpu",
           "load_average": [round(x, 2) for x in os.getloadavg()],
           "date": time.strftime("%Y-%m-%d %H:%M")}
    args.out.write_text(json.dumps(out, indent=2), "utf-8")
    print(f"{'reader':<40} {'ask p50':>9} {'p95':>9} {'follow-up p50':>14} {'p95':>9}"
          f"   ({out['sentences']:,} sentences)")
    for name, r in rows.items():
        f = r["follow_up"]
        print(f"{name:<40} {r['median']:>6} ms {r['p95']:>6} ms {f['median']:>11} ms "
              f"{f['p95']:>6} ms")


def _summary(ms: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(ms), 1),
            "p95": round(sorted(ms)[int(0.95 * (len(ms) - 1))], 1)}


if __name__ == "__main__":
    main()
