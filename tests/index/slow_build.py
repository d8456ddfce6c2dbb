"""Run a build or a merge slowly, for tests that SIGKILL a real build process.

Usage: python -m tests.index.slow_build CORPUS INDEX_DIR       (a build, slow embedding)
       python -m tests.index.slow_build --merge INDEX_DIR       (merge all, slow file writes)

Prints "ready" once imported, so a test can time its kill from the start of the work.
"""

from __future__ import annotations

import sys
import time

from index import build, checksums
from tests.conftest import FakeEncoder


class SlowEncoder(FakeEncoder):
    def encode_passages(self, texts, *, show_progress=False):
        time.sleep(0.02)
        return super().encode_passages(texts)


def slow_fsync(path, real=checksums.fsync_file) -> None:
    time.sleep(0.02)  # every file of a segment or a generation: a merge takes ~1 s
    real(path)


if __name__ == "__main__":
    build.CHECKPOINT_EVERY = 8
    print("ready", flush=True)
    if sys.argv[1] == "--merge":
        checksums.fsync_file = slow_fsync
        report = build.build_index([], sys.argv[2], merge_all=True)
    else:
        corpus, index_dir = sys.argv[1:3]
        report = build.build_index([corpus], index_dir, encoder=SlowEncoder())
    print(f"built {report.generation} embedded={report.embedded}", flush=True)
