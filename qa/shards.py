"""Searching a sharded index (index.shards): every shard searches, one ranking of the merge.

Per batch of questions:

1. the questions are embedded once, by the caller's encoder;
2. every shard reports its BM25 statistics for the questions' terms (rows, summed length,
   document frequencies); summed, they are the whole collection's (the "DFS" round
   Elasticsearch's dfs_query_then_fetch makes), so every shard scores BM25 as one index would;
3. every shard returns, per question, its dense top-D, its BM25 top-100 scored with those
   statistics and a follow-up's context rows, each with its ranking evidence
   (qa.rank.Evidence) and its Hit;
4. the collection's dense top-D and BM25 top-100 are picked from what came back: each global
   top lies within the union of the shards' tops, so the candidate set is the unsharded
   index's; they are ranked once (qa.rank) and the reader judges them once (qa.rerank).

Shards are searched in-process (:class:`LocalShards`, a thread per shard) or in Ray actors
(:class:`RayShards`, one per shard, restarted by Ray when they die). A shard that does not
answer (dead, restarting, or slower than the timeout) is left out of that request, and its
result says which shards are missing: the assistant's Answer says it is partial.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index.bm25 import Corpus
from index.corpus import Article
from index.lexical import analyze
from index.shards import shard_of
from qa import rank
from qa.filters import Facets, Filter
from qa.follow import Follower
from qa.records import Hit
from qa.retrieve import Ranked, Scored, Settings

logger = logging.getLogger(__name__)

#: Shard keys: shard number times this plus the shard's row (rows and article rows of one
#: shard stay below it), so that rows of different shards never collide after the merge.
SHARD_STRIDE = 1 << 40
#: Seconds a request waits for a Ray shard before answering without it.
RAY_TIMEOUT = 1.0


@dataclass(frozen=True, slots=True)
class Block:
    """One shard's candidates for one question: local rows, why each is one
    (rank.DENSE_TOP / LEXICAL_TOP / CONTEXT bits), their evidence and hits."""

    rows: np.ndarray
    kind: np.ndarray
    evidence: rank.Evidence
    hits: list[Hit]


class _Fingerprint:
    """Stands in for the encoder where a shard never embeds (the caller sends vectors): it
    carries the model fingerprint every loaded generation is checked against."""

    def __init__(self, fingerprint: str) -> None:
        self.fingerprint = fingerprint

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        raise RuntimeError("a shard searcher is sent embedded questions; it embeds nothing")


class ShardSearcher:
    """One shard: its index followed (hot reloaded) on its own, searched for candidates."""

    def __init__(self, index_dir: str | Path, fingerprint: str,
                 settings: Settings | None = None, *, watch: bool = True,
                 check_every: float = 1.0) -> None:
        self.follower = Follower(index_dir, _Fingerprint(fingerprint), settings,  # type: ignore[arg-type]
                                 watch=watch, check_every=check_every)

    def ping(self) -> tuple[str, int]:
        """The generation served and this process's id (which process a Ray actor is)."""
        return self.follower.generation, os.getpid()

    def reload(self) -> bool:
        return self.follower.reload()

    def term_stats(self, terms: Sequence[str]) -> Corpus:
        return self.follower.current().data.lexical.term_stats(terms)

    def blocks(self, queries: Sequence[str], qvecs: np.ndarray, k: int, corpus: Corpus,
               contexts: Sequence[Sequence[str] | None] | None, flt: Filter | None
               ) -> list[Block]:
        retriever = self.follower.current()
        allowed = retriever.allowed_rows(flt)
        rows = [None if ids is None else retriever.article_rows(ids)
                for ids in (contexts or [None] * len(queries))]
        if allowed is not None:
            rows = [r if r is None else r[allowed[r]] for r in rows]
        out = []
        for q, cands in zip(queries, retriever.candidates_batch(
                queries, k, rows, allowed, qvecs=qvecs, corpus=corpus), strict=True):
            ev = rank.evidence(q, cands, retriever.data, corpus)
            kind = cands.kind if cands.kind is not None else np.zeros(len(cands.rows), np.uint8)
            hits = [retriever.to_hit(Scored(int(r), 0.0, 0.0, 0.0)) for r in cands.rows]
            out.append(Block(cands.rows, kind, ev, hits))
        return out

    def article(self, article_id: str) -> Article | None:
        data = self.follower.current().data
        row = data.article_rows.get(article_id)
        return None if row is None else data.articles[row]

    def facets(self) -> Facets:
        return self.follower.current().facets()


class LocalShards:
    """Shard searchers in this process, called on a thread each."""

    def __init__(self, searchers: Sequence[ShardSearcher]) -> None:
        self.searchers = list(searchers)
        self._pool = ThreadPoolExecutor(max_workers=len(self.searchers),
                                        thread_name_prefix="shard")

    def __len__(self) -> int:
        return len(self.searchers)

    def call(self, method: str, *args: Any) -> list[Any]:
        """Each shard's result (all answer: a local shard's error is the request's error)."""
        if len(self.searchers) == 1:
            return [getattr(self.searchers[0], method)(*args)]
        futures = [self._pool.submit(getattr(s, method), *args) for s in self.searchers]
        return [f.result() for f in futures]

    def call_one(self, shard: int, method: str, *args: Any) -> Any:
        return getattr(self.searchers[shard], method)(*args)

    def close(self) -> None:
        self._pool.shutdown(wait=False)


class RayShards:
    """One Ray actor per shard (restarted by Ray when it dies: ``max_restarts=-1``). A call
    waits up to ``timeout`` seconds; a shard that fails or is late gives None."""

    def __init__(self, address: str | None, shard_dirs: Sequence[Path], fingerprint: str,
                 settings: Settings, *, timeout: float = RAY_TIMEOUT,
                 num_cpus: float = 0.5) -> None:
        from index.cluster import connect

        ray, self._owns_connection = connect(address)
        self._ray, self.timeout = ray, timeout
        actor = ray.remote(ShardSearcher).options(max_restarts=-1, max_task_retries=0,
                                                  num_cpus=num_cpus)
        self.actors = [actor.remote(str(d), fingerprint, settings) for d in shard_dirs]
        # Wait for every shard to load before serving: a start-up failure is an error.
        ray.get([a.ping.remote() for a in self.actors])

    def __len__(self) -> int:
        return len(self.actors)

    def call(self, method: str, *args: Any) -> list[Any]:
        # Large arguments are put once, not once per actor.
        args = tuple(self._ray.put(a) if isinstance(a, np.ndarray) else a for a in args)
        return self._results([getattr(a, method).remote(*args) for a in self.actors])

    def call_one(self, shard: int, method: str, *args: Any) -> Any:
        return self._results([getattr(self.actors[shard], method).remote(*args)], shard)[0]

    def _results(self, refs: list[Any], first: int = 0) -> list[Any]:
        ray = self._ray
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=self.timeout)
        done = set(ready)
        out: list[Any] = []
        for i, ref in enumerate(refs, start=first):
            if ref not in done:
                logger.warning("shard %d did not answer within %.1f s", i, self.timeout)
                with contextlib.suppress(Exception):  # best effort: the shard may be gone
                    ray.cancel(ref)
                out.append(None)
                continue
            try:
                out.append(ray.get(ref))
            except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError) as exc:
                logger.warning("shard %d is down (%s)", i, type(exc).__name__)
                out.append(None)
        return out

    def close(self) -> None:
        for a in self.actors:
            self._ray.kill(a, no_restart=True)
        if self._owns_connection:
            self._ray.shutdown()


class Fanout:
    """The sharded counterpart of :class:`qa.retrieve.Retriever`'s ``ranked``: the same
    candidates, ranked the same way, gathered from every shard."""

    def __init__(self, shards: LocalShards | RayShards, encode: Callable[[list[str]], np.ndarray],
                 settings: Settings | None = None) -> None:
        self.shards, self.encode = shards, encode
        self.settings = settings or Settings()

    def ranked(self, queries: Sequence[str], k: int,
               contexts: Sequence[Sequence[str] | None] | None = None,
               flt: Filter | None = None) -> list[Ranked]:
        """Top ``k`` per query, best first; each list's ``missing`` names shards left out."""
        queries = list(queries)
        qvecs = self.encode(queries)
        terms = sorted({t for q in queries for t in analyze(q)})
        stats = self.shards.call("term_stats", terms)
        corpus = Corpus.total([s for s in stats if s is not None])
        blocks = self.shards.call("blocks", queries, qvecs, k, corpus,
                                  None if contexts is None else list(contexts), flt)
        missing = tuple(i for i, (s, b) in enumerate(zip(stats, blocks, strict=True))
                        if s is None or b is None)
        answered = [(i, b) for i, b in enumerate(blocks) if i not in missing]
        return [self._merge(q, [(i, b[qi]) for i, b in answered], k, corpus.n, missing)
                for qi, q in enumerate(queries)]

    def _merge(self, query: str, parts: list[tuple[int, Block]], k: int, n: int,
               missing: tuple[int, ...]) -> Ranked:
        if not parts or not any(len(b.rows) for _, b in parts):
            return Ranked([], missing)
        keys = np.concatenate([b.rows + i * SHARD_STRIDE for i, b in parts])
        kind = np.concatenate([b.kind for _, b in parts])
        ev = dataclasses.replace(
            rank.Evidence.concat([b.evidence for _, b in parts]),
            article=np.concatenate([b.evidence.article + i * SHARD_STRIDE for i, b in parts]))
        hits = [h for _, b in parts for h in b.hits]
        depth = min(n, max(self.settings.candidates, k))
        keep = (_top(ev.dense, kind & rank.DENSE_TOP > 0, depth)
                | _top(ev.lexical, (kind & rank.LEXICAL_TOP > 0) & (ev.lexical > 0),
                       self.settings.candidates)
                | (kind & rank.CONTEXT > 0))
        # In the unsharded index's candidate order (the dense top by score, then the others by
        # row), which decides between exactly equal ranking scores (duplicated sentences).
        top = keep & (kind & rank.DENSE_TOP > 0)
        first = np.flatnonzero(top)[np.lexsort((keys[top], -ev.dense[top]))]
        rest = np.flatnonzero(keep & ~top)
        picks = np.concatenate([first, rest[np.argsort(keys[rest], kind="stable")]])
        ev = ev.take(picks)
        weights = np.asarray(self.settings.weights, dtype=np.float32)
        scores = rank.score(rank.features(query, ev), weights)
        scores = scores + self.settings.context_bonus * (kind[picks] & rank.CONTEXT > 0)
        order = np.argsort(-scores, kind="stable")[:k]
        return Ranked([Scored(int(keys[picks[j]]), float(scores[j]), float(ev.dense[j]),
                              float(ev.lexical[j]), hits[picks[j]]) for j in order.tolist()],
                      missing)

    @staticmethod
    def to_hit(scored: Scored) -> Hit:
        assert scored.hit is not None
        return dataclasses.replace(scored.hit, score=round(scored.score, 6))

    def facets(self) -> tuple[Facets, tuple[int, ...]]:
        parts = self.shards.call("facets")
        return (Facets.merge([p for p in parts if p is not None]),
                tuple(i for i, p in enumerate(parts) if p is None))

    def article(self, article_id: str) -> Article | None:
        """The article from the one shard that can hold it (None also while that one is down)."""
        return self.shards.call_one(shard_of(article_id, len(self.shards)), "article",
                                    article_id)

    def reload(self) -> bool:
        return any(r for r in self.shards.call("reload") if r)

    def status(self) -> list[tuple[str, int] | None]:
        """Per shard: (generation served, process id), or None while it does not answer."""
        return self.shards.call("ping")


def _top(values: np.ndarray, eligible: np.ndarray, n: int) -> np.ndarray:
    """Mask of the ``n`` highest ``values`` among the ``eligible`` ones."""
    out = np.zeros(len(values), bool)
    idx = np.flatnonzero(eligible)
    if len(idx) > n:
        idx = idx[np.argsort(-values[idx], kind="stable")[:n]]
    out[idx] = True
    return out

