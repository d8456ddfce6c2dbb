"""Keep an index up to date with folders as articles arrive (``daleel watch``).

The watcher keeps the embedding model loaded and polls the folders: the size and modification
time of every supported file (no file-system notification API, so it also works on network
folders and in containers). When something was added, changed or deleted, and no changed file
was modified in the last ``quiet`` seconds (a file still being written is not read half-way),
it runs the incremental build (index.build) with the loaded model: the new articles become a
segment, deleted files' articles are tombstoned, and a running chat sees the new generation by
hot reload. The signature is taken before each build, so a file changed during a build is
picked up by the next poll.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from index import store
from index.build import BuildReport, build_index
from index.chunk import DEFAULT_CONTEXT
from index.corpus import SUPPORTED_SUFFIXES
from index.encoder import Encoder

logger = logging.getLogger(__name__)

#: ``{file: (mtime_ns, size)}`` of every supported file under the watched paths.
Signature = dict[str, tuple[int, int]]


@dataclass
class Watcher:
    paths: Sequence[Path]
    index_dir: Path
    encoder: Encoder
    context: str = DEFAULT_CONTEXT
    interval: float = 2.0
    #: Seconds a changed file must go unmodified before it is read.
    quiet: float = 1.0
    on_report: Callable[[BuildReport], None] | None = None
    _built: Signature | None = field(default=None, repr=False)
    _recheck: float = field(default=0.0, repr=False)

    def scan(self) -> Signature:
        """The signature of every supported, non-hidden file under the watched paths."""
        out: Signature = {}
        for root in self.paths:
            files = [root] if root.is_file() else [
                Path(d, f) for d, dirs, names in os.walk(root)
                for f in names if not f.startswith(".")
                if not any(part.startswith(".") for part in Path(d).relative_to(root).parts)]
            for path in files:
                if not path.name.lower().endswith(SUPPORTED_SUFFIXES):
                    continue
                try:
                    st = path.stat()
                except OSError:  # removed between the listing and now
                    continue
                out[str(path)] = (st.st_mtime_ns, st.st_size)
        return out

    def poll(self) -> BuildReport | None:
        """Build once if the folders changed and have been quiet; the report, or None."""
        seen = self.scan()
        if seen == self._built:
            return None
        before = self._built or {}
        changed = [sig[0] for path, sig in seen.items() if before.get(path) != sig]
        fresh = (time.time_ns() - max(changed)) / 1e9 if changed else self.quiet
        if fresh < self.quiet:
            self._recheck = self.quiet - fresh  # still being written: look again once quiet
            return None
        report = build_index(self.paths, self.index_dir, encoder=self.encoder,
                             context=self.context, wait=True)
        self._built = seen
        if self.on_report is not None:
            self.on_report(report)
        return report

    def run(self, stop: threading.Event | None = None) -> None:
        """Poll every ``interval`` seconds until ``stop`` is set (or Ctrl-C). A failed build
        (a damaged file, a full disk) is logged and tried again at the next change."""
        stop = stop or threading.Event()
        while not stop.is_set():
            self._recheck = self.interval
            try:
                self.poll()
            except (store.StoreError, OSError, ValueError) as exc:
                logger.error("Update of %s failed: %s", self.index_dir, exc)
                self._built = self.scan()  # retried when something changes again
            stop.wait(min(self.interval, max(self._recheck, 0.05)))
