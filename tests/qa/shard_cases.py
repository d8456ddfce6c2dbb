"""Serving a sharded index from Ray actors, for tests/qa/test_shards.py (which checks it).

Run inside a loopback-only network namespace (scripts/loopback_only.py):

    python scripts/loopback_only.py python -m tests.qa.shard_cases SHARDED_INDEX OUT

Starts a local Ray cluster with one actor per shard, asks each question of
tests.conftest.QUESTIONS, kills (SIGKILL) the first shard's actor process, keeps asking
until Ray has restarted it, and writes OUT/results.json: the rankings before, what each request
during the outage got (missing shards, no exception allowed), and the rankings after.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from index.shards import shard_dirs
from qa.retrieve import Settings
from qa.shards import Fanout, RayShards
from tests.conftest import QUESTIONS, FakeEncoder


def listing(fanout: Fanout) -> tuple[list, list]:
    ranked = fanout.ranked(QUESTIONS, 10)
    return ([[(s.hit.article_id, s.hit.start, s.hit.end) for s in r] for r in ranked],
            sorted({i for r in ranked for i in r.missing}))


def main(index: Path, out: Path) -> dict:
    encoder = FakeEncoder()
    group = RayShards(None, shard_dirs(index), encoder.fingerprint, Settings(), timeout=1.0)
    fanout = Fanout(group, encoder.encode_queries)
    try:
        # Warm-up: on a loaded machine (CI beside other work) the actors' first calls, which pay
        # one-off costs, outlasted the 1 s timeout and made the comparison below partial.
        listing(fanout)
        before, missing_before = listing(fanout)
        pids = [status[1] for status in fanout.status()]
        os.kill(pids[0], signal.SIGKILL)
        outage, errors, started = [], [], time.monotonic()
        while time.monotonic() - started < 60:
            try:
                _, missing = listing(fanout)
            except Exception as exc:  # a failed request: what must not happen
                errors.append(f"{type(exc).__name__}: {exc}")
                missing = None
            outage.append(missing)
            if missing == [] and len(outage) > 1:
                break
            time.sleep(0.1)
        after, missing_after = listing(fanout)
        status = fanout.status()
        return {"before": before, "missing_before": missing_before, "pids": pids,
                "outage": outage, "errors": errors, "after": after,
                "missing_after": missing_after, "pids_after": [s[1] for s in status],
                "seconds": round(time.monotonic() - started, 2)}
    finally:
        group.close()


if __name__ == "__main__":
    index, out = Path(sys.argv[1]), Path(sys.argv[2])
    results = main(index, out)
    (out / "results.json").write_text(json.dumps(results, ensure_ascii=False), "utf-8")
