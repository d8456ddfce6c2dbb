"""The assistant: one object with ``search``, ``search_batch`` and ``ask`` over an index.

It follows its index directory: when a rebuild or an update switches the directory to a new
generation, a background thread loads it (reading only the segments it does not hold yet)
while requests keep using the old one, then swaps the reference in one assignment. No request
waits for, or fails during, a reload.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index import store
from index.corpus import Article
from index.encoder import Encoder
from qa.answer import (
    Policy,
    check_question,
    compose,
    normalize_question,
    previous_turn,
    retrieval_query,
)
from qa.filters import Day, Facets, Filter
from qa.reader import Reader
from qa.records import Answer, Hit
from qa.rerank import DEPTH, Candidate, judge
from qa.retrieve import Retriever, Settings

logger = logging.getLogger(__name__)

MAX_K = 100


class Assistant:
    """Question answering over one index directory.

    ``reader`` judges the retrieved candidates (order, confidence, answer phrase);
    ``Assistant.load`` loads the committed one. With ``reader=None`` the assistant answers from
    retrieval alone (the baseline the reader is measured against).
    """

    def __init__(
        self,
        index_dir: str | Path,
        encoder: Encoder,
        *,
        settings: Settings | None = None,
        policy: Policy | None = None,
        reader: Reader | None = None,
        watch: bool = True,
        check_every: float = 1.0,
    ) -> None:
        self.index_dir = Path(index_dir)
        self.encoder = encoder
        self.settings = settings or Settings()
        self.policy = policy or Policy.for_reader(reader)
        self.reader = reader
        self.watch = watch
        self.check_every = check_every
        self._retriever = self._load()
        self._last_check = time.monotonic()
        self._reloading = threading.Lock()

    @classmethod
    def load(
        cls, index_dir: str | Path, *, model: str | Path | None = None,
        reader: Reader | bool = True, **kwargs: Any
    ) -> Assistant:
        """Open an index; ``model`` defaults to the one recorded in its manifest. The committed
        reader is loaded too (or pass one; ``reader=False`` for retrieval alone); a missing or
        damaged reader raises :class:`qa.reader.ReaderError`, never falls back silently."""
        encoder = (Encoder(model) if model is not None
                   else Encoder.from_manifest(store.read_model(Path(index_dir))))
        if reader is True:
            reader = Reader.load(encoder)
        return cls(index_dir, encoder, reader=reader or None, **kwargs)

    @property
    def data(self) -> store.IndexData:
        return self._retriever.data

    def article(self, article_id: str) -> Article | None:
        """The indexed article with this id (from the index served now), or None."""
        data = self.data
        row = data.article_rows.get(article_id)
        return None if row is None else data.articles[row]

    # -- the API -------------------------------------------------------------------------
    def search(self, question: str, k: int = 5, *, sources: Sequence[str] | None = None,
               since: Day = None, until: Day = None) -> list[Hit]:
        """The ``k`` sentences most likely to answer ``question``, best first; only from the
        outlets in ``sources`` and dated ``since``..``until`` (inclusive) when given."""
        return self.search_batch([question], k, sources=sources, since=since, until=until)[0]

    def search_batch(self, questions: Sequence[str], k: int = 5, *,
                     sources: Sequence[str] | None = None, since: Day = None,
                     until: Day = None) -> list[list[Hit]]:
        k = _check_k(k)
        flt = Filter.make(sources, since, until)
        queries = [normalize_question(check_question(q)) for q in questions]
        retriever = self._current()
        allowed = retriever.allowed_rows(flt)
        return [[c.hit for c in cands[:k]]
                for cands in self._candidates(queries, k, retriever, allowed=allowed)]

    def ask(self, question: str, history: Sequence[Any] | None = None, *,
            sources: Sequence[str] | None = None, since: Day = None,
            until: Day = None) -> Answer:
        """Answer by quoting the sentence(s) that hold the answer, or decline.

        ``history`` is the conversation so far (earlier Answers, (question, answer) pairs or
        chat messages); a short follow-up question is retrieved together with the last one.
        When declining, ``Answer.related`` lists the closest sentences, unverified.
        ``sources``/``since``/``until`` limit the answer to those outlets and that period.
        """
        question = check_question(question)
        flt = Filter.make(sources, since, until)
        plain = normalize_question(question)
        query = normalize_question(retrieval_query(question, history))
        retriever = self._current()
        context, read_as = None, query
        if query != plain:
            # A follow-up: the article the previous answer quoted comes first, and the reader
            # reads it both as asked ("ولماذا عاد بعضها؟") and joined to the question before;
            # their mean verdict ranks and quotes best (bench/followups.py).
            context = retriever.article_rows(previous_turn(history)[1])
            read_as = (query, plain)
        candidates = self._candidates([query], 5, retriever, [context], [read_as],
                                      retriever.allowed_rows(flt))[0]
        return compose(question, query, candidates, self.policy)

    def facets(self) -> Facets:
        """What the index can be filtered by: its outlets (with article counts) and dates."""
        retriever = self._current()
        return Facets.of(retriever.sources, retriever.days, len(retriever.data.sentences))

    def _candidates(self, queries: list[str], k: int, retriever: Retriever | None = None,
                    context: Sequence[np.ndarray | None] | None = None,
                    read_as: Sequence[str | tuple[str, ...]] | None = None,
                    allowed: np.ndarray | None = None) -> list[list[Candidate]]:
        """Judged candidates per query; ``context`` rows are favoured (follow-ups), the reader
        reads ``read_as`` (default: the queries), and only ``allowed`` rows compete."""
        retriever = retriever or self._current()
        depth = max(k, DEPTH) if self.reader is not None else k
        ranked = retriever.score_batch(queries, depth, context, allowed)
        return [judge(q, r, retriever.to_hit, self.reader)
                for q, r in zip(read_as or queries, ranked, strict=True)]

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
        # Segments never change: those the served generation already loaded are reused, so
        # a reload after an update reads only its new segment.
        previous = getattr(self, "_retriever", None)
        data = store.load(self.index_dir, fingerprint=self.encoder.fingerprint,
                          reuse=previous.data if previous is not None else None)
        return Retriever(data, self.encoder, self.settings)


def _check_k(k: int) -> int:
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
        raise ValueError(f"k must be an integer from 1 to {MAX_K}, got {k!r}")
    return k
