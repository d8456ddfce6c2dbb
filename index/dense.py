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
#: Recall@10 against exact search 0.936 at 32, 0.965 at 64, 0.978 at 96. Deep enough that
#: indexes whose IVF was trained on different vectors (a segment, a merge, a fresh build) agree:
#: a segmented ANT index and a fresh build gave the same top-5 for 186 of 200 questions at 64,
#: 191 at 128, 198 at 256, 200 at 512 and with every list; one search at depth 100 took 2.0,
#: 3.7, 6.7 and 13 ms (bench/ivf_agreement.py, BENCHMARKS.md section 10).
IVF_NPROBE = 512
#: A filter letting through at most this many rows is searched exactly over them: a product
#: with their vectors is exact and, that small, about as fast as a selective FAISS scan.
EXACT_WITHIN_LIMIT = 20_000


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


def search_within(index: Any, vectors: np.ndarray, queries: np.ndarray, k: int,
                  allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` rows per query among the rows where ``allowed`` (a boolean mask) is True:
    ``(scores, rows)``, best first, ``min(k, allowed.sum())`` of them for every query.

    Few allowed rows are searched exactly; many through FAISS with an ID selector, and a query
    for which the probed IVF lists hold too few allowed rows is searched again over all lists.
    """
    queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, index.d)
    rows = np.flatnonzero(allowed)
    k = min(k, len(rows))
    if k == 0:
        return (np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64))
    if len(rows) <= EXACT_WITHIN_LIMIT:
        scores = queries @ np.asarray(vectors[rows], dtype=np.float32).T
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        return np.take_along_axis(top_scores, order, axis=1), rows[np.take_along_axis(top, order,
                                                                                      axis=1)]
    import faiss

    bitmap = np.packbits(allowed, bitorder="little")  # referenced until the searches are done
    selector = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bitmap))
    nprobe = getattr(index, "nprobe", None)
    params = (faiss.SearchParameters(sel=selector) if nprobe is None
              else faiss.SearchParametersIVF(sel=selector, nprobe=nprobe))
    scores, found = index.search(queries, k, params=params)
    short = np.flatnonzero((found < 0).any(axis=1))
    if len(short):  # only IVF can come back short: probe every list for those queries
        params = faiss.SearchParametersIVF(sel=selector, nprobe=index.nlist)
        scores[short], found[short] = index.search(queries[short], k, params=params)
    return scores, found


def _tuned(index: Any) -> Any:
    # The one place nprobe is set: for new indexes and for indexes built by earlier versions.
    if hasattr(index, "nprobe"):
        index.nprobe = IVF_NPROBE
    return index
