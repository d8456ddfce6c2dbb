"""Build (or incrementally rebuild) an index directory from a corpus.

Embedding is the only expensive step, so every embedded vector is keyed by a hash of the exact
text embedded. A rebuild reuses the vectors of the live generation and of any interrupted
build's checkpoint, and embeds only texts it has never seen: an edited article costs its
changed sentences, boilerplate repeated across articles is embedded once, and a killed build
resumes where its last checkpointed batch ended.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from index import store
from index.chunk import DEFAULT_CONTEXT, embed_text
from index.corpus import Article, Skipped, read_corpus
from index.embed import Encoder
from index.lexical import LexicalIndex
from index.segment import MAX_SENTENCE_CHARS, split_sentences

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
#: Texts embedded between two checkpoints: small enough to lose little on a crash.
CHECKPOINT_EVERY = 512
#: Exact search up to this many vectors; IVF above (see make_dense and BENCHMARKS.md).
EXACT_SEARCH_LIMIT = 50_000
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

    @property
    def sentences_per_second(self) -> float:
        return self.embedded / self.seconds if self.seconds else 0.0


def build_index(
    paths: Iterable[str | Path],
    index_dir: str | Path,
    *,
    encoder: Encoder | None = None,
    context: str = DEFAULT_CONTEXT,
    progress: Progress | None = None,
) -> BuildReport:
    """Read ``paths``, embed what is new, and switch ``index_dir`` to the new generation."""
    started = time.perf_counter()
    index_dir = Path(index_dir)
    corpus = read_corpus(paths)
    encoder = encoder or Encoder()
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

    cache = _EmbeddingCache(index_dir, encoder)
    todo = cache.missing(hashes, texts)
    reused = len(set(hashes.tolist())) - len(todo)
    cache.embed(todo, progress)
    vectors = cache.lookup(hashes, encoder.dim)

    sentences = np.array(rows, dtype=np.int64).reshape(-1, 3)
    manifest = {
        "model": {
            "name": encoder.name,
            "fingerprint": encoder.fingerprint,
            "dim": encoder.dim,
            "backend": encoder.backend,
        },
        "settings": {
            "context": context,
            "max_sentence_chars": MAX_SENTENCE_CHARS,
            "dense": "flat" if len(rows) <= EXACT_SEARCH_LIMIT else "ivf",
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
        dense=make_dense(vectors),
        lexical=LexicalIndex.build(sentence_texts),
    )
    gen = store.save(data, index_dir)
    cache.clear()
    return BuildReport(
        index_dir=index_dir,
        generation=gen.name,
        articles=len(articles),
        sentences=len(rows),
        distinct_texts=len(set(hashes.tolist())),
        embedded=len(todo),
        reused=reused,
        seconds=time.perf_counter() - started,
        skipped=corpus.skipped,
        warnings=corpus.warnings,
    )


def make_dense(vectors: np.ndarray):  # -> faiss.Index
    """Exact inner-product search while it is fast enough, IVF beyond.

    Flat search is memory-bound (it reads every vector: ~30 ms at 50k vectors on 2 cores);
    IVF reads ``nprobe`` of ``nlist`` clusters. HNSW searched as fast but took minutes to build
    at 100k vectors here. Recall of IVF against exact search is in BENCHMARKS.md.
    """
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dim = vectors.shape[1] if vectors.ndim == 2 else 0
    if len(vectors) <= EXACT_SEARCH_LIMIT:
        index = faiss.IndexFlatIP(dim)
    else:
        nlist = int(4 * np.sqrt(len(vectors)))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        sample = np.random.default_rng(0).permutation(len(vectors))[: 64 * nlist]
        index.train(vectors[np.sort(sample)])
        index.nprobe = store.IVF_NPROBE  # also set by store.load, for indexes built earlier
    if len(vectors):
        index.add(vectors)
    return index


def corpus_hash(articles: list[Article]) -> str:
    digest = hashlib.sha256()
    for art in sorted(articles, key=lambda a: a.id):
        digest.update(art.id.encode("utf-8", "surrogatepass") + b"\0")
        digest.update(hashlib.sha256(art.text.encode("utf-8", "surrogatepass")).digest())
    return digest.hexdigest()


class _EmbeddingCache:
    """Vectors by text hash: the live generation's plus this build's checkpointed batches."""

    def __init__(self, index_dir: Path, encoder: Encoder) -> None:
        self.encoder = encoder
        self.dir = index_dir / CHECKPOINT_DIR / encoder.fingerprint
        self.vectors: dict[bytes, np.ndarray] = {}
        self._load_previous(index_dir)
        self._load_checkpoints()

    def _load_previous(self, index_dir: Path) -> None:
        gen = store.current_generation(index_dir)
        if gen is None:
            return
        try:
            manifest = store.read_manifest(gen, index_dir)
            if manifest["model"]["fingerprint"] != self.encoder.fingerprint:
                return  # another model: its vectors are useless to us
            hashes = np.load(gen / "hashes.npy", allow_pickle=False)
            vectors = np.load(gen / "vectors.npy", mmap_mode="r", allow_pickle=False)
        except (store.StoreError, OSError, ValueError, KeyError) as exc:
            logger.warning("Not reusing the previous index (%s); embedding everything.", exc)
            return
        self.vectors.update(zip(hashes.tolist(), vectors, strict=True))

    def _load_checkpoints(self) -> None:
        if not self.dir.is_dir():
            return
        for chunk in sorted(self.dir.glob("chunk-*.npz")):
            try:
                with np.load(chunk, allow_pickle=False) as z:
                    self.vectors.update(zip(z["hashes"].tolist(), z["vectors"], strict=True))
            except (OSError, ValueError, KeyError) as exc:  # a chunk cut short by a crash
                logger.warning("Ignoring damaged checkpoint %s (%s)", chunk.name, exc)
        logger.info("Resuming: %d embedded texts found in checkpoints", len(self.vectors))

    def missing(self, hashes: np.ndarray, texts: list[str]) -> list[tuple[bytes, str]]:
        seen: dict[bytes, str] = {}
        for h, t in zip(hashes.tolist(), texts, strict=True):
            if h not in self.vectors and h not in seen:
                seen[h] = t
        return list(seen.items())

    def embed(self, todo: list[tuple[bytes, str]], progress: Progress | None) -> None:
        # Sorting by length makes each batch's texts alike in length: far less padding.
        todo = sorted(todo, key=lambda item: len(item[1]))
        done = 0
        if progress:
            progress(0, len(todo))
        for i in range(0, len(todo), CHECKPOINT_EVERY):
            batch = todo[i : i + CHECKPOINT_EVERY]
            vecs = self.encoder.encode_passages([t for _, t in batch])
            keys = [h for h, _ in batch]
            self.vectors.update(zip(keys, vecs, strict=True))
            self._checkpoint(i // CHECKPOINT_EVERY, keys, vecs)
            done += len(batch)
            if progress:
                progress(done, len(todo))

    def _checkpoint(self, n: int, keys: list[bytes], vecs: np.ndarray) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        final = self.dir / f"chunk-{time.time_ns()}-{n:06d}.npz"
        tmp = final.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            np.savez(fh, hashes=np.array(keys, dtype="S16"), vectors=vecs)
        os.replace(tmp, final)

    def lookup(self, hashes: np.ndarray, dim: int) -> np.ndarray:
        out = np.empty((len(hashes), dim), np.float32)
        for i, h in enumerate(hashes.tolist()):
            out[i] = self.vectors[h]
        return out

    def clear(self) -> None:
        shutil.rmtree(self.dir.parent, ignore_errors=True)
