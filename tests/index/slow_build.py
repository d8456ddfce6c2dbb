"""Run a build with a slow fake encoder, for tests that SIGKILL a real build process.

Usage: python -m tests.index.slow_build CORPUS INDEX_DIR
"""

from __future__ import annotations

import sys
import time

from index import build
from tests.conftest import FakeEncoder


class SlowEncoder(FakeEncoder):
    def encode_passages(self, texts, *, show_progress=False):
        time.sleep(0.02)
        return super().encode_passages(texts)


if __name__ == "__main__":
    build.CHECKPOINT_EVERY = 8
    corpus, index_dir = sys.argv[1:3]
    report = build.build_index([corpus], index_dir, encoder=SlowEncoder())
    print(f"built {report.generation} embedded={report.embedded}", flush=True)
