"""Judging candidates: the reader reads the top retrieved sentences with the question, and its
verdict, fused with the retrieval score, decides their order, confidence and answer phrase."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from qa.reader import Reader, Reading
from qa.records import Hit, Topic
from qa.retrieve import Scored

#: How many of the best retrieved sentences the reader reads: on XQuAD-ar R@1 is 76.72 reading 4
#: and 76.81 reading 5-8 (bench/reader_depth.py), and each pair costs ~8 ms on the int8 path.
DEPTH = 4
#: Weight of the retrieval ranker's score (relative to its best candidate) beside the reader's
#: logit, for readers whose config does not carry their own (``ReaderConfig.use``); fitted on
#: XQuAD-ar for the first-stage weights (bench/fit_reader_use.py, BENCHMARKS.md).
RETRIEVAL_WEIGHT = 1.0
#: How a follow-up is judged (chosen on bench/questions/chains.jsonl, bench/followups.py): its
#: 5 best sentences are read (6 or 8 judge every dev turn alike at a sixth or a half more cost,
#: 4 loses a turn), the retrieval score weighs 0.3 beside the reader logit (retrieval with the
#: question joined to the previous one leans towards the sentence just quoted), and the
#: conversation's last quote and the sentences right before and after it get NEAR_BONUS on the
#: logit scale (a follow-up is mostly answered there: 16 of the 24 in chains.jsonl by the
#: previous turn's sentence or a neighbour).
FOLLOW_UP_DEPTH = 5
FOLLOW_UP_WEIGHT = 0.3
NEAR_BONUS = 0.5
#: At most this many characters (whitespace) between two sentences that follow each other.
_SENTENCE_GAP = 4


def retrieval_weight(reader: Reader | None) -> float:
    """The fusion weight fitted for ``reader``'s weights, else RETRIEVAL_WEIGHT."""
    config = getattr(reader, "config", None)
    return float((config.use if config else {}).get("retrieval_weight", RETRIEVAL_WEIGHT))


def fuse(scored: Sequence[Scored], readings: Sequence[Reading], weight: float) -> list[float]:
    """Each candidate's order score: reader logit + ``weight`` x its retrieval score's gap to
    the best retrieval score among them."""
    best = max((s.score for s in scored), default=0.0)
    return [r.score + weight * (s.score - best) for s, r in zip(scored, readings, strict=True)]


def near(topic: Topic) -> Callable[[Hit], float]:
    """The follow-up prior: NEAR_BONUS for ``topic``'s quoted sentence and the sentences right
    before and after it in its article (told apart by their offsets alone, so a sharded index
    judges alike), 0 elsewhere."""

    def prior(hit: Hit) -> float:
        if topic.start is None or topic.end is None or hit.article_id != topic.article_id:
            return 0.0
        same = (hit.start, hit.end) == (topic.start, topic.end)
        after = 0 <= hit.start - topic.end <= _SENTENCE_GAP
        before = 0 <= topic.start - hit.end <= _SENTENCE_GAP
        return NEAR_BONUS if same or after or before else 0.0

    return prior


@dataclass(frozen=True, slots=True)
class Judging:
    """How candidates are judged: how many the reader reads, the retrieval score's weight
    beside its logit (None: the one fitted for the reader) and a prior added per hit."""

    depth: int = DEPTH
    weight: float | None = None
    prior: Callable[[Hit], float] | None = None


#: A first question's judging (DEPTH read, the reader's fitted weight, no prior).
FIRST_QUESTION = Judging()


def judging(follows: Topic | None) -> Judging:
    """A first question's judging, or a follow-up's on the conversation's ``follows``
    (FOLLOW_UP_DEPTH read, FOLLOW_UP_WEIGHT, the near() prior)."""
    if follows is None:
        return FIRST_QUESTION
    return Judging(FOLLOW_UP_DEPTH, FOLLOW_UP_WEIGHT, near(follows))


@dataclass(frozen=True, slots=True)
class Candidate:
    """A candidate sentence: how retrieval scored it (its row, dense and BM25 evidence) and
    the hit shown to users (with the reader's verdict once judged)."""

    scored: Scored
    hit: Hit

    @property
    def row(self) -> int:
        return self.scored.row


def judge(
    question: str | tuple[str, ...],
    scored: Sequence[Scored],
    to_hit: Callable[[Scored], Hit],
    reader: Reader | None,
    how: Judging = FIRST_QUESTION,
) -> list[Candidate]:
    """Candidates best first. Without a reader, in retrieval order as retrieval scored them;
    with one, the first ``how.depth`` are read and reordered by reader logit + ``how.weight``
    (by default the one fitted for the reader) x the retrieval score's gap to the best (+
    ``how.prior(hit)``, if given), and carry probability and answer offsets. (Their
    ``Hit.score`` is then that fused score; hits past the depth keep the retrieval score.)"""
    out = [Candidate(s, to_hit(s)) for s in scored]
    if reader is None or not out:
        return out
    weight = retrieval_weight(reader) if how.weight is None else how.weight
    head = out[:how.depth]
    passages = [(c.hit.title, c.hit.sentence) for c in head]
    if isinstance(question, str):
        readings = reader.read(question, passages)
    else:  # several phrasings of one question: their mean verdict, the surest one's span
        reads = [reader.read(q, passages) for q in question]
        readings = [Reading(score=sum(r.score for r in rs) / len(rs),
                            probability=sum(r.probability for r in rs) / len(rs),
                            span=max(rs, key=lambda r: r.probability).span)
                    for rs in zip(*reads, strict=True)]
    judged = []
    for c, s, r, fused in zip(head, scored[: len(head)], readings,
                              fuse(scored[: len(head)], readings, weight), strict=True):
        if how.prior is not None:
            fused += how.prior(c.hit)
        span = (c.hit.start + r.span[0], c.hit.start + r.span[1]) if r.span else (None, None)
        hit = dataclasses.replace(c.hit, score=round(fused, 6), probability=round(r.probability, 4),
                                  answer_start=span[0], answer_end=span[1])
        judged.append((fused, Candidate(s, hit)))
    judged.sort(key=lambda x: -x[0])
    return [c for _, c in judged] + out[how.depth:]
