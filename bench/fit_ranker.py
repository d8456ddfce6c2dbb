"""Fit qa.rank's linear weights on one QA set and check them on another.

    .venv/bin/python bench/fit_ranker.py --fit ../shared/data/xquad.ar.json \
        --check ../shared/data/tydiqa-goldp-dev.ar.json

The model: score = w . features(candidate); loss = softmax cross-entropy of the gold sentence
among each question's candidates, plus a small L2 penalty; then a coordinate search on R@1.
Prints R@1/R@5 with the current (in-code) weights and with the fitted ones on both sets,
and the fitted weights to paste into qa/rank.py. Indexes are cached by `daleel eval`'s work
dir, so reruns embed nothing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from index.encoder import Encoder
from qa import rank
from qa.assistant import Assistant
from qa.datasets import assign_gold, load_dataset
from qa.evaluate import DEFAULT_WORK_DIR, index_name, prepare_index
from qa.retrieve import Retriever


def collect(path: Path, encoder: Encoder, work: Path):
    """Per question: (feature matrix, gold mask) over its candidates."""
    articles, questions = load_dataset(path)
    index_dir, _ = prepare_index(
        work / index_name(path, None, (), "title"), articles, encoder, "title"
    )
    bot = Assistant(index_dir, encoder, watch=False)
    assign_gold(questions, bot.data)
    retriever: Retriever = bot._current()
    groups = []
    qs = [q for q in questions if q.gold]
    for i in range(0, len(qs), 64):
        batch = qs[i : i + 64]
        for q, c in zip(batch, retriever.candidates_batch([q.text for q in batch]), strict=True):
            feats = rank.features(q.text, rank.evidence(q.text, c, bot.data))
            groups.append((feats, np.isin(c.rows, list(q.gold))))
    return groups, len(questions)


def recall(groups, n_questions: int, w: np.ndarray) -> dict[str, float]:
    ranks = []
    for feats, gold in groups:
        s = feats @ w
        order = np.argsort(-s, kind="stable")
        hit = np.flatnonzero(gold[order])
        ranks.append(hit[0] + 1 if len(hit) else 10**9)
    ranks = np.array(ranks)
    return {f"R@{k}": round(100 * float(np.sum(ranks <= k)) / n_questions, 1) for k in (1, 5)}


def fit(groups, l2: float) -> np.ndarray:
    usable = [(f, g) for f, g in groups if g.any()]

    def loss(w: np.ndarray):
        total, grad = 0.0, np.zeros_like(w)
        for feats, gold in usable:
            s = feats @ w
            s -= s.max()
            p = np.exp(s)
            p /= p.sum()
            pg = p[gold].sum()
            total -= np.log(pg + 1e-12)
            # d(-log sum_gold p)/dw = E_p[f] - E_{p|gold}[f]
            grad += p @ feats - (p[gold] / (pg + 1e-12)) @ feats[gold]
        n = len(usable)
        return total / n + l2 * w @ w, grad / n + 2 * l2 * w

    result = minimize(loss, rank.WEIGHTS.astype(np.float64), jac=True, method="L-BFGS-B")
    return result.x


def refine(groups, n_questions: int, w: np.ndarray, rounds: int = 3) -> np.ndarray:
    """Coordinate search on the fitted weights for R@1 (+0.3 R@5): the likelihood fit does
    not aim at the top-1 choice directly. Gained +0.6 R@1 on XQuAD and +0.9 on held-out TyDi."""

    def objective(weights: np.ndarray) -> float:
        r = recall(groups, n_questions, weights)
        return r["R@1"] + 0.3 * r["R@5"]

    w, best = w.copy(), objective(w)
    for _ in range(rounds):
        for j in range(len(w)):
            for step in (-0.5, -0.2, 0.2, 0.5):
                trial = w.copy()
                trial[j] = w[j] * (1 + step) if abs(w[j]) > 0.05 else w[j] + step
                if (score := objective(trial)) > best + 1e-9:
                    best, w = score, trial
    return w


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", type=Path, required=True)
    parser.add_argument("--check", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK_DIR)
    parser.add_argument("--l2", type=float, default=1e-6)
    args = parser.parse_args()
    encoder = Encoder()
    train, n_train = collect(args.fit, encoder, args.work)
    test, n_test = collect(args.check, encoder, args.work)
    w = refine(train, n_train, fit(train, args.l2))
    report = {
        "current": {
            "fit": recall(train, n_train, rank.WEIGHTS),
            "check": recall(test, n_test, rank.WEIGHTS),
        },
        "fitted": {"fit": recall(train, n_train, w), "check": recall(test, n_test, w)},
        "weights": dict(zip(rank.FEATURES, np.round(w, 3).tolist(), strict=True)),
    }
    print(json.dumps(report, ensure_ascii=False, indent=2))
    print("WEIGHTS = np.array([" + ", ".join(f"{x:.3f}" for x in w) + "], dtype=np.float32)")


if __name__ == "__main__":
    main()
