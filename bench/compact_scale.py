"""Benchmark: the compact dense tier (index/dense.py) at 20 million synthetic vectors.

Synthetic vectors are derived from the real ANT sentence vectors (``--vectors``, the full
index's vectors.npy): each one is a random mix ``normalize(l * a + (1 - l) * b + noise)`` of
two real vectors ``a`` and ``b`` of the same IVF cluster (so it lies where real sentences do,
not between topics), ``l`` uniform in [0.2, 0.8], Gaussian noise of 0.02 per dimension. They
are generated in chunks, written as float16 to ``--work`` (memory-mapped) and added to one IVF-PQ
index made the way index.dense makes a compact segment (PQ_BYTES codes), trained on a sample;
no more than one chunk is ever held in float32.

Measured: build time (train, add), RAM (anonymous resident memory after the build, and the
serialized index's size per vector), disk (the float16 file), and for ``--queries`` question vectors
(XQuAD-ar and AAQAD held-out questions, float32) single-thread search latency with re-scoring,
and recall@10 against exact search over the same 20 M vectors (a chunked brute force).

    .venv/bin/python bench/compact_scale.py --vectors INDEX/segments/seg-*/vectors.npy \\
        --n 20000000 --work /work/compact-scale

A rerun with the same ``--work`` reuses the float16 vectors and the index it saved there.

Results: bench/results/compact_scale.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
RESULTS = REPO / "bench" / "results"
CHUNK = 500_000


def anon_rss_gib() -> float:
    """Resident memory not backed by a file: what the process holds, not the page cache of the
    memory-mapped float16 vectors (which counts in RSS while their pages are touched)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return round(int(line.split()[1]) / 2**20, 2)
    return float("nan")


def questions(n: int) -> np.ndarray:
    from index.encoder import Encoder
    from qa.answer import normalize_question
    from qa.datasets import load_dataset

    texts: list[str] = []
    for name in ("xquad.ar.json", "aaqad-heldout.ar.json"):
        texts += [q.text for q in load_dataset(DATA / name)[1]]
    texts = [normalize_question(t) for t in dict.fromkeys(texts)]
    picked = np.sort(np.random.default_rng(1).permutation(len(texts))[:n])
    return Encoder().encode_queries([texts[i] for i in picked])


def synthesize(real: np.ndarray, labels: np.ndarray, n: int, rng: np.random.Generator,
               out: np.ndarray, progress) -> None:
    """Fill ``out`` (float16, (n, dim)) with mixes of same-cluster pairs of ``real`` rows."""
    order = np.argsort(labels, kind="stable")
    starts = np.searchsorted(labels[order], np.arange(labels.max() + 2))
    for begin in range(0, n, CHUNK):
        size = min(CHUNK, n - begin)
        a = rng.integers(0, len(real), size)
        cluster = labels[a]
        lo, hi = starts[cluster], starts[cluster + 1]
        b = order[lo + (rng.random(size) * (hi - lo)).astype(np.int64)]
        mix = rng.uniform(0.2, 0.8, (size, 1)).astype(np.float32)
        x = mix * real[a] + (1 - mix) * real[b]
        x += rng.normal(0, 0.02, x.shape).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[begin:begin + size] = x
        progress(begin + size)


def _ready(path: Path, n: int) -> bool:
    try:
        return np.load(path, mmap_mode="r").shape[0] == n
    except (OSError, ValueError):
        return False


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--vectors", type=Path, required=True)
    p.add_argument("--n", type=int, default=20_000_000)
    p.add_argument("--nlist", type=int, default=4096)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--nprobe", nargs="+", type=int, default=[512, 1024])
    p.add_argument("--depth", nargs="+", type=int, default=[400, 1000, 2000])
    p.add_argument("--work", type=Path, required=True, help="where the float16 file goes")
    p.add_argument("--out", type=Path, default=RESULTS / "compact_scale.json")
    args = p.parse_args()
    import faiss

    from index import dense

    out: dict = {"n": args.n, "nlist": args.nlist, "pq_bytes": dense.PQ_BYTES,
                 "date": time.strftime("%Y-%m-%d %H:%M")}

    def save() -> None:
        args.out.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")

    def say(what: str) -> None:
        print(time.strftime("%H:%M:%S"), what, flush=True)

    args.work.mkdir(parents=True, exist_ok=True)
    path, codes = args.work / "vectors16.npy", args.work / "codes.faiss"
    if not _ready(path, args.n):  # a rerun reuses the vectors and the index of the last run
        real = np.ascontiguousarray(np.load(args.vectors, mmap_mode="r"), np.float32)
        rng = np.random.default_rng(0)
        started = time.perf_counter()
        coarse = faiss.Kmeans(real.shape[1], args.nlist, niter=10, seed=0, spherical=True)
        coarse.train(real[np.sort(rng.permutation(len(real))[:64 * args.nlist])])
        labels = coarse.index.search(real, 1)[1][:, 0]
        half = np.lib.format.open_memmap(path, "w+", np.float16, (args.n, real.shape[1]))
        synthesize(real, labels, args.n, rng, half,
                   lambda done: say(f"synthesized {done:,}") if done % 5_000_000 == 0 else None)
        half.flush()
        out["synthesize_s"] = round(time.perf_counter() - started, 1)
        del real, labels, half
        codes.unlink(missing_ok=True)
        save()
    half = np.load(path, mmap_mode="r")
    dim = half.shape[1]
    if codes.exists():
        index = faiss.read_index(str(codes))
    else:
        started = time.perf_counter()
        index = faiss.IndexIVFPQ(faiss.IndexFlatIP(dim), dim, args.nlist, dense.PQ_BYTES, 8,
                                 faiss.METRIC_INNER_PRODUCT)
        sample = np.random.default_rng(2).permutation(args.n)[:max(64 * args.nlist, 262_144)]
        index.train(np.asarray(half[np.sort(sample)], np.float32))
        out["train_s"] = round(time.perf_counter() - started, 1)
        say(f"trained in {out['train_s']} s")
        started = time.perf_counter()
        for begin in range(0, args.n, CHUNK):
            index.add(np.asarray(half[begin:begin + CHUNK], np.float32))
            if (begin + CHUNK) % 5_000_000 == 0:
                say(f"added {begin + CHUNK:,}")
        out["add_s"] = round(time.perf_counter() - started, 1)
        faiss.write_index(index, str(codes))
    out["index_bytes_per_vector"] = round(faiss.serialize_index(index).nbytes / args.n, 1)
    out["anon_rss_after_build_gib"] = anon_rss_gib()
    out["float16_file_gib"] = round(path.stat().st_size / 2**30, 2)
    save()

    queries = questions(args.queries)
    started = time.perf_counter()
    truth = np.zeros((len(queries), 10), np.int64)
    best = np.full((len(queries), 10), -np.inf, np.float32)
    for begin in range(0, args.n, CHUNK):  # exact search, chunk by chunk
        scores = queries @ np.asarray(half[begin:begin + CHUNK], np.float32).T
        top = np.argpartition(-scores, 9, axis=1)[:, :10]
        cand_s = np.concatenate([best, np.take_along_axis(scores, top, 1)], axis=1)
        cand_r = np.concatenate([truth, top + begin], axis=1)
        keep = np.argsort(-cand_s, axis=1)[:, :10]
        best, truth = np.take_along_axis(cand_s, keep, 1), np.take_along_axis(cand_r, keep, 1)
    out["exact_search_s"] = round(time.perf_counter() - started, 1)
    say("exact search done")
    searcher = dense.Rescored(index, half)
    faiss.omp_set_num_threads(1)
    out["search"] = []
    for nprobe in args.nprobe:
        searcher.nprobe = min(nprobe, args.nlist)
        for depth in args.depth:
            dense.RESCORE_DEPTH = depth
            times, hits = [], []
            for q, want in zip(queries, truth, strict=True):
                t = time.perf_counter()
                _, rows = searcher.search(q[None], 10)
                times.append((time.perf_counter() - t) * 1000)
                hits.append(len(set(rows[0].tolist()) & set(want.tolist())) / 10)
            out["search"].append({"nprobe": searcher.nprobe, "depth": depth,
                                  "recall10": round(float(np.mean(hits)), 4),
                                  "p50_ms": round(statistics.median(times), 2),
                                  "p95_ms": round(float(np.percentile(times, 95)), 2)})
            say(json.dumps(out["search"][-1]))
            save()
    out["anon_rss_end_gib"] = anon_rss_gib()
    save()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
