"""Following one index directory: the loaded index, hot reloaded when a new generation lands.

When a rebuild or an update switches the directory to a new generation, a background thread
loads it (reading only the segments it does not hold yet) while requests keep using the old
one, then swaps the reference in one assignment. No request waits for, or fails during, a
reload. The assistant follows its index this way; each shard of a sharded index is followed
the same way, on its own (qa.shards).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from index import store
from index.encoder import Encoder
from qa.retrieve import Retriever, Settings

logger = logging.getLogger(__name__)


class Follower:
    """The :class:`Retriever` of ``index_dir``'s live generation, checked for a newer one at
    most every ``check_every`` seconds when ``watch`` is on. Every generation loaded must
    have been built by ``encoder``'s model (store.IndexModelMismatchError otherwise)."""

    def __init__(self, index_dir: str | Path, encoder: Encoder, settings: Settings | None = None,
                 *, watch: bool = True, check_every: float = 1.0) -> None:
        self.index_dir, self.encoder = Path(index_dir), encoder
        self.settings = settings or Settings()
        self.watch, self.check_every = watch, check_every
        self._retriever: Retriever | None = None
        self._retriever = self._load()
        self._last_check = time.monotonic()
        self._reloading = threading.Lock()

    @property
    def generation(self) -> str:
        return self.current(check=False).data.generation

    def current(self, *, check: bool = True) -> Retriever:
        """The retriever to serve this request with (starting a background reload if due)."""
        retriever = self._retriever
        assert retriever is not None
        now = time.monotonic()
        if check and self.watch and now - self._last_check >= self.check_every:
            self._last_check = now
            gen = store.current_generation(self.index_dir)
            if gen is not None and gen.name != retriever.data.generation and (
                    self._reloading.acquire(blocking=False)):
                threading.Thread(target=self._background_reload, daemon=True).start()
        return retriever

    def reload(self) -> bool:
        """Load the live generation now if it changed; True when it did."""
        gen = store.current_generation(self.index_dir)
        if gen is None or gen.name == self.current(check=False).data.generation:
            return False
        self._retriever = self._load()
        logger.info("Reloaded index %s (%s)", self.index_dir, self.generation)
        return True

    def _background_reload(self) -> None:
        try:
            self.reload()
        except store.StoreError as exc:  # keep serving the old index
            logger.error("Not reloading %s: %s", self.index_dir, exc)
        finally:
            self._reloading.release()

    def _load(self) -> Retriever:
        # Segments never change: those the served generation already loaded are reused, so a
        # reload after an update reads only its new segment.
        previous = self._retriever
        data = store.load(self.index_dir, fingerprint=self.encoder.fingerprint,
                          reuse=previous.data if previous is not None else None)
        return Retriever(data, self.encoder, self.settings)
