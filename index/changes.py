"""What an update changes: which articles to write into a new segment, which to tombstone.

An article is known by its id. Comparing what a build read with the live generation's catalog:

* **added**: an id not in the index; **changed**: an id whose content (title, text, url, date,
  source; see index.segments.content_hash) differs: the old rows are tombstoned, the article
  written again; **unchanged**: left where it is (an article moved to another file or line is
  unchanged).
* **removed**: an indexed article that was read from a file under one of the paths given to
  this build, and that this build did not read: it was deleted from its source, so it is
  tombstoned, as users of incremental indexers expect.
* Articles read from files under none of the given paths belong to other sources: they are
  kept as they are. ``daleel build new/`` adds to an index of ``archive/``; it never deletes
  the archive. (Reading an id that another source holds replaces that article.)

One more case keeps the segmented index equal to a full build: a sentence found in several
articles is embedded without its headline (index.build). When an update makes a sentence
repeated or unique across the index, the kept articles holding it are written again too,
their vectors then taken from the embedding cache where they exist.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from index.corpus import Article
from index.segments import SegmentPlan, content_hash


@dataclass
class Change:
    """An update: the new segment's articles (in order), and the tombstones afterwards."""

    write: list[Article] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)
    dead: dict[str, set[int]] = field(default_factory=dict)
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    #: Kept articles written again (a sentence they share became repeated or unique, or the
    #: model or settings changed).
    rewritten: int = 0

    @property
    def empty(self) -> bool:
        return not self.write and not self.removed


def under(origin: str, roots: Sequence[str]) -> bool:
    """Whether the file ``origin`` is one of ``roots`` or inside one of them (folders)."""
    return any(origin == r or origin.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def resolved_roots(paths: Sequence[str | Path]) -> list[str]:
    return [os.path.realpath(p) for p in paths]


def plan(articles: Sequence[Article], origins: Sequence[str], roots: Sequence[str],
         live: Sequence[SegmentPlan], dead: dict[str, set[int]], *,
         keep_rows: bool, unread: Collection[str] = ()) -> Change:
    """The change from the live segments (``dead``: their tombstones) to what was read.

    ``keep_rows`` is False when the live rows cannot be kept (another model or settings):
    every live article still wanted is then written again. ``unread``: files not read because
    unchanged on disk (index.corpus.read_corpus); their live articles count as read and
    unchanged (only with ``keep_rows``)."""
    change = Change(dead={seg: set(rows) for seg, rows in dead.items()})
    where: dict[str, tuple[SegmentPlan, int]] = {}
    for seg in live:
        gone = change.dead.get(seg.name, set())
        for row, article_id in enumerate(seg.ids):
            if row not in gone:
                where[article_id] = (seg, row)
    seen: set[str] = set()
    for art, origin in zip(articles, origins, strict=True):
        seen.add(art.id)
        old = where.get(art.id)
        if old is not None and keep_rows and old[0].content[old[1]] == content_hash(art):
            change.unchanged += 1
            continue
        if old is not None:
            change.dead.setdefault(old[0].name, set()).add(old[1])
            change.changed += 1
        else:
            change.added += 1
        change.write.append(art)
        change.origins.append(origin)
    kept: list[tuple[SegmentPlan, int]] = []
    for article_id, (seg, row) in where.items():
        if article_id in seen:
            continue
        if seg.origins[row] in unread:
            change.unchanged += 1
        elif under(seg.origins[row], roots):
            change.dead.setdefault(seg.name, set()).add(row)
            change.removed += 1
        elif not keep_rows:
            kept.append((seg, row))
    rewrite(change, kept)
    return change


def settle_repeats(change: Change, live: Sequence[SegmentPlan],
                   new_keys: np.ndarray) -> list[tuple[SegmentPlan, int]]:
    """Kept articles whose rows must be written again because a sentence they hold became
    repeated or unique: the keys (sentence hashes) of rows that appear or disappear are the
    only ones whose counts change. ``new_keys``: those of the rows ``change.write`` will
    have. Returns ``(segment, article row)`` pairs; the caller rewrites them."""
    touched = [new_keys]
    for seg in live:
        gone = change.dead.get(seg.name)
        if gone:
            touched.append(seg.keys[np.isin(seg.article_of_row, sorted(gone))])
    keys = np.unique(np.concatenate(touched)) if touched else np.zeros(0, "S16")
    counts = count_keys(keys, change, live, new_keys)
    flips: list[tuple[SegmentPlan, int]] = []
    for seg in live:
        alive = alive_rows(seg, change)
        rows = alive[np.isin(seg.keys[alive], keys)]
        if not len(rows):
            continue
        want = counts[np.searchsorted(keys, seg.keys[rows])] > 1
        wrong = rows[want != seg.repeated[rows].astype(bool)]
        flips += [(seg, int(a)) for a in np.unique(seg.article_of_row[wrong]).tolist()]
    return flips


def count_keys(keys: np.ndarray, change: Change, live: Sequence[SegmentPlan],
               new_keys: np.ndarray) -> np.ndarray:
    """How many rows of the index after ``change`` hold each of ``keys`` (sorted)."""
    counts = np.zeros(len(keys), np.int64)
    if not len(keys):
        return counts
    for seg_keys in [new_keys] + [seg.keys[alive_rows(seg, change)] for seg in live]:
        pos = np.minimum(np.searchsorted(keys, seg_keys), len(keys) - 1)
        np.add.at(counts, pos[keys[pos] == seg_keys], 1)
    return counts


def alive_rows(seg: SegmentPlan, change: Change) -> np.ndarray:
    """Rows of ``seg`` that stay live after ``change``."""
    gone = change.dead.get(seg.name)
    if not gone:
        return np.arange(len(seg.keys))
    return np.flatnonzero(~np.isin(seg.article_of_row, sorted(gone)))


def rewrite(change: Change, kept: list[tuple[SegmentPlan, int]]) -> None:
    """Write the kept articles ``(segment, article row)`` again, tombstoning their rows."""
    by_segment: dict[str, tuple[SegmentPlan, list[int]]] = {}
    for seg, row in kept:
        by_segment.setdefault(seg.name, (seg, []))[1].append(row)
    for seg, rows in by_segment.values():
        rows = sorted(set(rows) - change.dead.get(seg.name, set()))
        change.write += seg.read_articles(rows)
        change.origins += [seg.origins[r] for r in rows]
        change.dead.setdefault(seg.name, set()).update(rows)
        change.rewritten += len(rows)

