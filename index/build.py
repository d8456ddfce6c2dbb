"""Build, or update, an index directory from a corpus: an update costs what changed.

The build reads the given paths and compares them with the live generation (index.changes):
new and changed articles are written as one new segment, the rows of changed and removed ones
are tombstoned, and a new generation naming the live segments is committed (index.store);
unchanged articles are not even split into sentences again. Then the merge policy
(index.merge) may combine small segments, after the update is live.

Embedding is the only expensive step, so every embedded vector is keyed by a hash of the exact
text embedded (index.embed_cache). A build reuses the vectors of the live segments and of any
interrupted build's checkpoint, and embeds only texts it has never seen: an edited article
costs its changed sentences, boilerplate repeated across articles is embedded once, and a
killed build resumes where its last checkpointed batch ended.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from index import changes, merge, segments, store
from index import dense as dense_index
from index.chunk import DEFAULT_CONTEXT, embed_text
from index.corpus import Article, Corpus, Skipped, read_corpus
from index.embed_cache import CHECKPOINT_DIR, EmbeddingCache
from index.encoder import Encoder
from index.lexical import ANALYZER_VERSION, LexicalIndex
from index.segment import MAX_SENTENCE_CHARS, split_sentences
from index.segments import SegmentData, content_hash
from index.sentences import SentenceTable

if TYPE_CHECKING:
    from index.cluster import RayCluster
    from index.generation import Live

logger = logging.getLogger(__name__)

__all__ = ["BuildReport", "build_index", "CHECKPOINT_DIR"]

Progress = Callable[[int, int], None]
#: Texts embedded between two checkpoints: small enough to lose little on a crash.
CHECKPOINT_EVERY = 512


@dataclass
class BuildReport:
    index_dir: Path
    generation: str
    articles: int  # live in the index afterwards
    sentences: int  # live in the index afterwards
    distinct_texts: int  # of the new segment
    embedded: int
    reused: int
    seconds: float
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    formats: dict[str, int] = field(default_factory=dict)  # articles read per format
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    rewritten: int = 0  # kept articles written again (see index.changes)
    written: int = 0  # sentences in the new segment (0: nothing changed)
    segments: int = 0  # in the live generation afterwards
    merged: int = 0  # segments merged away by the merge policy or --merge


def build_index(
    paths: Iterable[str | Path],
    index_dir: str | Path,
    *,
    encoder: Encoder | Callable[[], Encoder] | None = None,
    context: str = DEFAULT_CONTEXT,
    progress: Progress | None = None,
    wait: bool = False,
    merge_all: bool = False,
    cluster: RayCluster | None = None,
    dense: str | None = None,
) -> BuildReport:
    """Read ``paths``, write what changed as a new segment, and switch ``index_dir`` to it.

    ``encoder`` is an :class:`Encoder` or a function that makes one (default: ``Encoder``).
    An encoder the build made itself is let go as soon as the embedding is done, so that the
    model (~1 GB with its int8 runtime) is not held through the FAISS and BM25 builds; none is
    made when ``paths`` is empty. ``merge_all`` merges every segment into one afterwards.
    ``cluster`` (index.cluster) reads, splits and embeds on a Ray cluster; its encoder is the
    default then. Everything else, and the index it writes, is the same. ``dense``: the dense
    tier (index.dense.TIERS: "auto" by size, "compact" for IVF-PQ); None keeps the index's.
    Another tier than the index's writes every article again (vectors reused, not embedded).

    Articles already indexed from files under none of ``paths`` are kept (index.changes).
    One build at a time writes to ``index_dir``: another running one makes this raise
    :class:`~index.store.IndexBusyError` at once, or wait for it with ``wait``. A full disk
    raises :class:`~index.store.IndexSpaceError` with this build's temporary files removed.
    """
    index_dir, started = Path(index_dir), time.perf_counter()
    if dense is not None and dense not in dense_index.TIERS:
        raise ValueError(f"dense tier {dense!r}: choose one of {', '.join(dense_index.TIERS)}")
    with store.build_lock(index_dir, wait=wait):
        report = _build(list(paths), index_dir, encoder, context, progress, cluster, dense)
        done = merge.run(index_dir, force=merge_all)
        if done is not None:
            report.generation, report.merged, report.segments = (
                done.generation, done.merged, done.segments)
        report.seconds = time.perf_counter() - started
        return report


def _build(paths: list[str | Path], index_dir: Path,
           encoder: Encoder | Callable[[], Encoder] | None, context: str,
           progress: Progress | None, cluster: RayCluster | None,
           dense: str | None) -> BuildReport:
    split: Callable[[str], list[tuple[int, int]]] = split_sentences
    live, warning = _read_live(index_dir)
    if not paths:
        corpus = Corpus([], [], [])
    elif cluster is not None:
        corpus, split = cluster.read(paths)
    else:  # files unchanged since the live generation read them are not read again
        corpus = read_corpus(paths, live.sources if live else None)
    if warning:
        corpus.warnings.append(warning)
    report = BuildReport(index_dir, live.generation.name if live else "", 0, 0, 0, 0, 0, 0.0,
                         corpus.skipped, corpus.warnings, corpus.formats)
    if not paths:
        if live is None:
            raise store.IndexMissingError(f"No index at {index_dir}. "
                                          f"{store.rebuild_hint(index_dir)}")
        return _summarize(report, live.manifest["counts"], len(live.segments))
    owned = encoder is None or callable(encoder)
    encoder = (encoder or (cluster.encoder if cluster else Encoder))() if owned else encoder
    model = {"name": encoder.name, "fingerprint": encoder.fingerprint, "dim": encoder.dim,
             "backend": encoder.backend}
    settings = {"context": context, "max_sentence_chars": MAX_SENTENCE_CHARS,
                "analyzer_version": ANALYZER_VERSION}
    tier = dense or (live.manifest["settings"].get("dense_tier", "auto") if live else "auto")
    if tier != "auto":  # absent for "auto", as in indexes made before tiers
        settings["dense_tier"] = tier
    keep_rows = live is not None and live.manifest["settings"] == settings and all(
        live.manifest["model"][k] == model[k] for k in ("fingerprint", "dim"))
    segs = live.segments if live else []
    if corpus.unread and not (keep_rows and live and _unread_hold(corpus, live)):
        corpus = read_corpus(paths)
        corpus.warnings += [warning] if warning else []
        report.skipped, report.warnings, report.formats = (
            corpus.skipped, corpus.warnings, corpus.formats)
    roots = changes.resolved_roots(paths)
    change = changes.plan(corpus.articles, corpus.origins, roots, segs,
                          live.tombstones if live else {}, keep_rows=keep_rows,
                          unread=corpus.unread)
    rows, texts, keys = _rows(change.write, split)
    if keep_rows and (flips := changes.settle_repeats(change, segs, keys)):
        changes.rewrite(change, flips)
        rows, texts, keys = _rows(change.write, split)
    for name in ("added", "changed", "removed", "unchanged", "rewritten"):
        setattr(report, name, getattr(change, name))
    kept = segs if keep_rows else []
    sources = {path: rec for path, rec in (live.sources if live else {}).items()
               if not changes.under(path, roots)} | corpus.files
    if keep_rows and change.empty and sources == live.sources:
        return _summarize(report, live.manifest["counts"], len(segs))
    names, dead = [], {}
    for seg in kept:
        gone = change.dead.get(seg.name, set())
        if len(gone) < len(seg.ids):
            names.append(seg.name)
            if gone:
                dead[seg.name] = sorted(gone)
    cache = EmbeddingCache(index_dir, encoder.fingerprint, segs)
    if change.write:
        counts = changes.count_keys(np.unique(keys), change, kept, keys)
        repeated = counts[np.searchsorted(np.unique(keys), keys)] > 1
        vectors, hashes = _embed(change.write, rows, texts, repeated, context, encoder, cache,
                                 progress, report, index_dir)
        if owned:
            del encoder
            if report.embedded > CHECKPOINT_EVERY:  # a collection costs ~0.5 s: big builds only
                _release_memory()
        data = SegmentData(change.write, change.origins, SentenceTable.from_rows(rows), hashes,
                           keys, repeated, vectors, LexicalIndex.build(texts), model, settings)
        try:
            names.append(segments.write(index_dir, data))
        except BaseException as exc:
            if store.no_space(exc):
                cache.clear()
                raise store.space_error(index_dir, store.estimated_bytes(data), exc) from exc
            raise
    live_counts = _live_counts(kept, change, len(change.write), len(rows))
    info = {"model": model, "settings": settings, "counts": live_counts,
            "corpus_sha256": _corpus_hash(kept, change),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "skipped": [{"path": s.path, "reason": s.reason} for s in corpus.skipped],
            "update": {k: getattr(change, k) for k in
                       ("added", "changed", "removed", "unchanged", "rewritten")}}
    report.generation = store.commit(index_dir, names, dead, info, {
        path: rec.to_json() for path, rec in sorted(sources.items())}).name
    cache.clear()
    report.written = len(rows)
    return _summarize(report, live_counts, len(names))


def _summarize(report: BuildReport, counts: dict[str, int], n_segments: int) -> BuildReport:
    report.articles, report.sentences = counts["articles"], counts["sentences"]
    report.segments = n_segments
    return report


def _read_live(index_dir: Path) -> tuple[store.Live | None, str]:
    """The live generation to update, or None (and why, when there is one) to build anew."""
    try:
        return store.read_live(index_dir), ""
    except store.IndexFormatError as exc:
        return None, (f"{exc} Building it anew from the given paths only (articles of other "
                      "sources in the old index are not carried over).")
    except store.IndexCorruptError as exc:
        return None, (f"{exc} Building it anew from the given paths only.")


def _unread_hold(corpus: Corpus, live: Live) -> bool:
    """Whether the live articles of the files read_corpus left unread (unchanged on disk) are
    what reading those files again would give: each file's articles are all live, none of
    their ids was renamed as a duplicate, and none is the id of an article read now (which
    of two articles keeps a shared id depends on the order of the files)."""
    held: dict[str, int] = dict.fromkeys(corpus.unread, 0)
    ids: set[str] = set()
    for seg in live.segments:
        gone = live.tombstones.get(seg.name, set())
        for row, origin in enumerate(seg.origins):
            if origin in held and row not in gone:
                held[origin] += 1
                ids.add(seg.ids[row])
    return (all(held[f] == corpus.files[f].articles and not corpus.files[f].renamed
                for f in corpus.unread)
            and not any(article.id in ids for article in corpus.articles))


def _rows(articles: list[Article], split: Callable[[str], list[tuple[int, int]]]
          ) -> tuple[list[tuple[int, int, int]], list[str], np.ndarray]:
    """Each sentence's (article row, start, end), its text, and the hash of its text."""
    rows = [(a, s, e) for a, art in enumerate(articles) for s, e in split(art.text)]
    texts = [articles[a].text[s:e] for a, s, e in rows]
    return rows, texts, np.array([store.text_hash(t) for t in texts], dtype="S16")


def _embed(articles: list[Article], rows: list[tuple[int, int, int]], texts: list[str],
           repeated: np.ndarray, context: str, encoder: Encoder, cache: EmbeddingCache,
           progress: Progress | None, report: BuildReport,
           index_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The vector and the embedded text's hash of every row: from the cache, else embedded."""
    # A sentence found in several articles (of the whole index, not just this update) is
    # boilerplate (bylines, "follow us on..."): its headline says nothing about it, so it is
    # embedded alone, once for the whole corpus.
    embedded = [t if rep else embed_text(articles[a].title, t, context)
                for (a, _, _), t, rep in zip(rows, texts, repeated.tolist(), strict=True)]
    hashes = np.array([store.text_hash(t) for t in embedded], dtype="S16")
    # One row per distinct text; each is embedded (or found in the cache) once and written
    # straight into the segment's vector matrix: no second copy of the vectors is ever held.
    distinct, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    vectors = np.empty((len(hashes), encoder.dim), np.float32)
    found = cache.fill(distinct, vectors, first)
    todo = [(distinct[j], embedded[first[j]], first[j]) for j in np.flatnonzero(~found).tolist()]
    try:
        cache.embed(encoder, todo, vectors, progress, CHECKPOINT_EVERY)
    except BaseException as exc:
        if store.no_space(exc):
            cache.clear()
            # About what the rest of the build writes: its checkpoints, then the segment.
            raise store.space_error(index_dir, 3 * vectors.nbytes, exc) from exc
        raise
    source = first[inverse]  # the row whose vector each row shares
    repeats = np.flatnonzero(source != np.arange(len(hashes)))
    vectors[repeats] = vectors[source[repeats]]
    report.distinct_texts, report.embedded = len(distinct), len(todo)
    report.reused = int(found.sum())
    return vectors, hashes


def _live_counts(kept: list, change: changes.Change, articles: int,
                 sentences: int) -> dict[str, int]:
    for seg in kept:
        gone = change.dead.get(seg.name, set())
        articles += len(seg.ids) - len(gone)
        sentences += len(changes.alive_rows(seg, change))
    return {"articles": articles, "sentences": sentences}


def _corpus_hash(kept: list, change: changes.Change) -> str:
    """sha256 over every live article's id and content hash, in id order."""
    pairs = [(seg.ids[r], seg.content[r]) for seg in kept
             for r in range(len(seg.ids)) if r not in change.dead.get(seg.name, set())]
    pairs += [(a.id, content_hash(a)) for a in change.write]
    digest = hashlib.sha256()
    for article_id, content in sorted(pairs):
        digest.update(article_id.encode("utf-8", "surrogatepass") + b"\0" + content.encode())
    return digest.hexdigest()


def _release_memory() -> None:
    """Collect, then ask glibc to hand freed heap pages back (the model leaves ~250 MB there)."""
    gc.collect()
    # Not glibc: nothing to do, the freed pages are reused by later allocations.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)
