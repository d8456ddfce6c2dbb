"""Vectors of texts already embedded: the live segments', an old-format index's, and this
build's checkpoints. Texts are known by hash (index.store.text_hash).

A build asks :meth:`EmbeddingCache.fill` for every text it needs and embeds only the rest with
:meth:`EmbeddingCache.embed`, checkpointing each batch to disk, so a killed build resumes
where its last checkpointed batch ended. Stored vectors are read by row, and the blocks holding
the rows reused are checked against their checksums first (not the whole file: a one-article
update of the full corpus reads kilobytes, not its 490 MB of vectors).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from index import store
from index.encoder import Encoder
from index.segments import SegmentPlan

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
CHECKPOINT_DIR = ".checkpoint"
#: ``(hashes, fetch)``: the hashes a source knows and how to read the vectors of its rows.
_Source = tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]


class EmbeddingCache:
    def __init__(self, index_dir: Path, fingerprint: str,
                 segments: Sequence[SegmentPlan] = ()) -> None:
        self.fingerprint = fingerprint
        self.index_dir = index_dir
        self.segments = [s for s in segments if s.manifest["model"]["fingerprint"] == fingerprint]
        self.dir = index_dir / CHECKPOINT_DIR / fingerprint

    def fill(self, distinct: np.ndarray, out: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Write the known vector of ``distinct[j]`` (sorted hashes) to ``out[rows[j]]``;
        returns which ``j`` were known."""
        found = np.zeros(len(distinct), dtype=bool)
        if not len(distinct):
            return found
        for hashes, fetch in self._sources():
            pos = np.minimum(np.searchsorted(distinct, hashes), len(distinct) - 1)
            hit = np.flatnonzero((distinct[pos] == hashes) & ~found[pos])
            if len(hit):
                hit = hit[np.unique(pos[hit], return_index=True)[1]]  # one row per text
                out[rows[pos[hit]]] = fetch(hit)
                found[pos[hit]] = True
        if found.any():
            logger.info("Reusing %d embedded texts", int(found.sum()))
        return found

    def _sources(self) -> Iterator[_Source]:
        """The live segments (same model only), an old-format index, then each checkpoint."""
        for seg in self.segments:
            yield seg.hashes, seg.vector_rows
        try:
            legacy = store.legacy_vectors(self.index_dir, self.fingerprint)
        except (store.StoreError, OSError, ValueError, KeyError) as exc:
            logger.warning("Not reusing the previous index (%s); embedding everything.", exc)
            legacy = None
        if legacy is not None:
            yield legacy[0], lambda hit, v=legacy[1]: np.asarray(v[hit], np.float32)
        for chunk in sorted(self.dir.glob("chunk-*.npz")) if self.dir.is_dir() else []:
            try:
                with np.load(chunk, allow_pickle=False) as z:
                    hashes, vectors = z["hashes"], z["vectors"]
            except (OSError, ValueError, KeyError) as exc:  # a chunk cut short by a crash
                logger.warning("Ignoring damaged checkpoint %s (%s)", chunk.name, exc)
                continue
            yield hashes, lambda hit, v=vectors: v[hit]

    def embed(self, encoder: Encoder, todo: list[tuple[bytes, str, int]], out: np.ndarray,
              progress: Progress | None, every: int) -> None:
        """Embed each ``(hash, text, row)`` into ``out[row]``, checkpointing every ``every``.

        An encoder with ``map_chunks`` (index.cluster's) is given every chunk at once and
        hands them back as they finish, in any order; others embed one chunk after another."""
        # Sorting by length makes each batch's texts alike in length: far less padding.
        todo = sorted(todo, key=lambda item: len(item[1]))
        chunks = [todo[i : i + every] for i in range(0, len(todo), every)]
        texts = [[text for _, text, _ in chunk] for chunk in chunks]
        mapper = getattr(encoder, "map_chunks", None)
        results = mapper(texts) if mapper else (
            (i, encoder.encode_passages(batch)) for i, batch in enumerate(texts))
        done = 0
        if progress:
            progress(0, len(todo))
        for i, vecs in results:
            keys, _, rows = zip(*chunks[i], strict=True)
            out[list(rows)] = vecs
            self._checkpoint(i, keys, vecs)
            done += len(rows)
            if progress:
                progress(done, len(todo))

    def _checkpoint(self, n: int, keys: tuple[bytes, ...], vecs: np.ndarray) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        final = self.dir / f"chunk-{time.time_ns()}-{n:06d}.npz"
        tmp = final.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            np.savez(fh, hashes=np.array(keys, dtype="S16"), vectors=vecs)
        os.replace(tmp, final)

    def clear(self) -> None:
        shutil.rmtree(self.dir.parent, ignore_errors=True)
