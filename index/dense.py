"""The dense index: FAISS inner-product search over the L2-normalized sentence vectors.

Exact search while it is fast enough, IVF beyond. Flat search is memory-bound (it reads every
vector: ~30 ms at 50k vectors on 2 cores); IVF reads ``nprobe`` of ``nlist`` clusters. HNSW
searched as fast but took minutes to build at 100k vectors here. Recall of IVF against exact
search is in BENCHMARKS.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

#: Exact search up to this many vectors; IVF above.
EXACT_SEARCH_LIMIT = 50_000
#: IVF clusters searched per query. On the full ANT index (318k vectors, 2,255 lists):
#: Recall@10 against exact search 0.936 at 32, 0.965 at 64 (0.9 ms), 0.978 at 96.
IVF_NPROBE = 64


def kind(n_vectors: int) -> str:
    """``"flat"`` or ``"ivf"``: what :func:`make` builds for ``n_vectors`` (in the manifest)."""
    return "flat" if n_vectors <= EXACT_SEARCH_LIMIT else "ivf"


def make(vectors: np.ndarray) -> Any:  # -> faiss.Index
    """A searchable index of ``vectors`` (float32, (N, dim)): row i is vector i."""
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dim = vectors.shape[1] if vectors.ndim == 2 else 0
    if kind(len(vectors)) == "flat":
        index = faiss.IndexFlatIP(dim)
    else:
        nlist = int(4 * np.sqrt(len(vectors)))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        sample = np.random.default_rng(0).permutation(len(vectors))[: 64 * nlist]
        index.train(vectors[np.sort(sample)])
    if len(vectors):
        index.add(vectors)
    return _tuned(index)


def save(index: Any, path: Path) -> None:
    import faiss

    faiss.write_index(index, str(path))


def load(path: Path) -> Any:
    """Read an index written by :func:`save`, tuned for search."""
    import faiss

    return _tuned(faiss.read_index(str(path)))


def search(index: Any, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` rows per query: ``(scores, rows)``, best first; rows are -1 past the end."""
    queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, index.d)
    return index.search(queries, k)


def _tuned(index: Any) -> Any:
    # The one place nprobe is set: for new indexes and for indexes built by earlier versions.
    if hasattr(index, "nprobe"):
        index.nprobe = IVF_NPROBE
    return index
