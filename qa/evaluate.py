"""Evaluation on Arabic QA sets: sentence recall, MRR, answer F1/EM, answerability, latency.

The articles of a dataset (:mod:`qa.datasets`) are indexed through the normal build path
(optionally beside news articles as distractors), so the figures measure the index and the
assistant exactly as users get them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import logging
import os
import platform
import random
import re
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index import store
from index.build import build_index
from index.chunk import DEFAULT_CONTEXT
from index.corpus import Article, iter_articles, read_corpus
from index.encoder import TORCH, Encoder
from qa.answer import Policy, QuestionError, check_question
from qa.assistant import Assistant
from qa.datasets import Question, assign_gold, load_dataset, read_questions
from qa.metrics import best_of, exact_match, roc_auc, token_f1
from qa.reader import Reader
from qa.records import Hit
from qa.retrieve import Settings

logger = logging.getLogger(__name__)

KS = (1, 5, 20)
MRR_K = 10
PARAGRAPH_K = 5
BATCH = 64  # questions per search_batch call
LATENCY_SAMPLE = 200
DEFAULT_WORK_DIR = Path(tempfile.gettempdir()) / "daleel-eval"


def retrieval_metrics(ranked: Sequence[Sequence[int]], gold: Sequence[frozenset[int]]) -> dict:
    """Recall@k for KS and MRR@MRR_K over questions with a gold sentence; None when none."""
    ranks = [next((i for i, r in enumerate(rows, 1) if r in g), None)
             for rows, g in zip(ranked, gold, strict=True)]
    n = len(ranks)
    out: dict[str, float | None] = {
        f"recall@{k}": sum(r is not None and r <= k for r in ranks) / n if n else None for k in KS
    }
    mrr = sum(1 / r for r in ranks if r is not None and r <= MRR_K)
    out[f"mrr@{MRR_K}"] = mrr / n if n else None
    return out


def evaluate(
    dataset_paths: Sequence[str | Path],
    *,
    work_dir: str | Path = DEFAULT_WORK_DIR,
    distractors: str | Path | None = None,
    n_distractors: int = 3000,
    unanswerable: str | Path | None = None,
    corpus: Sequence[str | Path] = (),
    encoder: Encoder | None = None,
    settings: Settings | None = None,
    policy: Policy | None = None,
    context: str = DEFAULT_CONTEXT,
    limit: int | None = None,
    readers: Sequence[tuple[str, Reader | None]] = (("retrieval", None),),
    part: str = "all",
    dense: str = "auto",
) -> dict[str, Any]:
    """Index each dataset (cached under ``work_dir``) and measure each mode on it.

    ``readers`` names the modes: ("retrieval", None) answers from retrieval alone,
    ("reader", reader) reranks and judges with the reader; both run on the same index and
    questions, so a before/after comparison comes from one run. ``corpus`` adds articles to
    every index (needed by JSONL questions about them); ``limit`` keeps the first N questions
    of each dataset (the whole corpus is still indexed); ``part`` keeps the questions of one
    half of a SQuAD file's articles (qa.datasets.PARTS), all its paragraphs still indexed.
    ``dense`` is the indexes' dense tier (index.dense.TIERS), each tier in its own folder.
    """
    encoder = encoder or Encoder()
    settings = settings or Settings()
    unans = [dataclasses.replace(q, answerable=False)
             for q in (read_questions(Path(unanswerable)) if unanswerable else [])]
    # Questions are embedded in float32 whatever built the index, on the path `daleel
    # ask/serve` take (Encoder.for_questions).
    asker = encoder.for_questions()
    per_dataset = []
    for path in dataset_paths:
        articles, questions = load_dataset(path, part if path_is_squad(path) else "all")
        if not articles and not corpus and not distractors:
            raise ValueError(f"{path} holds questions only: give the articles they ask about "
                             "(--corpus PATH) or news articles (--distractors)")
        name = index_name(Path(path), distractors and n_distractors, corpus, context)
        if encoder.backend != TORCH:  # each embedding path gets its own index: side by side
            name += f"+{encoder.backend}"
        if dense != "auto":
            name += f"+{dense}"
        extra = read_corpus(corpus).articles if corpus else []
        news = list(itertools.islice(iter_articles(distractors, [], []), n_distractors)
                    if distractors and n_distractors else [])
        all_articles = articles + extra + news
        index_dir, index_info = prepare_index(Path(work_dir) / name, all_articles, encoder, context,
                                              dense)
        for mode, reader in readers:
            bot = Assistant(index_dir, asker, settings=settings, policy=policy, reader=reader,
                            watch=False)
            result = _evaluate_one(bot, questions[:limit] if limit else questions, unans)
            label = Path(path).name + (f" [{part} half]" if part != "all" and articles else "")
            per_dataset.append({"dataset": label, "mode": mode, "path": str(path),
                                "policy": dataclasses.asdict(bot.policy),
                                "index": index_info, "distractor_articles": len(news), **result})
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpu_count": os.cpu_count(), "load_average": list(os.getloadavg())},
        "model": {"name": encoder.name, "fingerprint": encoder.fingerprint, "dim": encoder.dim,
                  "index_backend": encoder.backend, "question_backend": asker.backend},
        "settings": dataclasses.asdict(settings),
        "context": context,
        "distractors": {"path": str(distractors) if distractors else None, "n": n_distractors},
        "unanswerable": str(unanswerable) if unanswerable else None,
        "corpus": [str(p) for p in corpus],
        "limit": limit,
        "part": part,
        "dense": dense,
        "datasets": per_dataset,
    }


def path_is_squad(path: str | Path) -> bool:
    return not str(path).lower().endswith(".jsonl")


def _evaluate_one(bot: Assistant, questions: list[Question], unans: list[Question]) -> dict:
    started = time.perf_counter()
    valid = [q for q in questions if _valid(q.text)]
    answerable = [q for q in valid if q.answerable]
    unans = unans + [q for q in valid if not q.answerable]
    data = bot.data
    assign_gold(answerable, data)
    row_of = {(data.articles[int(a)].id, int(s)): r for r, (a, s, _) in enumerate(data.sentences)}
    ranked = [q for q in answerable if q.gold or q.article_row is not None]
    t0 = time.perf_counter()
    rows: list[list[int]] = []
    tops: list[Hit] = []
    for i in range(0, len(ranked), BATCH):
        batch = bot.search_batch([q.text for q in ranked[i : i + BATCH]], max(KS))
        rows += [[row_of[h.article_id, h.start] for h in hits] for hits in batch]
        tops += [hits[0] for hits in batch]
    batch_ms = 1000 * (time.perf_counter() - t0) / max(len(ranked), 1)
    pairs = list(zip(rows, ranked, strict=True))
    metrics = retrieval_metrics([r for r, q in pairs if q.gold], 
                                [q.gold for _, q in pairs if q.gold])
    in_article = [any(int(data.sentences[x, 0]) == q.article_row for x in r[:PARAGRAPH_K])
                  for r, q in pairs if q.article_row is not None]
    metrics[f"paragraph_recall@{PARAGRAPH_K}"] = _share(sum(in_article), len(in_article))
    if bot.reader is not None:
        metrics.update(_reader_metrics(bot, ranked, tops, unans))
    return {
        "questions": len(questions), "invalid_questions": len(questions) - len(valid),
        "answerable": len(answerable), "unanswerable": len(unans),
        "gold_located": sum(bool(q.gold) for q in answerable),
        "articles": len(data.articles), "sentences": len(data.sentences),
        **metrics,
        **_ask_all(bot, answerable, unans, row_of),
        "search_batched_ms_per_question": round(batch_ms, 2),
        "seconds": round(time.perf_counter() - started, 1),
    }


def _reader_metrics(bot: Assistant, ranked: list[Question], tops: list[Hit],
                    unans: list[Question]) -> dict[str, Any]:
    """Answer phrase over the whole pipeline (the reader's span in the sentence ranked first,
    SQuAD F1 / exact match with Arabic normalization) and, with unanswerable questions,
    answerability ROC AUC of the best sentence's probability."""
    scored = [(q, h) for q, h in zip(ranked, tops, strict=True) if q.answers]
    out: dict[str, Any] = {
        "answer_f1": _share(sum(best_of(token_f1, h.answer, list(q.answers)) for q, h in scored),
                            len(scored)),
        "answer_em": _share(sum(best_of(exact_match, h.answer, list(q.answers))
                                for q, h in scored), len(scored)),
        "answer_n": len(scored),
    }
    if unans:
        neg = [hits[0].probability if hits else 0.0
               for i in range(0, len(unans), BATCH)
               for hits in bot.search_batch([q.text for q in unans[i:i + BATCH]], 1)]
        pos = [h.probability for h in tops]
        out["answerability_auc"] = roc_auc([True] * len(pos) + [False] * len(neg), pos + neg)
    return out


def _ask_all(
    bot: Assistant, answerable: list[Question], unans: list[Question], row_of: dict
) -> dict[str, Any]:
    """Latency of ask() and search() on a sample; with unanswerable questions, abstention."""
    sample = list(answerable)
    random.Random(0).shuffle(sample)
    sample = sample if unans else sample[:LATENCY_SAMPLE]  # abstention asks every question
    ask_ms, search_ms, answered, correct = [], [], 0, 0
    for i, q in enumerate(sample):
        t = time.perf_counter()
        ans = bot.ask(q.text)
        ask_ms.append(1000 * (time.perf_counter() - t))
        answered += ans.answered
        correct += any(row_of.get((c.article_id, c.start)) in q.gold for c in ans.citations)
        if i < LATENCY_SAMPLE:  # interleaved with ask(), so both see the same machine load
            t = time.perf_counter()
            bot.search(q.text, PARAGRAPH_K)
            search_ms.append(1000 * (time.perf_counter() - t))
    declined = sum(not bot.ask(q.text).answered for q in unans)
    abstention = {
        "unanswerable_declined": _share(declined, len(unans)),
        "answerable_answered": _share(answered, len(sample)),
        "answerable_quoting_gold": _share(correct, sum(bool(q.gold) for q in sample)),
        "n_unanswerable": len(unans), "n_answerable": len(sample),
    }
    return {"latency_ms": {"ask": _stats(ask_ms), "search": _stats(search_ms)},
            "abstention": abstention if unans else None}


def prepare_index(
    ddir: Path, articles: list[Article], encoder: Encoder, context: str, dense: str = "auto"
) -> tuple[Path, dict[str, Any]]:
    """Write the corpus as JSONL and index it, unless the same corpus is indexed already."""
    blob = "".join(
        json.dumps({"id": a.id, "title": a.title, "text": a.text, "url": a.url, "date": a.date,
                    "source": a.source}, ensure_ascii=False) + "\n" for a in articles
    ).encode("utf-8")
    stamp = {"corpus_sha256": hashlib.sha256(blob).hexdigest(),
             "model": encoder.fingerprint, "context": context,
             **({"dense": dense} if dense != "auto" else {})}
    index_dir, stamp_file = ddir / "index", ddir / "corpus.stamp.json"
    if store.current_generation(index_dir) and _read_json(stamp_file) == stamp and _readable(
            index_dir):
        logger.info("Reusing the index at %s (same corpus)", index_dir)
        return index_dir, {"dir": str(index_dir), "rebuilt": False, "embedded": 0,
                           "build_seconds": 0.0}
    ddir.mkdir(parents=True, exist_ok=True)
    stamp_file.unlink(missing_ok=True)
    (ddir / "corpus.jsonl").write_bytes(blob)
    logger.info("Indexing %d articles into %s", len(articles), index_dir)
    report = build_index([ddir / "corpus.jsonl"], index_dir, encoder=encoder, context=context,
                         dense=dense)
    stamp_file.write_text(json.dumps(stamp), encoding="utf-8")
    return index_dir, {"dir": str(index_dir), "rebuilt": True, "embedded": report.embedded,
                       "build_seconds": round(report.seconds, 1)}


def _readable(index_dir: Path) -> bool:
    """Whether this daleel reads the index (an older format is rebuilt, reusing its vectors)."""
    try:
        store.read_model(index_dir)
    except store.StoreError:
        return False
    return True


def index_name(path: Path, n_distractors: int | None, corpus: Sequence, context: str) -> str:
    """One cache folder per dataset and setup, so alternating setups never re-embed."""
    name = re.sub(r"[^\w.-]+", "_", path.name.removesuffix(".json").removesuffix(".jsonl"))
    name += f"+{context}" + (f"+d{n_distractors}" if n_distractors else "")
    if corpus:
        key = "\0".join(sorted(str(Path(p).resolve()) for p in corpus))
        name += "+c" + hashlib.sha256(key.encode()).hexdigest()[:8]
    return name


def _valid(text: str) -> bool:
    try:
        check_question(text)
    except QuestionError as exc:
        logger.warning("Skipping question %r: %s", text[:80], exc)
        return False
    return True


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _stats(ms: list[float]) -> dict[str, float | int | None]:
    if not ms:
        return {"median": None, "p95": None, "n": 0}
    return {"median": round(float(np.median(ms)), 1),
            "p95": round(float(np.percentile(ms, 95)), 1), "n": len(ms)}


def _share(n: int, total: int) -> float | None:
    return n / total if total else None
