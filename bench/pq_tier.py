"""Benchmark: a compressed large-index tier for the dense index (IVF-PQ, optionally OPQ, in RAM,
re-scored exactly from float16 vectors memory-mapped from disk).

Today's dense index (index/dense.py) is IVF-Flat: 384 float32 per sentence, ~1.5 KB in RAM. This
measures what FAISS IVF-PQ (8-bit codes, ``m`` bytes per sentence), with and without an OPQ
rotation, gives instead, when the best ``K`` candidates of the PQ search are re-scored exactly
with the sentence vectors stored as float16 in a file on disk (memory-mapped: rows gathered,
dot product in float32). For every setting it reports

- recall@10 against exact inner-product search over the indexed vectors, after re-scoring and
  from the PQ scores alone, and the share of the exact top 10 among the K candidates (the most
  re-scoring can recover);
- RAM per sentence: ``faiss.serialize_index(index).nbytes / N`` (codes, ids, coarse centroids,
  PQ codebooks, OPQ matrix) and the same counted by hand; the float16 file is on disk (its size
  is in the header and the JSON), not in RAM;
- train and add time (``--build-threads`` threads), and one query's latency (median, p95) with
  FAISS and BLAS on one thread, re-scoring included, and the PQ search alone.

Queries. Main set: ``--queries`` sentence vectors chosen by a seeded RNG and held out (left out of
the indexed set, so a query never finds itself). Second set: the questions in
``bench/questions/*.jsonl`` (``question`` fields and chain turns, deduplicated) embedded with the
index's own encoder (``index.encoder.Encoder.from_manifest``, ``query:`` prompt), when the
manifest beside the vectors names one and it loads; ``--no-questions`` skips them. Latency is
measured on the main set.

Build. The coarse quantizer (spherical k-means, FAISS's default for inner product) is trained
once per ``nlist`` on ``64 * nlist`` indexed vectors (as index/dense.py does) and shared by every
``m``; OPQ is trained once per ``m`` on raw vectors (as ``index_factory("OPQm,IVFn,PQm")`` does)
and shared by both ``nlist``; with OPQ the coarse centroids are rotated by the (orthogonal) OPQ
matrix, which is what k-means on the rotated vectors gives. Vectors are added in chunks of 50k
read from the memory-mapped source. Everything is seeded. The default grid: nlist 1024, 2255
(4*sqrt(N), as index/dense.py) and 4096; m 48, 64, 96; with and without OPQ; nprobe 32 to
512; K 100, 200, 400, 1000. It prints a markdown table and writes ``--out`` after every
build (``complete`` false until the last).

    nice -n 19 .venv/bin/python bench/pq_tier.py \\
        --vectors /work/ant-index/segments/seg-*/vectors.npy --queries 1000 \\
        --out bench/results/pq_tier.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: Rows read from the source memmap at a time (adding, ground truth, the float16 copy).
CHUNK = 50_000
#: recall@10 is measured at this depth.
TOP = 10
#: Targets a setting must meet.
RECALL_TARGET = 0.95
RAM_TARGET_BYTES = 150.0


@dataclass
class Build:
    """One trained, filled index: how it was made and what it costs in RAM."""

    name: str
    nlist: int
    m: int
    opq: bool
    coarse_train_s: float  # shared by every m at this nlist
    opq_train_s: float  # shared by both nlist at this m (0 without OPQ)
    pq_train_s: float
    add_s: float
    serialized_bytes: int
    theory_bytes: int
    n: int

    @property
    def train_s(self) -> float:
        return self.coarse_train_s + self.opq_train_s + self.pq_train_s


@dataclass
class Row:
    """One setting's measurements (a :class:`Build` at one nprobe and re-score depth)."""

    index: str
    nlist: int
    m: int
    opq: bool
    nprobe: int
    depth: int
    recall_rescored: float
    recall_pq: float
    recall_candidates: float
    q_recall_rescored: float | None
    q_recall_pq: float | None
    ram_bytes_per_vector: float
    ram_theory_bytes_per_vector: float
    train_s: float
    add_s: float
    latency_ms_median: float
    latency_ms_p95: float
    search_ms_median: float
    meets: bool = field(default=False)


def chunks(vectors: np.ndarray, keep: np.ndarray) -> Iterator[np.ndarray]:
    """The kept rows of ``vectors`` in order, as float32 arrays of at most :data:`CHUNK` rows."""
    for start in range(0, len(vectors), CHUNK):
        stop = min(start + CHUNK, len(vectors))
        block = np.asarray(vectors[start:stop], dtype=np.float32)
        yield np.ascontiguousarray(block[keep[start:stop]])


def exact_top(vectors: np.ndarray, keep: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Positions (among the kept rows) of each query's exact top ``k`` by inner product."""
    best_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_i = np.full((len(queries), k), -1, dtype=np.int64)
    offset = 0
    for block in chunks(vectors, keep):
        scores = queries @ block.T
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        cand_s = np.concatenate([best_s, np.take_along_axis(scores, top, axis=1)], axis=1)
        cand_i = np.concatenate([best_i, top + offset], axis=1)
        pick = np.argpartition(-cand_s, k - 1, axis=1)[:, :k]
        best_s = np.take_along_axis(cand_s, pick, axis=1)
        best_i = np.take_along_axis(cand_i, pick, axis=1)
        offset += len(block)
    order = np.argsort(-best_s, axis=1, kind="stable")
    return np.take_along_axis(best_i, order, axis=1)


def write_float16(vectors: np.ndarray, keep: np.ndarray, path: Path) -> np.ndarray:
    """Write the kept rows as a float16 .npy at ``path``; return it memory-mapped read-only."""
    n = int(keep.sum())
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16,
                                    shape=(n, vectors.shape[1]))
    offset = 0
    for block in chunks(vectors, keep):
        out[offset:offset + len(block)] = block.astype(np.float16)
        offset += len(block)
    out.flush()
    del out
    return np.load(path, mmap_mode="r")


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of each query's exact top ids found in ``found`` (one row per query)."""
    hits = [len(np.intersect1d(f[f >= 0], t)) for f, t in zip(found, truth, strict=True)]
    return float(np.mean(hits)) / truth.shape[1]


def question_texts(pattern_dir: Path) -> list[str]:
    """The questions of every ``*.jsonl`` in ``pattern_dir``, deduplicated, in file order."""
    seen: dict[str, None] = {}
    for path in sorted(pattern_dir.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            if "question" in record:
                seen.setdefault(str(record["question"]).strip(), None)
            for turn in record.get("turns", []):
                seen.setdefault(str(turn["q"]).strip(), None)
    return [q for q in seen if q]


def embed_questions(vectors_path: Path, questions_dir: Path) -> tuple[np.ndarray | None, str]:
    """The questions embedded with the encoder the index's manifest names, and a note."""
    manifest = vectors_path.parent / "manifest.json"
    texts = question_texts(questions_dir)
    if not texts:
        return None, f"no questions in {questions_dir}"
    if not manifest.exists():
        return None, f"no manifest beside {vectors_path}: questions not embedded"
    try:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from index.encoder.encoder import Encoder

        model = json.loads(manifest.read_text(encoding="utf-8"))["model"]
        encoder = Encoder.from_manifest(model)
        if encoder.fingerprint != model.get("fingerprint"):
            return None, "encoder fingerprint differs from the manifest's: questions skipped"
        qvecs = np.ascontiguousarray(encoder.encode_queries(texts), dtype=np.float32)
    except Exception as exc:  # the main query set does not need the encoder
        return None, f"questions not embedded: {exc!r}"
    return qvecs, (f"{len(texts)} questions from {questions_dir}/*.jsonl embedded with "
                   f"{model['name']} (prompt {encoder.query_prompt!r})")


def train_coarse(sample: np.ndarray, nlist: int) -> np.ndarray:
    """Coarse centroids (nlist, d): FAISS's IVF training for inner product."""
    import faiss

    d = sample.shape[1]
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.train(sample)
    return ivf.quantizer.reconstruct_n(0, nlist)


def train_opq(sample: np.ndarray, m: int, iters: int) -> Any:  # -> faiss.OPQMatrix
    import faiss

    opq = faiss.OPQMatrix(sample.shape[1], m)
    opq.niter = iters
    opq.max_train_points = len(sample)
    opq.train(sample)
    return opq


def build(vectors: np.ndarray, keep: np.ndarray, sample: np.ndarray, centroids: np.ndarray,
          coarse_s: float, m: int, opq: Any | None, opq_s: float) -> tuple[Any, Build]:
    """IVF-PQ (``m`` bytes a vector) over the kept rows, behind ``opq`` when given."""
    import faiss

    d = vectors.shape[1]
    nlist = len(centroids)
    if opq is not None:
        centroids = opq.apply(np.ascontiguousarray(centroids))
        sample = opq.apply(sample)
    quantizer = faiss.IndexFlatIP(d)
    quantizer.add(np.ascontiguousarray(centroids, dtype=np.float32))
    ivfpq = faiss.IndexIVFPQ(quantizer, d, nlist, m, 8, faiss.METRIC_INNER_PRODUCT)
    start = time.perf_counter()
    ivfpq.train(sample)  # the quantizer is full: only the PQ codebooks are trained
    pq_s = time.perf_counter() - start
    index: Any = ivfpq
    if opq is not None:
        index = faiss.IndexPreTransform(opq, ivfpq)
        index.is_trained = True
    start = time.perf_counter()
    for block in chunks(vectors, keep):
        index.add(block)
    add_s = time.perf_counter() - start
    n = index.ntotal
    theory = n * (m + 8) + nlist * d * 4 + 256 * d * 4 + (d * d * 4 if opq is not None else 0)
    name = (f"OPQ{m}," if opq is not None else "") + f"IVF{nlist},PQ{m}"
    info = Build(name=name, nlist=nlist, m=m, opq=opq is not None, coarse_train_s=coarse_s,
                 opq_train_s=opq_s, pq_train_s=pq_s, add_s=add_s,
                 serialized_bytes=int(faiss.serialize_index(index).nbytes),
                 theory_bytes=int(theory), n=int(n))
    return index, info


def run_queries(index: Any, f16: np.ndarray, queries: np.ndarray, depth: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[float], list[float]]:
    """One query at a time: the PQ top ``depth``, re-scored from ``f16``.

    Returns (PQ top 10, candidates, re-scored top 10, total ms, PQ-search ms) per query.
    """
    n = len(queries)
    pq_top = np.full((n, TOP), -1, dtype=np.int64)
    cands = np.full((n, depth), -1, dtype=np.int64)
    rescored = np.full((n, TOP), -1, dtype=np.int64)
    total_ms: list[float] = []
    search_ms: list[float] = []
    for i in range(n):
        q = queries[i:i + 1]
        start = time.perf_counter()
        _, found = index.search(q, depth)
        mid = time.perf_counter()
        rows = np.sort(found[0][found[0] >= 0])  # sorted: file order for the gather
        scores = np.asarray(f16[rows], dtype=np.float32) @ q[0]
        best = rows[np.argsort(-scores, kind="stable")[:TOP]]
        end = time.perf_counter()
        total_ms.append((end - start) * 1000)
        search_ms.append((mid - start) * 1000)
        pq_top[i, :min(TOP, depth)] = found[0][:TOP]
        cands[i] = found[0]
        rescored[i, :len(best)] = best
    return pq_top, cands, rescored, total_ms, search_ms


def p95(values: Sequence[float]) -> float:
    return float(np.percentile(np.asarray(values), 95))


def markdown(rows: Sequence[Row], with_questions: bool) -> str:
    head = ["index", "nprobe", "K", "R@10 re-scored", "R@10 PQ only", "R@10 in K"]
    if with_questions:
        head += ["Q R@10 re-scored", "Q R@10 PQ only"]
    head += ["RAM B/vec", "theory B/vec", "train s", "add s", "ms median", "ms p95",
             "PQ search ms", "meets"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r.index, str(r.nprobe), str(r.depth), f"{r.recall_rescored:.3f}",
                 f"{r.recall_pq:.3f}", f"{r.recall_candidates:.3f}"]
        if with_questions:
            cells += [f"{r.q_recall_rescored:.3f}", f"{r.q_recall_pq:.3f}"]
        cells += [f"{r.ram_bytes_per_vector:.1f}", f"{r.ram_theory_bytes_per_vector:.1f}",
                  f"{r.train_s:.1f}", f"{r.add_s:.1f}", f"{r.latency_ms_median:.2f}",
                  f"{r.latency_ms_p95:.2f}", f"{r.search_ms_median:.2f}",
                  "yes" if r.meets else ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vectors", type=Path, required=True,
                        help="float32 (N, d) L2-normalized vectors.npy (read memory-mapped)")
    parser.add_argument("--queries", type=int, default=1000,
                        help="held-out sentence vectors used as queries (default 1000)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/pq_tier.json"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--nlist", type=ints, default=[1024, 2255, 4096],
                        help="IVF lists; 2255 = 4*sqrt(N) as index/dense.py")
    parser.add_argument("--m", type=ints, default=[48, 64, 96], help="PQ bytes per vector")
    parser.add_argument("--opq", choices=["both", "yes", "no"], default="both")
    parser.add_argument("--nprobe", type=ints, default=[32, 64, 128, 256, 512])
    parser.add_argument("--depth", type=ints, default=[100, 200, 400, 1000],
                        help="PQ candidates re-scored exactly (K)")
    parser.add_argument("--train-per-list", type=int, default=64,
                        help="coarse training vectors per IVF list (index/dense.py: 64)")
    parser.add_argument("--opq-train", type=int, default=32_768,
                        help="OPQ training vectors (FAISS default 65,536)")
    parser.add_argument("--opq-iters", type=int, default=20,
                        help="OPQ iterations (FAISS default 50)")
    parser.add_argument("--build-threads", type=int, default=2,
                        help="FAISS threads for training and adding (search uses 1)")
    parser.add_argument("--questions-dir", type=Path,
                        default=Path(__file__).resolve().parent / "questions")
    parser.add_argument("--no-questions", action="store_true")
    parser.add_argument("--tmp-dir", type=Path, default=None,
                        help="where the float16 file is written (default: system temp)")
    args = parser.parse_args(argv)

    import faiss
    from threadpoolctl import threadpool_limits

    wall = time.perf_counter()
    load_before = os.getloadavg()
    rng = np.random.default_rng(args.seed)
    vectors = np.load(args.vectors, mmap_mode="r")
    total, dim = vectors.shape
    held = np.sort(rng.choice(total, args.queries, replace=False))
    keep = np.ones(total, dtype=bool)
    keep[held] = False
    kept_rows = np.flatnonzero(keep)
    n = len(kept_rows)
    queries = np.ascontiguousarray(vectors[held], dtype=np.float32)
    print(f"{total} vectors of {dim}; {len(held)} held out as queries, {n} indexed", flush=True)

    qvecs, q_note = (None, "skipped (--no-questions)") if args.no_questions else \
        embed_questions(args.vectors, args.questions_dir)
    print(f"questions: {q_note}", flush=True)

    faiss.omp_set_num_threads(args.build_threads)
    start = time.perf_counter()
    truth = exact_top(vectors, keep, queries, TOP)
    q_truth = exact_top(vectors, keep, qvecs, TOP) if qvecs is not None else None
    truth_s = time.perf_counter() - start
    print(f"exact top-{TOP}: {truth_s:.1f} s", flush=True)

    # One permutation of the indexed positions: prefixes are the training samples.
    perm = rng.permutation(n)

    def sample(size: int) -> np.ndarray:
        pos = np.sort(perm[:min(size, n)])
        return np.ascontiguousarray(vectors[kept_rows[pos]], dtype=np.float32)

    tmp = Path(tempfile.mkdtemp(prefix="pq_tier-", dir=args.tmp_dir))
    f16_path = tmp / "vectors-f16.npy"
    start = time.perf_counter()
    f16 = write_float16(vectors, keep, f16_path)
    f16_s = time.perf_counter() - start
    f16_bytes = f16_path.stat().st_size
    print(f"float16 file: {f16_bytes} bytes ({f16_bytes / n:.0f} B/vec), {f16_s:.1f} s",
          flush=True)

    opq_modes = {"both": [False, True], "yes": [True], "no": [False]}[args.opq]
    opqs: dict[int, tuple[Any, float]] = {}
    if True in opq_modes:
        opq_sample = sample(args.opq_train)
        for m in args.m:
            start = time.perf_counter()
            opqs[m] = (train_opq(opq_sample, m, args.opq_iters), time.perf_counter() - start)
            print(f"OPQ{m}: {opqs[m][1]:.1f} s", flush=True)
        del opq_sample

    builds: list[Build] = []
    rows: list[Row] = []

    def save(complete: bool) -> tuple[Row | None, Row | None, float]:
        """Write the results so far to ``--out``; the fastest rows meeting the targets."""
        meeting = [r for r in rows if r.meets]
        fastest = min(meeting, key=lambda r: r.latency_ms_median) if meeting else None
        meeting_q = [r for r in meeting if r.q_recall_rescored is not None
                     and r.q_recall_rescored >= RECALL_TARGET]
        fastest_q = min(meeting_q, key=lambda r: r.latency_ms_median) if meeting_q else None
        wall_s = time.perf_counter() - wall
        result = {
            "what": "IVF-PQ (+OPQ) in RAM, exact re-score of the top K from memory-mapped float16",
            "vectors": str(args.vectors),
            "n_total": int(total),
            "n_indexed": int(n),
            "dim": int(dim),
            "queries": {
                "main": f"{len(held)} sentence vectors held out of the index (seed {args.seed})",
                "questions": q_note,
            },
            "targets": {"recall_at_10": RECALL_TARGET, "ram_bytes_per_vector": RAM_TARGET_BYTES},
            "float16_file_bytes": int(f16_bytes),
            "float16_bytes_per_vector": f16_bytes / n,
            "float16_write_s": f16_s,
            "exact_ground_truth_s": truth_s,
            "settings": {k: v for k, v in vars(args).items() if k != "out"} | {
                "vectors": str(args.vectors), "questions_dir": str(args.questions_dir),
                "tmp_dir": str(args.tmp_dir) if args.tmp_dir else None},
            "latency": ("one query at a time, faiss.omp_set_num_threads(1) and BLAS limited to 1 "
                        "thread; re-score = gather K float16 rows from the memmap (page cache "
                        "warm: the file was just written), float32 dot product, top 10"),
            "ram": ("serialized_bytes = faiss.serialize_index(index).nbytes; theory = N*(m + 8 "
                    "id bytes) + nlist*d*4 centroids + 256*d*4 PQ codebooks + d*d*4 OPQ matrix"),
            "builds": [asdict(b) | {"train_s": b.train_s} for b in builds],
            "rows": [asdict(r) for r in rows],
            "meeting_targets": [f"{r.index} nprobe={r.nprobe} K={r.depth}" for r in meeting],
            "fastest_meeting": asdict(fastest) if fastest else None,
            "fastest_meeting_with_questions_too": asdict(fastest_q) if fastest_q else None,
            "environment": {
                "faiss": faiss.__version__, "numpy": np.__version__,
                "python": platform.python_version(), "cpus": os.cpu_count(),
                "build_threads": args.build_threads, "search_threads": 1,
                "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
                "nice": os.nice(0),
            },
            "wall_s": wall_s,
        "complete": complete,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n",
                            encoding="utf-8")
        return fastest, fastest_q, wall_s

    for nlist in args.nlist:
        coarse_sample = sample(args.train_per_list * nlist)
        start = time.perf_counter()
        centroids = train_coarse(coarse_sample, nlist)
        coarse_s = time.perf_counter() - start
        print(f"IVF{nlist}: coarse k-means on {len(coarse_sample)} vectors {coarse_s:.1f} s",
              flush=True)
        for m in args.m:
            for use_opq in opq_modes:
                opq, opq_s = opqs[m] if use_opq else (None, 0.0)
                faiss.omp_set_num_threads(args.build_threads)
                index, info = build(vectors, keep, coarse_sample, centroids, coarse_s, m,
                                    opq, opq_s)
                builds.append(info)
                print(f"{info.name}: PQ train {info.pq_train_s:.1f} s, add {info.add_s:.1f} s,"
                      f" {info.serialized_bytes / n:.1f} B/vec", flush=True)
                ivf = faiss.extract_index_ivf(index)
                faiss.omp_set_num_threads(1)
                with threadpool_limits(limits=1):
                    for nprobe in args.nprobe:
                        ivf.nprobe = nprobe
                        for depth in args.depth:
                            pq_top, cands, best, ms, search_ms = run_queries(
                                index, f16, queries, depth)
                            q_best = q_pq = None
                            if qvecs is not None and q_truth is not None:
                                q_pq_top, _, q_res, _, _ = run_queries(index, f16, qvecs, depth)
                                q_best = recall(q_res, q_truth)
                                q_pq = recall(q_pq_top, q_truth)
                            row = Row(index=info.name, nlist=nlist, m=m, opq=use_opq,
                                      nprobe=nprobe, depth=depth,
                                      recall_rescored=recall(best, truth),
                                      recall_pq=recall(pq_top, truth),
                                      recall_candidates=recall(cands, truth),
                                      q_recall_rescored=q_best, q_recall_pq=q_pq,
                                      ram_bytes_per_vector=info.serialized_bytes / n,
                                      ram_theory_bytes_per_vector=info.theory_bytes / n,
                                      train_s=info.train_s, add_s=info.add_s,
                                      latency_ms_median=statistics.median(ms),
                                      latency_ms_p95=p95(ms),
                                      search_ms_median=statistics.median(search_ms))
                            row.meets = (row.recall_rescored >= RECALL_TARGET
                                         and row.ram_bytes_per_vector <= RAM_TARGET_BYTES)
                            rows.append(row)
                            print(f"  nprobe {nprobe} K {depth}: R@10 {row.recall_rescored:.3f}"
                                  f" (PQ {row.recall_pq:.3f}, Q "
                                  f"{'-' if q_best is None else f'{q_best:.3f}'}),"
                                  f" {row.latency_ms_median:.2f} ms", flush=True)
                del index, ivf
                save(complete=False)
        del coarse_sample

    del f16
    f16_path.unlink()
    tmp.rmdir()

    fastest, fastest_q, wall_s = save(complete=True)
    print()
    print(markdown(rows, qvecs is not None))
    print()
    print(f"float16 file on disk: {f16_bytes} bytes ({f16_bytes / n:.0f} B/vec); "
          f"latency single-threaded; wall {wall_s:.0f} s; results in {args.out}")
    if fastest:
        print(f"fastest meeting R@10 >= {RECALL_TARGET} and <= {RAM_TARGET_BYTES:.0f} B/vec: "
              f"{fastest.index} nprobe {fastest.nprobe} K {fastest.depth}: "
              f"{fastest.latency_ms_median:.2f} ms median, R@10 {fastest.recall_rescored:.3f}")
    else:
        print("no setting meets both targets")
    if fastest_q:
        print(f"... and on the questions too: {fastest_q.index} nprobe {fastest_q.nprobe} "
              f"K {fastest_q.depth}: {fastest_q.latency_ms_median:.2f} ms")


if __name__ == "__main__":
    main()
