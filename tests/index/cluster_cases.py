"""Builds on a local Ray cluster, for tests/index/test_cluster.py (which checks what they wrote).

Run inside a loopback-only network namespace (scripts/loopback_only.py), so that the cluster
this starts is reachable from 127.0.0.1 only:

    python scripts/loopback_only.py python -m tests.index.cluster_cases CORPUS EXTRA OUT

Starts ``ray.init(num_cpus=2)``, builds CORPUS (a folder of .txt articles; the last case edits
one) and EXTRA (more articles) into OUT/<case> for each case below, stops the cluster, and
writes OUT/results.json: each case's build report (and what it saw) by name. (A file, not
stdout: Ray's raylet prints its own notices, a killed worker for one, to this process's stdout.)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from pathlib import Path

import ray

from index import build, store
from index.cluster import ClusterError, RayCluster
from tests.conftest import FakeEncoder

REPO = Path(__file__).resolve().parents[2]
#: Small chunks, so that a few short articles make many chunks and two workers share them.
CHUNK = 4


class KillsItsWorker(FakeEncoder):
    """kill -9 of the worker process running it, at its first chunk of the build (once)."""

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.marker = Path(marker)

    def encode_passages(self, texts):
        if not self.marker.exists():
            self.marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return super().encode_passages(texts)


class FailsAfter(FakeEncoder):
    """Embeds ``n`` chunks in all (counted across workers in a file), then raises."""

    def __init__(self, counter: str, n: int) -> None:
        super().__init__()
        self.counter, self.n = Path(counter), n

    def encode_passages(self, texts):
        with open(self.counter, "a") as fh:
            fh.write("x")
        if self.counter.stat().st_size > self.n:
            raise RuntimeError("encoder broke (test)")
        return super().encode_passages(texts)


def report(r: build.BuildReport, **extra) -> dict:
    return {"articles": r.articles, "sentences": r.sentences, "embedded": r.embedded,
            "reused": r.reused, "added": r.added, "changed": r.changed, "skipped":
            [s.path for s in r.skipped], "warnings": r.warnings, **extra}


def main(corpus: Path, extra: Path, out: Path) -> dict:
    results: dict = {}
    with RayCluster(None, encoder=FakeEncoder, workers=2) as cluster:
        results["plain"] = report(build.build_index([corpus], out / "plain", cluster=cluster),
                                  workers=cluster.workers, lost=cluster.faults.lost)

        killer = RayCluster(None, encoder=lambda: KillsItsWorker(str(out / "killed.marker")),
                            workers=2)
        r = build.build_index([corpus], out / "killed", cluster=killer)
        results["killed"] = report(r, lost=killer.faults.lost, resent=killer.faults.resent)

        # The workers fail part way: the build stops, the previous generation stays live, and
        # the rerun embeds only what the finished chunks' checkpoints do not hold.
        breaking = RayCluster(None, encoder=lambda: FailsAfter(str(out / "count"), 3),
                              workers=2)
        shutil.copytree(out / "plain", out / "resumed")
        before = store.read_live(out / "resumed").generation.name
        try:
            build.build_index([corpus, extra], out / "resumed",
                              cluster=breaking)
            results["failed"] = {"error": None}
        except ClusterError as exc:
            results["failed"] = {
                "error": str(exc), "live": store.read_live(out / "resumed").generation.name,
                "before": before,
                "checkpoints": len(list((out / "resumed" / build.CHECKPOINT_DIR).rglob("*.npz")))}
        results["resumed"] = report(build.build_index([corpus, extra],
                                                      out / "resumed", cluster=cluster))
        # An update after an edit: only the edited article's new sentences are embedded.
        first = sorted(corpus.glob("*.txt"))[0]
        first.write_text(first.read_text("utf-8") + "\nجملة جديدة أضيفت إلى الخبر بعد نشره.\n",
                         "utf-8")
        shutil.copytree(out / "plain", out / "updated")
        results["updated"] = report(build.build_index([corpus], out / "updated",
                                                      cluster=cluster))
    return results


if __name__ == "__main__":
    build.CHECKPOINT_EVERY = CHUNK
    corpus, extra, out = (Path(a) for a in sys.argv[1:4])
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}})
    try:
        results = main(corpus, extra, out)
        (out / "results.json").write_text(json.dumps(results, ensure_ascii=False),
                                          encoding="utf-8")
    finally:
        ray.shutdown()
