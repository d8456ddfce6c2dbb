"""Train the answer reader (qa/reader.py) on AAQAD-train; resumable, seeded, time-boxed.

    .venv/bin/python scripts/train_reader.py [--data ../shared/data] [--minutes 90]

What it trains: the top ``--layers`` transformer layers of the bundled e5-small (the rest stay
frozen, so only those layers and two small heads are committed) on (question, headline +
sentence) pairs cut from AAQAD-train's Wikipedia paragraphs by the project's own sentence
splitter. Labels:

* the sentence holding the answer is positive (with the answer span as its target);
* up to 3 other sentences of the same paragraph are negatives (the near misses retrieval makes),
  the ones sharing most terms with the question first;
* for an unanswerable question, the sentence holding SQuAD 2.0's plausible (decoy) answer and
  its most overlapping other paragraph sentence are negatives (the 2 most overlapping if the
  decoy cannot be placed);
* one sentence from another article is an easy negative.

AAQAD is aligned automatically and noisy (shared/data/README.md). Filters, counted in the log:
an answer whose text is not at its offset is moved to its only occurrence or dropped; an answer
whose text occurs in several sentences is pinned to the one sharing most question terms; a
positive that shares no content term with its question (likely misaligned) gets weight 0.3.

With ``--listwise W`` the answer logit is also trained to rank: batches hold whole question
groups (a question's positive and its negatives), and W times the softmax cross-entropy of the
positive against its group is added to the per-pair loss (which still calibrates it).

5 % of the articles (by a seeded hash) are kept out as a dev split: its pairs measure the run
and fit the probability calibration. XQuAD-ar and TyDi-ar are never read here; TyDi-ar stays
held out, XQuAD-ar is what the retrieval+reader fusion is tuned on.

Checkpoints go to ``--work`` every ``--checkpoint-every`` steps; rerunning the same command
resumes from the last one. The weights (fp16 top layers, fp32 heads), their config with sha256
and calibration are written to ``qa/reader_weights/``; the log and metrics to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from index.lexical import LexicalIndex, analyze  # noqa: E402
from index.segment import split_sentences  # noqa: E402
from qa import reader as R  # noqa: E402
from qa.datasets import in_part  # noqa: E402
from qa.metrics import exact_match, roc_auc, token_f1  # noqa: E402

log = logging.getLogger("train_reader")
NOISY_WEIGHT = 0.3
#: Punctuation a question word may end with (kept in place when the word is swapped).
_TRAIL = "؟?.,،"


# -- examples ----------------------------------------------------------------------------------
def read_paragraphs(path: Path, part: str = "all", first_id: int = 0):
    """(article id, title, context, sentence spans, questions) of each paragraph of a SQuAD
    file; an article's id is ``first_id`` + its place in the file."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    out = []
    for n, entry in enumerate(data):
        if not in_part(n, part):
            continue
        title = str(entry.get("title", "")).replace("_", " ").strip()
        for para in entry["paragraphs"]:
            ctx = para["context"]
            out.append((first_id + n, title, ctx, split_sentences(ctx), para["qas"]))
    return out


def load_pairs(path: Path, seed: int, dev_share: float = 0.05, *, part: str = "all",
               xquad: Path | None = None,
               xquad_repeat: int = 1, retrieval_negatives: int = 0, join_share: float = 0.0,
               ellipsis: float = 0.0, swap: float = 0.0):
    """(train, dev, stats): pair dicts from AAQAD-train (SQuAD 2.0), noise filters applied.

    With the defaults this is the first-stage recipe. The second stage adds, to the training
    side only (the dev split stays as it was, so runs compare):

    * ``xquad``: XQuAD-ar's "train" half (qa.datasets.PARTS), clean spans, ``xquad_repeat``
      copies of each pair;
    * ``retrieval_negatives``: per question, that many of the sentences BM25 ranks highest over
      all training paragraphs, from other articles (what an index puts beside the answer);
    * ``join_share``: that share of questions is also read joined after another question of its
      paragraph, as the assistant reads a follow-up ("previous question" + question), with the
      other question's answer sentence as a negative (the repeated-quote failure);
    * ``ellipsis``: that share of the joined questions is written as a follow-up is asked
      (:func:`elliptical`: "وأين ولد؟", not the whole question again), and the other question
      may then be one its sentence answers too, a positive (a follow-up answered by the
      sentence just quoted, as a quarter of bench/questions/chains.jsonl's are).
    * ``swap``: for that share of answerable questions, the question about something else
      (:func:`mismatched`: its rarest word shared with the answer sentence replaced by the word
      another article's question is about, of the same shape) is a negative for that
      sentence: the written unanswerable questions the reader let through ask about a name,
      number or thing the sentence on the same story does not hold.
    """
    rng = random.Random(seed)
    aug = random.Random(seed + 1)  # augmentation draws apart, so stage 1 stays reproducible
    swaps = random.Random(seed + 2)  # and apart again, so earlier recipes stay reproducible
    stats = {"questions": 0, "answerable": 0, "unanswerable": 0, "moved": 0, "dropped": 0,
             "pinned": 0, "noisy": 0, "crossing_span": 0, "plausible": 0, "xquad_questions": 0,
             "retrieval_negatives": 0, "joined": 0, "elliptical": 0, "swapped": 0}
    paragraphs = [("aaqad", *p) for p in read_paragraphs(path, part)]
    # Every AAQAD sentence, for easy negatives from other articles.
    pool = [(a, title, ctx[s:e]) for _, a, title, ctx, spans, _ in paragraphs for s, e in spans]
    if xquad:
        paragraphs += [("xquad", *p) for p in read_paragraphs(xquad, "train", first_id=10**6)]
    lexical = _RetrievalNegatives(paragraphs, retrieval_negatives) if retrieval_negatives else None
    rarity, donors = _swap_donors(paragraphs) if swap else (None, {})
    train, dev = [], []
    for src, a, title, ctx, spans, qas in paragraphs:
        is_dev = src == "aaqad" and (zlib.crc32(f"{seed}:{title}".encode()) % 1000) < (
            dev_share * 1000)
        out = dev if is_dev else train
        repeat = xquad_repeat if src == "xquad" else 1
        sents = [ctx[s:e] for s, e in spans]
        terms = [set(analyze(t)) for t in sents]
        golds: dict[int, int] = {}  # question index -> its answer sentence, for joins
        made = []
        for k, qa in enumerate(qas):
            q = qa["question"].strip()
            if not q or not spans:
                continue
            stats["questions"] += 1
            stats["xquad_questions"] += src == "xquad"
            qterms = set(analyze(q))
            overlap = [len(qterms & t) for t in terms]
            by_overlap = sorted(range(len(sents)), key=lambda i: (-overlap[i], i))
            answers = [] if qa.get("is_impossible") else qa.get("answers", [])
            gold = None
            if answers:
                gold = _locate_answer(ctx, spans, answers[0], overlap, stats)
                if gold is None:
                    stats["dropped"] += 1
                    continue
            base = {"question": q, "title": title, "article": a}
            pairs = []
            if gold is not None:
                stats["answerable"] += 1
                i, (s, e) = gold
                golds[k] = i
                weight = 1.0
                if overlap[i] == 0 and src == "aaqad":
                    weight = NOISY_WEIGHT
                    stats["noisy"] += 1
                pairs.append({**base, "sentence": sents[i], "label": 1.0, "weight": weight,
                              "span": (s, e)})
                if swap and not is_dev and swaps.random() < swap:
                    held = terms[i] | set(analyze(title))
                    at = anchor(q, held, rarity)
                    kind = None if at is None else donors.get(shape(word_at(q, at)))
                    for _ in range(5 if kind else 0):
                        da, donor = kind[swaps.randrange(len(kind))]
                        if da != a and not set(analyze(donor)) & held:
                            stats["swapped"] += 1
                            pairs.append({**base, "question": mismatched(q, at, donor),
                                          "sentence": sents[i], "label": 0.0, "weight": 1.0,
                                          "span": None, "group": q})
                            break
                negs = [j for j in by_overlap if j != i][:3]
            else:
                stats["unanswerable"] += 1
                negs = by_overlap[:2]
                plausible = _plausible_sentence(ctx, spans, qa)
                if plausible is not None:  # SQuAD 2.0's decoy: the hardest negative there is
                    stats["plausible"] += 1
                    negs = [plausible] + [j for j in negs if j != plausible][:1]
            for j in negs:
                pairs.append({**base, "sentence": sents[j], "label": 0.0, "weight": 1.0,
                              "span": None})
            if src == "aaqad":
                for _ in range(5):  # one easy negative from another article
                    oa, ot, osent = pool[rng.randrange(len(pool))]
                    if oa != a:
                        pairs.append({**base, "title": ot, "sentence": osent, "label": 0.0,
                                      "weight": 1.0, "span": None})
                        break
            if lexical is not None and not is_dev:
                for ot, osent in lexical.negatives(q, a):
                    stats["retrieval_negatives"] += 1
                    pairs.append({**base, "title": ot, "sentence": osent, "label": 0.0,
                                  "weight": 1.0, "span": None})
            made.append((k, q, gold, pairs))
        for _k, _q, _gold, pairs in made:
            out.extend(pairs * repeat)
        if is_dev or not join_share:
            continue
        for k, q, gold, _pairs in made:
            short = ellipsis > 0 and aug.random() < ellipsis
            others = [(j, qas[j]["question"].strip()) for j in golds
                      if j != k and (short or golds[j] != (gold[0] if gold else None))]
            if not others or aug.random() >= join_share:
                continue
            j, previous = others[aug.randrange(len(others))]
            follow = elliptical(q, previous) if short else q
            joined = {"question": f"{previous} {follow}", "title": title, "article": a}
            stats["joined"] += 1
            stats["elliptical"] += short
            new = [] if gold is not None and golds[j] == gold[0] else [
                {**joined, "sentence": sents[golds[j]], "label": 0.0, "weight": 1.0,
                 "span": None}]
            if gold is not None:
                new.append({**joined, "sentence": sents[gold[0]], "label": 1.0, "weight": 1.0,
                            "span": gold[1]})
            out.extend(new * repeat)
    return train, dev, stats


def elliptical(question: str, previous: str) -> str:
    """``question`` as it is asked after ``previous``: its words sharing a term with
    ``previous`` left out (the question word kept) and "و" in front, so "أين ولد عبد السلام
    هارون؟" after "متى نال عبد السلام هارون الجائزة؟" reads "وأين ولد؟"."""
    seen = set(analyze(previous))
    words = question.strip().rstrip("؟?").split()
    if not words:
        return question
    rest = [w for w in words[1:] if not set(analyze(w)) & seen]
    while rest and not analyze(rest[-1]):  # no dangling "في" left at the end
        rest.pop()
    head = words[0] if words[0].startswith("و") else "و" + words[0]
    return " ".join([head, *rest]) + "؟"


def anchor(question: str, terms: set[str], rarity: Callable[[str], int]) -> int | None:
    """The place in ``question``'s words of its rarest word (``rarity(term)``, rarest highest)
    that ``terms`` (a sentence's) also hold, the first word (the question word) aside: most
    likely the name, number or thing the question is about. None when no word is shared."""
    shared = [(rarity(t[0]), i) for i, w in enumerate(question.split()[1:], start=1)
              if (t := analyze(w)) and t[0] in terms]
    return max(shared)[1] if shared else None


def shape(word: str) -> str:
    """What kind of word it is, so a swapped word stays the same kind: one holding a digit, a
    Latin-script one, an Arabic word opening with ال or لل (after one of و ف ب ك ل) or another
    Arabic word."""
    if any(ch.isdigit() for ch in word):
        return "number"
    if any("a" <= ch.lower() <= "z" for ch in word):
        return "latin"
    return "defined" if re.match(r"^[وفبكل]?(ال|لل)", word) else "word"


def word_at(question: str, i: int) -> str:
    """The ``i``-th word of ``question`` (as anchor() counts), without trailing punctuation."""
    return question.split()[i].rstrip(_TRAIL)


def mismatched(question: str, i: int, donor: str) -> str:
    """``question`` with its ``i``-th word replaced by ``donor`` (trailing punctuation kept):
    the same question about something else ("متى ولد عبد السلام هارون؟" -> "متى ولد عبد
    السلام مبارك؟"), which the sentence answering the first no longer answers."""
    words = question.split()
    word = words[i]
    words[i] = donor + word[len(word.rstrip(_TRAIL)):]
    return " ".join(words)


def _swap_donors(paragraphs):
    """``rarity(term)`` (minus its sentence frequency over every paragraph) and the donors of
    mismatched() by shape(): per question, (article, its anchor() in its own paragraph), the
    word it is about, seen in at least two sentences."""
    df: dict[str, int] = {}
    for _, _, _, ctx, spans, _ in paragraphs:
        for st, en in spans:
            for t in set(analyze(ctx[st:en])):
                df[t] = df.get(t, 0) + 1

    def rarity(term: str) -> int:
        return -df.get(term, 0)

    donors: dict[str, list[tuple[int, str]]] = {}
    for _, a, _, ctx, _, qas in paragraphs:
        terms = {t for t in analyze(ctx) if df.get(t, 0) >= 2}
        for qa in qas:
            if (i := anchor(qa["question"], terms, rarity)) is not None:
                word = word_at(qa["question"], i)
                donors.setdefault(shape(word), []).append((a, word))
    return rarity, donors


class _RetrievalNegatives:
    """The sentences BM25 ranks highest for a question over all training paragraphs, from
    articles other than the question's own."""

    def __init__(self, paragraphs, per_question: int) -> None:
        self.rows = [(a, title, ctx[s:e]) for _, a, title, ctx, spans, _ in paragraphs
                     for s, e in spans]
        self.index = LexicalIndex.build([sent for _, _, sent in self.rows])
        self.per_question = per_question

    def negatives(self, question: str, article: int) -> list[tuple[str, str]]:
        scores = self.index.scores(question)
        k = min(len(scores), 10 * self.per_question + 10)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        out = [(self.rows[r][1], self.rows[r][2]) for r in top
               if scores[r] > 0 and self.rows[r][0] != article]
        return out[: self.per_question]


def _locate_answer(ctx, spans, answer, overlap, stats):
    """(sentence index, span within it) for one SQuAD answer, or None when it cannot be placed."""
    text = answer["text"].strip()
    start = int(answer["answer_start"])
    if not text:
        return None
    if ctx[start:start + len(text)] != text:
        hits = _occurrences(ctx, text)
        if len(hits) != 1:
            return None
        start = hits[0]
        stats["moved"] += 1
    hits = _occurrences(ctx, text)
    holders = {_sentence_of(spans, h): h for h in hits}
    holders.pop(None, None)
    if len(holders) > 1:  # several mentions: trust the sentence that shares most question terms
        best = max(holders, key=lambda i: (overlap[i], i == _sentence_of(spans, start)))
        if best != _sentence_of(spans, start):
            stats["pinned"] += 1
        start = holders[best]
    i = _sentence_of(spans, start)
    if i is None:
        return None
    s, e = spans[i]
    if start + len(text) > e:
        stats["crossing_span"] += 1
        return None
    return i, (start - s, start - s + len(text))


def _plausible_sentence(ctx, spans, qa) -> int | None:
    """The sentence holding an unanswerable question's plausible (decoy) answer, if it is there."""
    for ans in qa.get("plausible_answers") or []:
        text, start = str(ans.get("text", "")).strip(), int(ans.get("answer_start", -1))
        if text and ctx[start:start + len(text)] == text:
            return _sentence_of(spans, start)
    return None


def _occurrences(text: str, sub: str) -> list[int]:
    out, i = [], text.find(sub)
    while i >= 0:
        out.append(i)
        i = text.find(sub, i + 1)
    return out


def _sentence_of(spans, offset):
    for i, (s, e) in enumerate(spans):
        if s <= offset < e:
            return i
    return None


def pair_length(pair) -> int:
    """A pair's length in characters, what batches are sorted by so they pad little."""
    return len(pair["question"]) + len(pair["title"]) + len(pair["sentence"])


def epoch_batches(pairs, size: int, seed: int, pool: int = 50) -> list[np.ndarray]:
    """One epoch's batches of pair indices, seeded: shuffled, then sorted by length within
    pools of ``pool`` batches so a batch pads little, then the batches shuffled."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(pairs))
    length = np.array([pair_length(p) for p in pairs])
    batches = []
    for i in range(0, len(order) - size + 1, size * pool):
        chunk = order[i:i + size * pool]
        chunk = chunk[np.argsort(length[chunk], kind="stable")]
        batches.extend(chunk[k:k + size] for k in range(0, len(chunk) - size + 1, size))
    return [batches[k] for k in rng.permutation(len(batches))]


def question_groups(pairs) -> list[np.ndarray]:
    """The pairs of one asking of a question, as index arrays: load_pairs writes them one after
    another (a repeated XQuAD-ar question's copies each make their own group)."""
    groups: list[list[int]] = []
    key, seen = None, set()
    for i, p in enumerate(pairs):
        k = (p.get("group", p["question"]), p["article"])  # a swapped question stays with its own
        if k != key or id(p) in seen:
            groups.append([])
            key, seen = k, set()
        groups[-1].append(i)
        seen.add(id(p))
    return [np.array(g) for g in groups]


def group_batches(pairs, size: int, seed: int, pool: int = 50) -> list[np.ndarray]:
    """One epoch's batches for the listwise loss, seeded: as :func:`epoch_batches`, but a
    question's pairs stay in one batch (whole groups, about ``size`` pairs a batch)."""
    rng = np.random.default_rng(seed)
    groups = question_groups(pairs)
    order = rng.permutation(len(groups))
    length = np.array([max(pair_length(pairs[i]) for i in g) for g in groups])
    per = max(1, size // 5)  # groups have about five pairs
    batches = []
    for i in range(0, len(order), per * pool):
        chunk = order[i:i + per * pool]
        chunk = chunk[np.argsort(length[chunk], kind="stable")]
        batch: list[np.ndarray] = []
        for g in chunk:
            if batch and sum(map(len, batch)) + len(groups[g]) > size:
                batches.append(np.concatenate(batch))
                batch = []
            batch.append(groups[g])
        if batch:
            batches.append(np.concatenate(batch))
    return [batches[k] for k in rng.permutation(len(batches))]


# -- model -------------------------------------------------------------------------------------
def build_net(base_folder: Path, top_layers: int):
    """The reader network over the e5 folder at ``base_folder``, with its lower layers frozen,
    and the base's fast tokenizer."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    base = AutoModel.from_pretrained(str(base_folder), add_pooling_layer=False)
    tokenizer = AutoTokenizer.from_pretrained(str(base_folder))
    net = R.ReaderNet(base)
    n = len(base.encoder.layer)
    if not 1 <= top_layers <= n:
        raise ValueError(f"top_layers must be 1..{n}, got {top_layers}")
    for p in net.parameters():
        p.requires_grad = False
    for layer in base.encoder.layer[n - top_layers:]:
        for p in layer.parameters():
            p.requires_grad = True
    for head in (net.answer, net.span):
        for p in head.parameters():
            p.requires_grad = True
    torch.manual_seed(0)
    return net, tokenizer


def trainable_state(net) -> dict:
    """The parameters training changes (top layers and heads), by name."""
    return {k: v.detach().clone() for k, v in net.named_parameters() if v.requires_grad}


def load_trainable(net, state: dict, *, lower_layers_fresh: bool = False) -> None:
    """Put ``state`` into the trainable tensors: all of them, or with ``lower_layers_fresh``
    (weights trained with fewer top layers) all but whole layers below the ones it holds,
    which keep the base's values."""
    missing = set(trainable_state(net)) - set(state)
    if lower_layers_fresh:
        held = {int(k.split(".")[3]) for k in state if k.startswith("base.encoder.layer.")}
        missing = {k for k in missing if not (k.startswith("base.encoder.layer.")
                                              and int(k.split(".")[3]) < min(held))}
    if missing:
        raise R.ReaderError(f"checkpoint lacks {len(missing)} tensors, e.g. {sorted(missing)[0]}")
    net.load_state_dict(state, strict=False)


def save(net, config: R.ReaderConfig, out: Path, *, scale: float, bias: float,
         trained: dict) -> Path:
    """Write the weights (top layers in float16, heads in float32) and their config."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if k.startswith("base.") else v.float()).contiguous()
             for k, v in trainable_state(net).items()}
    tmp = out / (R.WEIGHTS_FILE + ".tmp")
    save_file(state, str(tmp))
    tmp.replace(out / R.WEIGHTS_FILE)
    final = R.ReaderConfig(
        base_fingerprint=config.base_fingerprint, top_layers=config.top_layers,
        max_question_tokens=config.max_question_tokens, max_length=config.max_length,
        scale=scale, bias=bias, sha256=R.file_sha256(out / R.WEIGHTS_FILE), trained=trained)
    (out / R.CONFIG_FILE).write_text(final.to_json() + "\n", encoding="utf-8")
    return out / R.WEIGHTS_FILE


def make_batch(tokenizer, pairs, config):
    batch, offsets, masks, starts = R.encode_pairs(
        tokenizer, [p["question"] for p in pairs], [(p["title"], p["sentence"]) for p in pairs],
        config)
    n, t = masks.shape
    start_t = np.full(n, -100, dtype=np.int64)
    end_t = np.full(n, -100, dtype=np.int64)
    for i, p in enumerate(pairs):
        if p["span"] is None:
            continue
        a, b = p["span"][0] + starts[i], p["span"][1] + starts[i]
        toks = np.flatnonzero(masks[i])
        first = [k for k in toks if offsets[i, k, 0] <= a < offsets[i, k, 1]
                 or offsets[i, k, 0] >= a]
        last = [k for k in toks if offsets[i, k, 0] < b]
        if first and last and first[0] <= last[-1]:
            start_t[i], end_t[i] = first[0], last[-1]
    return (batch, torch.from_numpy(masks), torch.tensor([p["label"] for p in pairs]),
            torch.tensor([p["weight"] for p in pairs]), torch.from_numpy(start_t),
            torch.from_numpy(end_t))


def listwise_loss(answer, pairs) -> torch.Tensor:
    """Mean over the batch's question groups that hold a positive of the softmax cross-entropy
    of the positive against its group (weighted as the positive is): rank it first."""
    losses, weights = [], []
    for g in question_groups(pairs):
        pos = [k for k in g if pairs[k]["label"] > 0.5]
        if len(pos) != 1 or len(g) < 2:
            continue
        logits = answer[torch.from_numpy(g)]
        losses.append(torch.logsumexp(logits, 0) - answer[pos[0]])
        weights.append(pairs[pos[0]]["weight"])
    if not losses:
        return torch.zeros(())
    w = torch.tensor(weights)
    return (torch.stack(losses) * w).sum() / w.sum()


def loss_of(net, tokenizer, pairs, config, listwise: float = 0.0, parts: int = 1):
    """(loss, answer loss, span loss) of a batch. ``parts`` > 1 runs it as that many forward
    passes over length-sorted slices (a batch of whole question groups mixes short and long
    sentences, and one pass would pad them all to the longest); the losses are the same."""
    order = list(range(len(pairs)))
    if parts > 1:
        order.sort(key=lambda i: pair_length(pairs[i]))
    size = -(-len(pairs) // parts)
    ce = torch.nn.functional.cross_entropy
    answers, labels, weights = [], [], []
    span_sum, spans = torch.zeros(()), 0
    for k in range(0, len(order), size):
        chunk = [pairs[i] for i in order[k:k + size]]
        batch, masks, lab, wt, start_t, end_t = make_batch(tokenizer, chunk, config)
        answer, start, end = net(**batch)
        answers.append(answer)
        labels.append(lab)
        weights.append(wt)
        neg = torch.finfo(start.dtype).min
        start = start.masked_fill(~masks, neg)
        end = end.masked_fill(~masks, neg)
        has = start_t >= 0
        if has.any():
            span_sum = span_sum + (ce(start[has], start_t[has], reduction="sum")
                                   + ce(end[has], end_t[has], reduction="sum")) / 2
            spans += int(has.sum())
    back = torch.empty(len(order), dtype=torch.long)
    back[torch.tensor(order)] = torch.arange(len(order))  # the batch's own order again
    answer = torch.cat(answers)[back]
    labels, weights = torch.cat(labels)[back], torch.cat(weights)[back]
    judged = torch.nn.functional.binary_cross_entropy_with_logits(
        answer, labels, weight=weights, reduction="sum") / weights.sum()
    if listwise:
        judged = judged + listwise * listwise_loss(answer, pairs)
    span = span_sum / max(spans, 1)
    return judged + 0.5 * span, judged.item(), span.item()


# -- evaluation --------------------------------------------------------------------------------
@torch.no_grad()
def evaluate(net, tokenizer, pairs, config, batch_size=64):
    net.eval()
    logits, spans = [], []
    for i in range(0, len(pairs), batch_size):
        chunk = pairs[i:i + batch_size]
        batch, offsets, masks, starts = R.encode_pairs(
            tokenizer, [p["question"] for p in chunk], [(p["title"], p["sentence"]) for p in chunk],
            config)
        answer, start, end = net(**batch)
        logits.extend(answer.tolist())
        for k, p in enumerate(chunk):
            spans.append(R.best_span(start[k].numpy(), end[k].numpy(), masks[k], offsets[k],
                                     starts[k], p["sentence"]))
    net.train()
    labels = np.array([p["label"] for p in pairs])
    logits = np.array(logits)
    f1s, ems = [], []
    for p, sp in zip(pairs, spans, strict=True):
        if p["span"] is None:
            continue
        gold = p["sentence"][p["span"][0]:p["span"][1]]
        pred = p["sentence"][sp[0]:sp[1]] if sp else ""
        f1s.append(token_f1(pred, gold))
        ems.append(exact_match(pred, gold))
    # Per question: does the positive outscore the paragraph's negatives?
    by_q: dict[str, list[tuple[float, float]]] = {}
    for p, lg in zip(pairs, logits, strict=True):
        by_q.setdefault(p["question"], []).append((lg, p["label"]))
    top1 = [max(v)[1] for v in by_q.values() if any(lab for _, lab in v)]
    return {"pairs": len(pairs), "auc": roc_auc(labels > 0.5, logits), "top1": float(np.mean(top1)),
            "span_f1": float(np.mean(f1s)), "span_em": float(np.mean(ems))}, logits, labels


def fit_platt(logits: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    x = torch.tensor(logits, dtype=torch.float64)
    y = torch.tensor(labels, dtype=torch.float64)
    a = torch.ones((), dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([a, b], max_iter=200)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(a * x + b, y)
        loss.backward()
        return loss

    opt.step(closure)
    return a.item(), b.item()


# -- main --------------------------------------------------------------------------------------
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--work", type=Path, default=ROOT / ".daleel" / "reader-train")
    ap.add_argument("--out", type=Path, default=R.WEIGHTS_DIR)
    ap.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=6e-5)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--minutes", type=float, default=110.0,
                    help="stop training (and export) after this much wall time in this run")
    ap.add_argument("--checkpoint-every", type=int, default=200)
    ap.add_argument("--limit", type=int, default=0, help="use only this many train pairs (smoke)")
    stage = ap.add_argument_group("second stage (defaults: the first-stage recipe)")
    stage.add_argument("--init", type=Path, default=None,
                       help="start from the reader weights in this folder (e.g. qa/reader_weights)")
    stage.add_argument("--xquad", type=Path, default=None,
                       help="also train on this XQuAD-ar file's 'train' half of articles")
    stage.add_argument("--xquad-repeat", type=int, default=1)
    stage.add_argument("--retrieval-negatives", type=int, default=0)
    stage.add_argument("--join-share", type=float, default=0.0)
    stage.add_argument("--ellipsis", type=float, default=0.0,
                       help="share of the joined questions written as elliptical follow-ups")
    stage.add_argument("--swap", type=float, default=0.0,
                       help="share of answerable questions also asked about something else "
                            "(a rare word swapped) as a negative for their answer sentence")
    stage.add_argument("--listwise", type=float, default=0.0,
                       help="weight of a listwise loss ranking each question's positive above "
                            "its negatives (batches then hold whole question groups)")
    args = ap.parse_args(argv)

    args.work.mkdir(parents=True, exist_ok=True)
    args.results.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(message)s",
        handlers=[logging.StreamHandler(), logging.FileHandler(args.results / "reader_train.log")])
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    from index.encoder import Encoder

    enc = Encoder()
    net, tokenizer = build_net(enc.path, args.layers)
    config = R.ReaderConfig(base_fingerprint=enc.fingerprint, top_layers=args.layers)
    del enc

    init_sha = None
    if args.init:  # the second stage starts from the first stage's weights
        from safetensors.torch import load_file

        init_cfg = R.load_config(args.init)
        if init_cfg.top_layers > args.layers:
            raise SystemExit(f"--init weights have {init_cfg.top_layers} layers, more than "
                             f"--layers {args.layers}")
        # More layers than the init: the extra ones below start from the base model.
        load_trainable(net, load_file(str(args.init / R.WEIGHTS_FILE)),
                       lower_layers_fresh=init_cfg.top_layers < args.layers)
        init_sha = init_cfg.sha256
        log.info("initialized from %s (sha256 %s, %d of %d top layers)", args.init, init_sha,
                 init_cfg.top_layers, args.layers)
    train, dev, stats = load_pairs(
        args.data / "aaqad-train.ar.json", args.seed, xquad=args.xquad,
        xquad_repeat=args.xquad_repeat, retrieval_negatives=args.retrieval_negatives,
        join_share=args.join_share, ellipsis=args.ellipsis, swap=args.swap)
    log.info("pairs: train %d, dev %d; filters %s", len(train), len(dev), stats)
    if args.limit:
        train = train[:args.limit]
        dev = dev[: max(64, args.limit // 4)]
    batches_of = group_batches if args.listwise else epoch_batches
    steps_per_epoch = len(batches_of(train, args.batch, args.seed))
    total = int(steps_per_epoch * args.epochs)
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    warm = max(1, total // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, 1 - s / max(1, total)))

    ckpt = args.work / "checkpoint.pt"
    step = 0
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=True)
        if state["total"] == total and state["seed"] == args.seed:
            load_trainable(net, state["trainable"])
            opt.load_state_dict(state["opt"])
            sched.load_state_dict(state["sched"])
            torch.set_rng_state(state["rng"])
            step = state["step"]
            log.info("resumed at step %d of %d", step, total)
        else:
            log.info("checkpoint is for another run (total/seed differ); starting over")

    net.train()
    start_step = step
    t0 = time.monotonic()
    seen, run_judged, run_span = 0, 0.0, 0.0
    while step < total:
        if time.monotonic() - t0 > args.minutes * 60:
            log.info("time box reached at step %d of %d", step, total)
            break
        epoch, e = divmod(step, steps_per_epoch)
        if e == 0 or step == start_step:
            batches = batches_of(train, args.batch, args.seed + epoch)
        pairs = [train[j] for j in batches[e]]
        loss, judged, span = loss_of(net, tokenizer, pairs, config, args.listwise,
                                     parts=4 if args.listwise else 1)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        step += 1
        seen += len(pairs)
        run_judged += judged
        run_span += span
        if step % 25 == 0:
            rate = seen / (time.monotonic() - t0)
            log.info("step %d/%d %s %.4f span %.4f lr %.2e %.1f pairs/s", step, total,
                     "bce+listwise" if args.listwise else "bce", run_judged / 25, run_span / 25,
                     sched.get_last_lr()[0], rate)
            run_judged = run_span = 0.0
        if step % args.checkpoint_every == 0 or step == total:
            tmp = ckpt.with_suffix(".tmp")
            torch.save({"trainable": trainable_state(net), "opt": opt.state_dict(),
                        "sched": sched.state_dict(), "rng": torch.get_rng_state(),
                        "step": step, "total": total, "seed": args.seed}, tmp)
            tmp.replace(ckpt)

    metrics, logits, labels = evaluate(net, tokenizer, dev, config)
    scale, bias = fit_platt(logits, labels)
    metrics.update(step=step, total_steps=total, finished=step >= total,
                   train_pairs=len(train), filters=stats, scale=scale, bias=bias,
                   minutes=(time.monotonic() - t0) / 60, layers=args.layers, lr=args.lr,
                   batch=args.batch, seed=args.seed, init_sha256=init_sha,
                   xquad_repeat=args.xquad_repeat if args.xquad else 0,
                   retrieval_negatives=args.retrieval_negatives, join_share=args.join_share,
                   ellipsis=args.ellipsis, swap=args.swap, listwise=args.listwise)
    if args.xquad:  # the half never trained on (the fusion weight is tuned on it)
        held, _, _ = load_pairs(args.xquad, args.seed, dev_share=0.0, part="eval")
        metrics["xquad_eval_half"], _, _ = evaluate(net, tokenizer, held, config)
    log.info("dev: %s", json.dumps(metrics, ensure_ascii=False))
    save(net, config, args.out, scale=scale, bias=bias,
           trained={k: metrics[k] for k in ("step", "total_steps", "auc", "top1", "span_f1",
                                            "span_em", "seed", "layers", "init_sha256")})
    (args.results / "reader_train.json").write_text(
        json.dumps(metrics, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
