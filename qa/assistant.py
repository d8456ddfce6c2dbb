"""The assistant: one object with ``search``, ``search_batch`` and ``ask`` over an index.

It follows its index directory (qa.follow): when a rebuild or an update switches it to a new
generation, the new one is loaded in the background and swapped in; no request waits for, or
fails during, a reload. Over a sharded index (index.shards) every shard is followed on its own
and searched by fan-out (qa.shards): in this process, or in Ray actors with ``ray=ADDRESS``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from index import shards, store
from index.corpus import Article
from index.encoder import Encoder
from qa.answer import (
    Policy,
    check_question,
    compose,
    followed_topic,
    normalize_question,
    topic_after,
)
from qa.filters import Day, Facets, Filter
from qa.follow import Follower
from qa.reader import Reader
from qa.records import Answer, Hit
from qa.rerank import FIRST_QUESTION, Candidate, Judging, judge, judging
from qa.retrieve import Retriever, Settings
from qa.shards import Fanout, LocalShards, RayShards, ShardSearcher

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
        ray: str | None = None,
    ) -> None:
        self.index_dir = Path(index_dir)
        self.encoder = encoder
        self.settings = settings or Settings()
        self.policy = policy or Policy.for_reader(reader)
        self.reader = reader
        self._follower: Follower | None = None
        self._fanout: Fanout | None = None
        if shards.is_sharded(self.index_dir):
            dirs = shards.shard_dirs(self.index_dir)
            if ray is not None:
                group: LocalShards | RayShards = RayShards(
                    None if ray == "local" else ray, dirs, encoder.fingerprint, self.settings)
            else:
                group = LocalShards([ShardSearcher(d, encoder.fingerprint, self.settings,
                                                   watch=watch, check_every=check_every)
                                     for d in dirs])
            self._fanout = Fanout(group, encoder.encode_queries, self.settings)
        elif ray is not None:
            raise ValueError(f"{self.index_dir} is not a sharded index: Ray serves the shards "
                             "of one (daleel shard INDEX --shards N --out DIR)")
        else:
            self._follower = Follower(self.index_dir, encoder, self.settings, watch=watch,
                                      check_every=check_every)

    @classmethod
    def load(
        cls, index_dir: str | Path, *, model: str | Path | None = None,
        reader: Reader | bool = True, **kwargs: Any
    ) -> Assistant:
        """Open an index; ``model`` defaults to the one recorded in its manifest. The committed
        reader is loaded too (or pass one; ``reader=False`` for retrieval alone); a missing or
        damaged reader raises :class:`qa.reader.ReaderError`, never falls back silently.
        A sharded index's shards are searched in this process, or with ``ray="auto"`` (or a
        cluster address; "local" starts a one-machine cluster) in one Ray actor each."""
        first = (shards.shard_dirs(index_dir)[0] if shards.is_sharded(index_dir)
                 else Path(index_dir))
        encoder = (Encoder(model) if model is not None
                   else Encoder.from_manifest(store.read_model(first))).for_questions()
        if reader is True:
            reader = Reader.load(encoder)
        return cls(index_dir, encoder, reader=reader or None, **kwargs)

    @property
    def sharded(self) -> bool:
        return self._fanout is not None

    @property
    def data(self) -> store.IndexData:
        """The loaded index (one index; a sharded one has no single view)."""
        return self._current().data

    def article(self, article_id: str) -> Article | None:
        """The indexed article with this id (from the index served now), or None."""
        if self._fanout is not None:
            return self._fanout.article(article_id)
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
        found, missing = self._candidates(queries, k, flt=flt)
        if missing:
            logger.warning("search over a partial index: shards %s did not answer", missing)
        return [[c.hit for c in cands[:k]] for cands in found]

    def ask(self, question: str, history: Sequence[Any] | None = None, *,
            sources: Sequence[str] | None = None, since: Day = None,
            until: Day = None) -> Answer:
        """Answer by quoting the sentence(s) that hold the answer, or decline.

        ``history`` is the conversation so far (earlier Answers, (question, answer) pairs,
        chat messages, or the last ``Answer.topic`` alone); a follow-up question ("ومتى حدث
        ذلك؟") is retrieved together with the last one and judged against what the
        conversation is about (``Answer.topic``): that article first, the sentence last
        quoted and its neighbours favoured.
        When declining, ``Answer.related`` lists the closest sentences, unverified.
        ``sources``/``since``/``until`` limit the answer to those outlets and that period.
        """
        question = check_question(question)
        flt = Filter.make(sources, since, until)
        plain = normalize_question(question)
        follows = followed_topic(question, history)
        query, context, read_as = plain, None, plain
        if follows is not None:
            # The article of the conversation's last quote comes first, and the reader reads
            # the follow-up both as asked ("ولماذا عاد بعضها؟") and joined to the question
            # before; their mean verdict ranks and quotes best (bench/followups.py).
            query = normalize_question(f"{follows.question} {question}")
            context = [follows.article_id] if follows.article_id else []
            read_as = (query, plain)
        found, missing = self._candidates([query], 5, [context], [read_as], flt,
                                          judging(follows))
        answer = compose(question, query, found[0], self.policy)
        return dataclasses.replace(answer, partial=bool(missing),
                                   topic=topic_after(answer, follows))

    def facets(self) -> Facets:
        """What the index can be filtered by: its outlets (with article counts) and dates
        (over a sharded index, of the shards answering now)."""
        if self._fanout is not None:
            return self._fanout.facets()[0]
        return self._current().facets()

    def _candidates(self, queries: list[str], k: int,
                    contexts: Sequence[Sequence[str] | None] | None = None,
                    read_as: Sequence[str | tuple[str, ...]] | None = None,
                    flt: Filter | None = None, how: Judging = FIRST_QUESTION,
                    ) -> tuple[list[list[Candidate]], tuple[int, ...]]:
        """Judged candidates per query (as ``how`` says), and the shards that did not answer;
        ``contexts``: the articles a follow-up is about (favoured), the reader reads
        ``read_as`` (default: the queries), and only what ``flt`` lets through competes."""
        backend: Retriever | Fanout = self._fanout or self._current()
        depth = max(k, how.depth) if self.reader is not None else k
        ranked = backend.ranked(queries, depth, contexts, flt)
        missing = tuple(sorted({i for r in ranked for i in r.missing}))
        return [judge(q, r, backend.to_hit, self.reader, how)
                for q, r in zip(read_as or queries, ranked, strict=True)], missing

    # -- hot reload ----------------------------------------------------------------------
    def reload(self) -> bool:
        """Load the live generation (of every shard) now if it changed; True when one did."""
        if self._fanout is not None:
            return self._fanout.reload()
        assert self._follower is not None
        return self._follower.reload()

    def _current(self) -> Retriever:
        if self._follower is None:
            raise ValueError(f"{self.index_dir} is sharded: it has no single loaded view; "
                             "search it with search()/ask(), or load one shard's directory")
        return self._follower.current()

    def close(self) -> None:
        """Stop the shard threads or actors (nothing to do for one index)."""
        if self._fanout is not None:
            self._fanout.shards.close()


def _check_k(k: int) -> int:
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
        raise ValueError(f"k must be an integer from 1 to {MAX_K}, got {k!r}")
    return k
