"""Build (or incrementally rebuild) an index directory from a corpus.

Embedding is the only expensive step, so every embedded vector is keyed by a hash of the exact
text embedded. A rebuild reuses the vectors of the live generation and of any interrupted
build's checkpoint, and embeds only texts it has never seen: an edited article costs its
changed sentences, boilerplate repeated across articles is embedded once, and a killed build
resumes where its last checkpointed batch ended.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import hashlib
import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from index import dense, store
from index.chunk import DEFAULT_CONTEXT, embed_text
from index.corpus import Article, Skipped, read_corpus
from index.encoder import Encoder
from index.lexical import LexicalIndex
from index.segment import MAX_SENTENCE_CHARS, split_sentences
from index.sentences import SentenceTable

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
#: Texts embedded between two checkpoints: small enough to lose little on a crash.
CHECKPOINT_EVERY = 512
CHECKPOINT_DIR = ".checkpoint"


@dataclass
class BuildReport:
    index_dir: Path
    generation: str
    articles: int
    sentences: int
    distinct_texts: int
    embedded: int
    reused: int
    seconds: float
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    formats: dict[str, int] = field(default_factory=dict)  # articles read per format


def build_index(
    paths: Iterable[str | Path],
    index_dir: str | Path,
    *,
    encoder: Encoder | Callable[[], Encoder] | None = None,
    context: str = DEFAULT_CONTEXT,
    progress: Progress | None = None,
    wait: bool = False,
) -> BuildReport:
    """Read ``paths``, embed what is new, and switch ``index_dir`` to the new generation.

    ``encoder`` is an :class:`Encoder` or a function that makes one (default: ``Encoder``).
    An encoder the build made itself is let go as soon as the embedding is done, so that the
    model (~1 GB with its int8 runtime) is not held through the FAISS and BM25 builds.

    One build at a time writes to ``index_dir``: another running one makes this raise
    :class:`~index.store.IndexBusyError` at once, or wait for it with ``wait``. A full disk
    raises :class:`~index.store.IndexSpaceError` with this build's temporary files removed.
    """
    index_dir = Path(index_dir)
    with store.build_lock(index_dir, wait=wait):
        return _build(paths, index_dir, encoder, context, progress)


def _build(
    paths: Iterable[str | Path],
    index_dir: Path,
    encoder: Encoder | Callable[[], Encoder] | None,
    context: str,
    progress: Progress | None,
) -> BuildReport:
    started = time.perf_counter()
    corpus = read_corpus(paths)
    owned = encoder is None or callable(encoder)
    encoder = (encoder or Encoder)() if owned else encoder
    model = {
        "name": encoder.name,
        "fingerprint": encoder.fingerprint,
        "dim": encoder.dim,
        "backend": encoder.backend,
    }
    articles = corpus.articles

    rows = [(a, s, e) for a, art in enumerate(articles) for s, e in split_sentences(art.text)]
    sentence_texts = [articles[a].text[s:e] for a, s, e in rows]
    # A sentence found in several articles is boilerplate (bylines, "follow us on..."): its
    # headline says nothing about it, so it is embedded alone, once for the whole corpus.
    seen_in = Counter(sentence_texts)
    texts = [
        t if seen_in[t] > 1 else embed_text(articles[a].title, t, context)
        for (a, _, _), t in zip(rows, sentence_texts, strict=True)
    ]
    hashes = np.array([store.text_hash(t) for t in texts], dtype="S16")

    # One row per distinct text; each is embedded (or found in the cache) once and written
    # straight into the index's vector matrix: no second copy of the vectors is ever held.
    distinct, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    vectors = np.empty((len(hashes), encoder.dim), np.float32)
    cache = _EmbeddingCache(index_dir, encoder.fingerprint)
    found = cache.fill(distinct, vectors, first)
    todo = [(distinct[j], texts[first[j]], first[j]) for j in np.flatnonzero(~found).tolist()]
    del texts
    try:
        cache.embed(encoder, todo, vectors, progress)
    except BaseException as exc:
        if store.no_space(exc):
            cache.clear()
            # About what the rest of the build writes: its checkpoints, then the generation.
            raise store.space_error(index_dir, 3 * vectors.nbytes, exc) from exc
        raise
    embedded = len(todo)
    del todo, seen_in
    if owned:
        del encoder
        _release_memory()
    source = first[inverse]  # the row whose vector each row shares
    repeats = np.flatnonzero(source != np.arange(len(hashes)))
    vectors[repeats] = vectors[source[repeats]]

    sentences = SentenceTable.from_rows(rows)
    manifest = {
        "model": model,
        "settings": {
            "context": context,
            "max_sentence_chars": MAX_SENTENCE_CHARS,
            "dense": dense.kind(len(rows)),
        },
        "counts": {"articles": len(articles), "sentences": len(rows)},
        "corpus_sha256": corpus_hash(articles),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "skipped": [{"path": s.path, "reason": s.reason} for s in corpus.skipped],
    }
    data = store.IndexData(
        manifest=manifest,
        articles=articles,
        sentences=sentences,
        hashes=hashes,
        vectors=vectors,
        dense=dense.make(vectors),
        lexical=LexicalIndex.build(sentence_texts),
    )
    try:
        gen = store.save(data, index_dir)
    except store.IndexSpaceError:
        cache.clear()
        raise
    cache.clear()
    return BuildReport(
        index_dir=index_dir,
        generation=gen.name,
        articles=len(articles),
        sentences=len(rows),
        distinct_texts=len(distinct),
        embedded=embedded,
        reused=int(found.sum()),
        seconds=time.perf_counter() - started,
        skipped=corpus.skipped,
        warnings=corpus.warnings,
        formats=corpus.formats,
    )


def _release_memory() -> None:
    """Collect, then ask glibc to hand freed heap pages back (the model leaves ~250 MB there)."""
    gc.collect()
    # Not glibc: nothing to do, the freed pages are reused by later allocations.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def corpus_hash(articles: list[Article]) -> str:
    digest = hashlib.sha256()
    for art in sorted(articles, key=lambda a: a.id):
        digest.update(art.id.encode("utf-8", "surrogatepass") + b"\0")
        digest.update(hashlib.sha256(art.text.encode("utf-8", "surrogatepass")).digest())
    return digest.hexdigest()


class _EmbeddingCache:
    """Vectors of texts already embedded: the live generation's and this build's checkpoints.

    Texts are known by hash. :meth:`fill` copies every known vector into the new index's
    matrix; :meth:`embed` embeds the rest into it, checkpointing each batch to disk.
    """

    def __init__(self, index_dir: Path, fingerprint: str) -> None:
        self.fingerprint = fingerprint
        self.index_dir = index_dir
        self.dir = index_dir / CHECKPOINT_DIR / fingerprint

    def fill(self, distinct: np.ndarray, out: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Write the known vector of ``distinct[j]`` (sorted hashes) to ``out[rows[j]]``;
        returns which ``j`` were known."""
        found = np.zeros(len(distinct), dtype=bool)
        if not len(distinct):
            return found
        for hashes, vectors in self._sources():
            pos = np.minimum(np.searchsorted(distinct, hashes), len(distinct) - 1)
            hit = np.flatnonzero((distinct[pos] == hashes) & ~found[pos])
            if len(hit):
                out[rows[pos[hit]]] = vectors[hit]
                found[pos[hit]] = True
        if found.any():
            logger.info("Reusing %d embedded texts", int(found.sum()))
        return found

    def _sources(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(hashes, vectors) of the live generation (same model only), then of each checkpoint."""
        try:
            live = store.read_vectors(self.index_dir, self.fingerprint)
        except (store.StoreError, OSError, ValueError, KeyError) as exc:
            logger.warning("Not reusing the previous index (%s); embedding everything.", exc)
            live = None
        if live is not None:
            yield live
        for chunk in sorted(self.dir.glob("chunk-*.npz")) if self.dir.is_dir() else []:
            try:
                with np.load(chunk, allow_pickle=False) as z:
                    pair = z["hashes"], z["vectors"]
            except (OSError, ValueError, KeyError) as exc:  # a chunk cut short by a crash
                logger.warning("Ignoring damaged checkpoint %s (%s)", chunk.name, exc)
                continue
            yield pair

    def embed(
        self,
        encoder: Encoder,
        todo: list[tuple[bytes, str, int]],
        out: np.ndarray,
        progress: Progress | None,
    ) -> None:
        """Embed each ``(hash, text, row)`` into ``out[row]``, checkpointing every batch."""
        # Sorting by length makes each batch's texts alike in length: far less padding.
        todo = sorted(todo, key=lambda item: len(item[1]))
        if progress:
            progress(0, len(todo))
        for i in range(0, len(todo), CHECKPOINT_EVERY):
            keys, batch, rows = zip(*todo[i : i + CHECKPOINT_EVERY], strict=True)
            vecs = encoder.encode_passages(list(batch))
            out[list(rows)] = vecs
            self._checkpoint(i // CHECKPOINT_EVERY, keys, vecs)
            if progress:
                progress(min(i + CHECKPOINT_EVERY, len(todo)), len(todo))

    def _checkpoint(self, n: int, keys: tuple[bytes, ...], vecs: np.ndarray) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        final = self.dir / f"chunk-{time.time_ns()}-{n:06d}.npz"
        tmp = final.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            np.savez(fh, hashes=np.array(keys, dtype="S16"), vectors=vecs)
        os.replace(tmp, final)

    def clear(self) -> None:
        shutil.rmtree(self.dir.parent, ignore_errors=True)
