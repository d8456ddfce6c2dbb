"""Merging segments: the live rows of several segments rewritten as one, deleted rows dropped.

A merge re-embeds nothing and re-analyzes nothing: articles, rows, vectors, hashes and BM25
postings of the live rows are copied (postings remapped); only the FAISS index of the merged
rows is made anew (a copy for a flat one; IVF is trained again). It writes a new segment, then
commits a generation naming it in place of the ones merged, so a merge killed at any moment
leaves the previous generation live, and the next build or merge starts it over.

The policy, size-tiered like Lucene's: a segment's tier is the number of digits of its live
row count, and when one tier holds MERGE_FACTOR segments they are merged (the result usually
lands a tier higher, where it may complete another group). A segment more than half deleted is
rewritten with its tier's group, or alone. Automatic merges stay below AUTO_MERGE_ROWS, where
the merged FAISS index is still exact and cheap to make; ``daleel build --merge`` merges every
segment into one, whatever the size. The policy runs at the end of every build, after the
update is live: searches never wait for it, and ``daleel watch`` runs it between polls.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index import dense, segments, store
from index.lexical import LexicalIndex
from index.segments import SEGMENTS, SegmentData
from index.sentences import SentenceTable

logger = logging.getLogger(__name__)

#: Segments of one tier merged together once there are this many.
MERGE_FACTOR = 10
#: Automatic merges produce at most this many rows (an exact FAISS index; see index.dense).
AUTO_MERGE_ROWS = dense.EXACT_SEARCH_LIMIT


@dataclass(frozen=True, slots=True)
class Sized:
    name: str
    live: int  # live rows
    rows: int  # all rows, deleted ones included


@dataclass(frozen=True, slots=True)
class Merged:
    generation: str
    merged: int  # segments merged away
    segments: int  # segments of the generation committed


def choose(sized: list[Sized], *, force: bool = False) -> list[list[str]]:
    """Groups of segment names to merge into one each (none when nothing needs it)."""
    if force:
        whole = len(sized) == 1 and sized[0].live == sized[0].rows
        return [] if not sized or whole else [[s.name for s in sized]]
    tiers: dict[int, list[Sized]] = {}
    for s in sized:
        tiers.setdefault(len(str(max(s.live, 1))), []).append(s)
    groups = []
    for members in tiers.values():
        group = members if len(members) >= MERGE_FACTOR else [
            s for s in members if s.rows > 2 * s.live]
        if group and sum(s.live for s in group) <= AUTO_MERGE_ROWS:
            groups.append([s.name for s in group])
    return groups


def run(index_dir: Path, *, force: bool = False) -> Merged | None:
    """Apply the policy (or merge everything with ``force``) to the live generation, until
    nothing more is due; returns what the last commit made, or None when nothing was merged.
    Call it holding the build lock."""
    result, total = None, 0
    while True:
        live = store.read_live(index_dir)
        if live is None:
            return result
        entries = live.manifest["segments"]
        sized = [Sized(e["name"], _live_rows(plan, live.tombstones.get(e["name"], set())),
                       e["sentences"]) for e, plan in zip(entries, live.segments, strict=True)]
        groups = choose(sized, force=force)
        if not groups:
            return result
        started = time.perf_counter()
        names = [e["name"] for e in entries]
        tombstones = {k: sorted(v) for k, v in live.tombstones.items()}
        for group in groups:
            merged = _merge_group(index_dir, group, live)
            at = min(names.index(g) for g in group)
            names = [n for n in names if n not in group]
            names.insert(at, merged)
            for g in group:
                tombstones.pop(g, None)
        info = {k: v for k, v in live.manifest.items() if k in (
            "model", "settings", "counts", "corpus_sha256", "built_at", "skipped", "update")}
        gen = store.commit(index_dir, names, tombstones, info)
        total += sum(len(g) for g in groups)
        result = Merged(gen.name, total, len(names))
        logger.info("Merged %d segments into %d in %.1f s", sum(len(g) for g in groups),
                    len(groups), time.perf_counter() - started)
        if force:
            return result


def _live_rows(plan: segments.SegmentPlan, dead: set[int]) -> int:
    if not dead:
        return len(plan.keys)
    return int((~np.isin(plan.article_of_row, sorted(dead))).sum())


def _merge_group(index_dir: Path, group: list[str], live: store.Live) -> str:
    digests = {e["name"]: e["manifest"] for e in live.manifest["segments"]}
    parts = []
    for name in group:
        try:
            data = segments.read_data(index_dir / SEGMENTS / name, digests[name])
        except segments.SegmentError as exc:
            raise store.IndexCorruptError(f"The index at {index_dir} is damaged: {exc}. "
                                          f"{store.rebuild_hint(index_dir)}") from exc
        parts.append((data, live.tombstones.get(name, set())))
    merged = combine(parts)
    try:
        return segments.write(index_dir, merged)
    except BaseException as exc:
        if store.no_space(exc):
            raise store.space_error(index_dir, store.estimated_bytes(merged), exc) from exc
        raise


def combine(parts: list[tuple[SegmentData, set[int]]]) -> SegmentData:
    """One segment of the live rows of ``parts`` (each with its deleted article rows), in order."""
    articles, origins, spans, picks = [], [], [], []
    for data, dead in parts:
        live_articles = [a for a in range(len(data.articles)) if a not in dead]
        renumber = np.full(len(data.articles), -1, np.int64)
        renumber[live_articles] = np.arange(len(live_articles)) + len(articles)
        rows = np.flatnonzero(renumber[data.sentences.article] >= 0)
        table = data.sentences.array[rows]
        spans.append(np.column_stack([renumber[table[:, 0]], table[:, 1:]]))
        picks.append(rows)
        articles += [data.articles[a] for a in live_articles]
        origins += [data.origins[a] for a in live_articles]

    def cat(name: str) -> np.ndarray:
        return np.concatenate([np.asarray(getattr(d, name))[rows]
                               for (d, _), rows in zip(parts, picks, strict=True)])

    first = parts[0][0]
    return SegmentData(
        articles=articles, origins=origins, sentences=SentenceTable(np.concatenate(spans)),
        hashes=cat("hashes"), keys=cat("keys"), repeated=cat("repeated"),
        vectors=np.ascontiguousarray(cat("vectors"), np.float32),
        lexical=LexicalIndex.concat([(d.lexical, rows) for (d, _), rows in zip(
            parts, picks, strict=True)]),
        model=first.model, settings=first.settings)
