"""The dense index: FAISS inner-product search over the L2-normalized sentence vectors.

Three tiers, by segment size (``kind``):

* **flat**: exact search while it is fast enough (it reads every vector: ~30 ms at 50k
  vectors on 2 cores);
* **ivf**: IVF-Flat beyond, reading ``nprobe`` of ``nlist`` clusters; FAISS holds the vectors
  in memory (1.5 kB a sentence at 384 dimensions);
* **compact**, for indexes too large for that (chosen above COMPACT_ABOVE vectors, or for every
  segment of COMPACT_MIN or more with ``build --dense compact``): IVF-PQ codes in memory
  (PQ_BYTES a vector plus its id), the vectors kept as float16 on disk and memory-mapped, and
  the codes' best RESCORE_DEPTH candidates re-scored exactly with them, so the scores returned
  are true inner products (of float16-rounded vectors).

HNSW searched as fast as IVF but took minutes to build at 100k vectors here. Recall of each
tier against exact search is in BENCHMARKS.md (sections 2 and 12).
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
#: The compact tier: automatically for segments above this many vectors (IVF-Flat's 1.5 kB a
#: vector in memory is then ~3 GB), and by choice for every segment of at least COMPACT_MIN
#: (smaller ones stay exact: too few vectors to train codebooks on, and fast to scan).
COMPACT_ABOVE = 2_000_000
COMPACT_MIN = 2_000
#: Bytes of PQ code per vector (8-bit codes): RAM per sentence is this plus an 8-byte id.
PQ_BYTES = 96
#: Clusters probed and candidates re-scored per query in the compact tier. On the full ANT
#: index (318k vectors, 2,255 lists, 96-byte codes; 300 XQuAD-ar and AAQAD questions) recall@10
#: against exact search after re-scoring: 0.915 / 0.954 / 0.977 at nprobe 256 / 512 / 1024
#: (IVF-Flat: 0.921 / 0.964 / 0.986), the same at depth 200, 400 or 1000 (there the probed
#: lists, not the codes, limit it); 3.4 / 5.5 / 11.0 ms a question on one thread. At 20 M
#: synthetic vectors (4,096 lists) depth matters: at nprobe 1024, 0.932 / 0.980 / 0.993 at depth
#: 400 / 1000 / 2000, 201-205 ms a question on one thread (BENCHMARKS.md section 12).
COMPACT_NPROBE = 1024
RESCORE_DEPTH = 1000
#: Dense tiers a build can be asked for: "auto" picks by size, "compact" forces IVF-PQ.
TIERS = ("auto", "compact")
#: The dtype of the stored vectors in each kind of segment.
VECTOR_DTYPE = {"flat": np.float32, "ivf": np.float32, "compact": np.float16}
_CHUNK = 65_536  # vectors added to an index at a time: no second full copy is made


def kind(n_vectors: int, tier: str = "auto") -> str:
    """``"flat"``, ``"ivf"`` or ``"compact"``: what :func:`make` builds for ``n_vectors`` with
    the dense ``tier`` ("auto" or "compact"; see TIERS). Recorded in the segment's manifest."""
    if n_vectors > COMPACT_ABOVE or (tier == "compact" and n_vectors >= COMPACT_MIN):
        return "compact"
    return "flat" if n_vectors <= EXACT_SEARCH_LIMIT else "ivf"


def make(vectors: np.ndarray, kind_: str = "") -> Any:  # -> faiss.Index
    """A searchable index of ``vectors`` ((N, dim), any float dtype; may be memory-mapped):
    row i is vector i. ``kind_`` defaults to ``kind(N)``; a compact index still needs the
    stored vectors to search (:func:`load`)."""
    import faiss

    n = len(vectors)
    dim = vectors.shape[1] if vectors.ndim == 2 else 0
    kind_ = kind_ or kind(n)
    if kind_ == "flat":
        index = faiss.IndexFlatIP(dim)
    else:
        nlist = int(4 * np.sqrt(n))
        if kind_ == "ivf":
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist,
                                       faiss.METRIC_INNER_PRODUCT)
        else:
            m = max(b for b in range(1, PQ_BYTES + 1) if dim % b == 0)  # it must divide dim
            index = faiss.IndexIVFPQ(faiss.IndexFlatIP(dim), dim, nlist, m, 8,
                                     faiss.METRIC_INNER_PRODUCT)
            # A segment near COMPACT_MIN trains on fewer points than FAISS asks for (39 per
            # centroid), which it says on stderr for every codebook; fewer is fine here.
            index.cp.min_points_per_centroid = index.pq.cp.min_points_per_centroid = 1
        sample = np.random.default_rng(0).permutation(n)[: max(64 * nlist, 256 * 39)]
        index.train(np.ascontiguousarray(vectors[np.sort(sample)], np.float32))
    for start in range(0, n, _CHUNK):
        index.add(np.ascontiguousarray(vectors[start:start + _CHUNK], np.float32))
    return _tuned(index)


def save(index: Any, path: Path) -> None:
    import faiss

    faiss.write_index(index, str(path))


def load(path: Path, vectors: np.ndarray | None = None) -> Any:
    """Read an index written by :func:`save`, tuned for search; a compact one is returned as
    a :class:`Rescored` over ``vectors`` (the stored vectors, memory-mapped)."""
    import faiss

    index = _tuned(faiss.read_index(str(path)))
    if isinstance(index, faiss.IndexIVFPQ):
        if vectors is None or len(vectors) != index.ntotal:
            raise ValueError(f"{path} is a compact (IVF-PQ) index: its vectors are needed")
        return Rescored(index, vectors)
    return index


class Rescored:
    """A compact (IVF-PQ) index searched as an exact one: the codes' best RESCORE_DEPTH
    candidates are re-scored with the stored vectors, so scores are true inner products.

    Searched like a FAISS index (``search(queries, k, params=None)``, ``d``, ``ntotal``,
    ``nprobe``, ``nlist``) by :func:`search`, :func:`search_within` and index.view."""

    def __init__(self, codes: Any, vectors: np.ndarray) -> None:
        self.codes, self.vectors = codes, vectors
        self.d, self.ntotal, self.nlist = codes.d, codes.ntotal, codes.nlist

    @property
    def nprobe(self) -> int:
        return int(self.codes.nprobe)

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        self.codes.nprobe = value

    def search(self, queries: np.ndarray, k: int,
               params: Any = None) -> tuple[np.ndarray, np.ndarray]:
        _, found = self.codes.search(queries, max(k, RESCORE_DEPTH), params=params)
        scores = np.full((len(queries), k), -np.inf, np.float32)
        rows = np.full((len(queries), k), -1, np.int64)
        for i, (query, cands) in enumerate(zip(queries, found, strict=True)):
            cands = np.sort(cands[cands >= 0])  # in file order: the memory map reads forward
            exact = np.asarray(self.vectors[cands], np.float32) @ query
            best = np.argsort(-exact, kind="stable")[:k]
            scores[i, :len(best)], rows[i, :len(best)] = exact[best], cands[best]
        return scores, rows


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
    import faiss

    if isinstance(index, faiss.IndexIVFPQ):
        index.nprobe = COMPACT_NPROBE
    elif hasattr(index, "nprobe"):
        index.nprobe = IVF_NPROBE
    return index
