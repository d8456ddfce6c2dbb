"""Building on a Ray cluster (``daleel build PATH... --ray ADDRESS``): :class:`RayCluster`.

The driver (the process running the build) keeps everything that decides what the index is:
which files there are, unique article ids, what changed against the live generation, which
texts still need embedding (by hash, before any work is sent), the checkpoints, the segment
files and the atomic switch to the new generation (index.build). The cluster does the work
that grows with the corpus:

* reading and sentence splitting: one task per group of files, returning each article with
  its sentence offsets. Every node must see the corpus at the same path (a shared filesystem,
  or the same copy on each node);
* embedding: one actor per worker (one CPU each by default), each loading the int8 encoder
  once and reusing it for every chunk it is sent. Chunks are those of the single-machine
  build (index.embed_cache: 512 texts, sorted by length), batched by tokens inside the
  encoder, so both builds run the same batches and give the same vectors.

Faults: a chunk whose actor dies (kill -9 of its worker process, its node stopped) is sent
again to another actor, and each chunk's result is taken once, so no sentence is lost or
doubled. Ray restarts the dead actor where it can; the build goes on with the others
meanwhile. The driver checkpoints each chunk's vectors as they arrive, so a killed driver
leaves the previous generation live and the rerun embeds only what no checkpoint holds.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index import store
from index.corpus import (
    Article,
    Corpus,
    Skipped,
    UniqueIds,
    check_paths,
    collect,
    read_file,
    walk_files,
)
from index.encoder.backends import OPENVINO_INT8
from index.encoder.runtime import THREADS_ENV
from index.segment import split_sentences

logger = logging.getLogger(__name__)

__all__ = ["ClusterError", "Faults", "RayCluster", "RemoteEncoder", "require_ray"]

#: The extra that installs Ray (pyproject.toml), named in every message about a missing Ray.
INSTALL_HINT = 'pip install -e ".[cluster]" (or pip install "ray[data]==2.60.0")'
#: A read task takes files until it holds this many bytes or this many files.
READ_TASK_BYTES = 32 * 2**20
READ_TASK_FILES = 256
#: Chunks sent ahead to each actor, so that it never waits for the driver between two.
IN_FLIGHT = 2
#: Times one chunk may lose its actor before the build gives up on it.
MAX_ATTEMPTS = 5
#: How long the build waits with no actor alive before it gives up.
NO_WORKER_TIMEOUT_S = 300.0

Split = Callable[[str], list[tuple[int, int]]]


class ClusterError(RuntimeError):
    """The cluster cannot be used or lost the build; the message says what to do."""


def require_ray() -> Any:
    """The ``ray`` module, or a ClusterError naming the extra to install."""
    try:
        import ray
    except ImportError as exc:
        raise ClusterError(f"Building on a cluster needs Ray, which is not installed: "
                           f"{INSTALL_HINT}") from exc
    return ray


def connect(address: str | None) -> tuple[Any, bool]:
    """The ``ray`` module connected to ``address`` ("auto", ``HOST:PORT``, ``ray://...``; None
    starts a local one-machine cluster), and whether this call made the connection (an
    initialized Ray is used as it is). Raises ClusterError saying how to start a cluster."""
    ray = require_ray()
    if ray.is_initialized():
        return ray, False
    try:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False,
                 **({} if address else {"include_dashboard": False}))
    except ConnectionError as exc:
        raise ClusterError(
            f"Could not reach a Ray cluster at {address!r}: {exc}. Start one with "
            "`ray start --head` (then `ray start --address HEAD:6379` on each worker) "
            "and give its address, or `auto` on the head node.") from exc
    return ray, True


@dataclass
class Faults:
    """Workers lost during embedding, and chunks sent again because of it."""

    lost: int = 0
    resent: int = 0


class RayCluster:
    """A connection to a Ray cluster that reads, splits and embeds for ``index.build``.

    ``address``: ``"auto"`` (the cluster ``ray start`` made on this machine), ``HOST:PORT``
    of a head node, or ``ray://HOST:PORT``; None starts a local one-machine cluster (tests).
    When Ray is already initialized in this process, that connection is used as it is.
    ``encoder`` makes the encoder in each actor (picklable; default: the int8 passage encoder
    of ``model``, as ``daleel build`` uses). ``workers``: embedding actors (default: the
    cluster's CPUs divided by ``cpus_per_worker``).
    """

    def __init__(self, address: str | None = "auto", *, model: str | Path | None = None,
                 backend: str = OPENVINO_INT8, encoder: Callable[[], Any] | None = None,
                 workers: int | None = None, cpus_per_worker: float = 1.0) -> None:
        ray, self._owns_connection = connect(address)
        self._ray = ray
        if encoder is None:
            from index.encoder.light import passage_encoder

            encoder = functools.partial(passage_encoder, model, backend=backend)
        self.factory = encoder
        self.cpus_per_worker = cpus_per_worker
        self.faults = Faults()  # of every build's embedding on this connection
        cpus = float(ray.cluster_resources().get("CPU", 0))
        self.workers = workers or max(1, int(cpus // cpus_per_worker))
        if self.workers * cpus_per_worker > cpus:
            raise ClusterError(f"{self.workers} workers of {cpus_per_worker:g} CPU need "
                               f"{self.workers * cpus_per_worker:g} CPUs; the cluster has "
                               f"{cpus:g}. Give fewer workers or join more nodes.")
        self._read_task = ray.remote(_read_files)
        self._actor_class = ray.remote(_Embedder).options(
            num_cpus=cpus_per_worker, max_restarts=-1, max_task_retries=0)

    # -- reading ------------------------------------------------------------------------

    def read(self, paths: Iterable[str | Path]) -> tuple[Corpus, Split]:
        """Every article under ``paths``, read and split into sentences on the cluster, and
        the split function ``index.build`` uses (it looks the offsets up, and splits itself
        only a text it was not sent). Same articles, ids, skips and warnings as read_corpus."""
        roots = check_paths(paths)
        skipped: list[Skipped] = []
        warnings: list[str] = []
        files = list(walk_files(roots, skipped, warnings))
        refs = [self._read_task.remote([(str(p), fid, sfx) for p, fid, sfx, _ in group])
                for group in _groups(files)]
        corpus = Corpus([], skipped, warnings)
        ids, offsets = UniqueIds(), {}
        done = iter(files)
        for ref in refs:
            for items, file_warnings, spans in self._get(ref, "reading the corpus"):
                _, _, suffix, real = next(done)
                warnings.extend(file_warnings)
                articles = list(collect(items, suffix, real, ids, skipped, warnings,
                                        corpus.formats, corpus.origins))
                corpus.articles.extend(articles)
                # A renamed id keeps its text, so its offsets are found by the text's hash.
                for article, article_spans in zip(articles, [s for s in spans if s is not None],
                                                  strict=True):
                    offsets[store.text_hash(article.text)] = article_spans
        return corpus, functools.partial(_looked_up, offsets)

    def _get(self, ref: Any, doing: str) -> Any:
        try:
            return self._ray.get(ref)
        except self._ray.exceptions.RayError as exc:
            raise ClusterError(f"The cluster failed while {doing}: {exc}") from exc

    # -- embedding ----------------------------------------------------------------------

    def encoder(self) -> RemoteEncoder:
        """The build's encoder: ``workers`` actors, each with the model loaded once."""
        return RemoteEncoder(self._ray, [self._new_actor() for _ in range(self.workers)],
                             self._new_actor, self.faults)

    def _new_actor(self) -> Any:
        return self._actor_class.remote(self.factory, self.cpus_per_worker)

    def close(self) -> None:
        """Disconnect, if this object made the connection (a cluster ``ray start`` made stays
        up; a local one this object started stops)."""
        if self._owns_connection and self._ray.is_initialized():
            self._ray.shutdown()

    def __enter__(self) -> RayCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _groups(files: list[tuple[Path, str, str, str]]) -> Iterator[list[tuple[Path, str, str, str]]]:
    group: list[tuple[Path, str, str, str]] = []
    size = 0
    for f in files:
        with contextlib.suppress(OSError):  # the task reports it
            size += f[0].stat().st_size
        group.append(f)
        if size >= READ_TASK_BYTES or len(group) >= READ_TASK_FILES:
            yield group
            group, size = [], 0
    if group:
        yield group


def _read_files(files: list[tuple[str, str, str]]) -> list[tuple[list, list[str], list]]:
    """On a worker: each file's articles and skipped records, its warnings, and each article's
    sentence offsets (None for a skipped record)."""
    out = []
    for path, file_id, suffix in files:
        warnings: list[str] = []
        items = list(read_file(Path(path), file_id, suffix, warnings))
        spans = [split_sentences(i.text) if isinstance(i, Article) else None for i in items]
        out.append((items, warnings, spans))
    return out


def _looked_up(offsets: dict[bytes, list[tuple[int, int]]], text: str) -> list[tuple[int, int]]:
    found = offsets.get(store.text_hash(text))
    return found if found is not None else split_sentences(text)


class _Embedder:
    """A Ray actor: one encoder, loaded once, running on the CPUs Ray gave the actor."""

    def __init__(self, factory: Callable[[], Any], cpus: float) -> None:
        os.environ[THREADS_ENV] = str(max(1, int(cpus)))
        self.encoder = factory()

    def describe(self) -> dict[str, Any]:
        e = self.encoder
        return {"name": e.name, "fingerprint": e.fingerprint, "dim": int(e.dim),
                "backend": e.backend, "pid": os.getpid()}

    def embed(self, texts: list[str]) -> np.ndarray:
        return self.encoder.encode_passages(texts)


class RemoteEncoder:
    """What a build embeds with on a cluster: the model's identity as the actors loaded it
    (the same on every actor, or the build stops), and :meth:`map_chunks`."""

    def __init__(self, ray: Any, actors: list[Any], spawn: Callable[[], Any],
                 faults: Faults | None = None) -> None:
        self._ray, self._actors, self._spawn = ray, list(actors), spawn
        self.faults = faults or Faults()
        try:
            described = ray.get([a.describe.remote() for a in self._actors])
        except ray.exceptions.RayTaskError as exc:
            raise ClusterError("A worker could not load the embedding model: "
                               f"{getattr(exc, 'cause', None) or exc!r}") from exc
        self.pids = [d.pop("pid") for d in described]
        if any(d != described[0] for d in described):
            raise ClusterError(
                "The workers loaded different embedding models (" + "; ".join(
                    f"{d['name']} {d['fingerprint']}" for d in described) + "): install the "
                "same daleel and model cache on every node.")
        for key, value in described[0].items():
            setattr(self, key, value)

    def map_chunks(self, chunks: Sequence[list[str]]) -> Iterator[tuple[int, np.ndarray]]:
        """``(i, vectors of chunks[i])`` for every chunk, once each, in the order they finish."""
        ray, lost_kinds = self._ray, _lost_errors(self._ray)
        todo = collections.deque(range(len(chunks)))
        attempts = [0] * len(chunks)
        pending: dict[Any, tuple[int, int]] = {}  # result ref -> (chunk, actor)
        busy = [0] * len(self._actors)
        down: dict[Any, int] = {}  # a ping sent to a lost actor -> that actor
        last_alive = time.monotonic()
        while todo or pending:
            alive = [a for a in range(len(self._actors)) if a not in down.values()]
            if alive:
                last_alive = time.monotonic()
            elif time.monotonic() - last_alive > NO_WORKER_TIMEOUT_S:
                raise ClusterError(f"No embedding worker has been alive for "
                                   f"{NO_WORKER_TIMEOUT_S:.0f} s; check the cluster (`ray "
                                   "status`) and run the build again: it resumes.")
            for a in alive:
                while todo and busy[a] < IN_FLIGHT:
                    i = todo.popleft()
                    attempts[i] += 1
                    pending[self._actors[a].embed.remote(chunks[i])] = (i, a)
                    busy[a] += 1
            ready, _ = ray.wait([*pending, *down], num_returns=1, timeout=5.0)
            for ref in ready:
                if ref in down:  # a lost actor answers again (restarted by Ray)
                    a = down.pop(ref)
                    try:
                        self.pids[a] = ray.get(ref)["pid"]
                    except lost_kinds:  # gone for good: a new one in its place
                        self._actors[a] = self._spawn()
                        down[self._actors[a].describe.remote()] = a
                    continue
                i, a = pending.pop(ref)
                busy[a] -= 1
                try:
                    vectors = ray.get(ref)
                except lost_kinds as exc:
                    if attempts[i] >= MAX_ATTEMPTS:
                        raise ClusterError(f"A chunk of {len(chunks[i])} texts lost its worker "
                                           f"{attempts[i]} times ({exc}); check the workers' "
                                           "memory and logs, then run the build again: it "
                                           "resumes.") from exc
                    logger.warning("An embedding worker was lost (%s); sending its chunk "
                                   "to another", type(exc).__name__)
                    todo.appendleft(i)
                    self.faults.resent += 1
                    if a not in down.values():
                        self.faults.lost += 1
                        down[self._actors[a].describe.remote()] = a
                    continue
                except ray.exceptions.RayTaskError as exc:
                    cause = getattr(exc, "cause", None) or exc
                    raise ClusterError(f"Embedding failed on a worker: {cause!r}. The index is "
                                       "unchanged; fix the cause and run the build again: it "
                                       "resumes from the chunks embedded so far.") from exc
                yield i, vectors


def _lost_errors(ray: Any) -> tuple[type[BaseException], ...]:
    """The errors that mean a worker (not the code it ran) failed: worth sending again."""
    ex = ray.exceptions
    names = ("RayActorError", "WorkerCrashedError", "NodeDiedError", "ObjectLostError",
             "OwnerDiedError", "ActorUnavailableError", "LocalRayletDiedError")
    return tuple(getattr(ex, n) for n in names if hasattr(ex, n))
