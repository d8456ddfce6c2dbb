"""Immutable index segments: a build or a merge writes one, nothing ever changes it after.

A segment is a folder ``DIR/segments/seg-<stamp>/`` holding the rows of some articles::

    manifest.json     counts, model, settings, and the checksums of every file below
    articles.jsonl    the articles, in row order
    catalog.json      each article's id, content hash and source file (what a build compares)
    sentences.npy     (N, 3) int64: article row *within this segment*, start, end
    hashes.npy        S16: hash of the text embedded for each row (the embedding cache's key)
    keys.npy          S16: hash of each row's sentence text (counting repeated sentences)
    repeated.npy      bool: the row was embedded without its headline, as a repeated sentence
    vectors.npy       (N, dim): float32, float16 in the compact tier; dense.faiss over them
                      (index.dense: flat, IVF or IVF-PQ codes, as the manifest's "dense" says)
    lexical/          raw BM25 postings (index.lexical.LexicalIndex)

It is written into ``segments/.seg-<stamp>.tmp`` and renamed into place, fsynced; only a
generation's commit point (index.store) makes it part of the live index. Generations refer to
segments by name rather than holding hard links to their files: a generation stays a few
hundred bytes, pruning is reference counting over the kept generations, and nothing depends on
the file system supporting links.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

from index import checksums
from index import dense as dense_index
from index.corpus import Article
from index.lexical import LexicalIndex
from index.sentences import SentenceTable

SEGMENTS = "segments"
MANIFEST = "manifest.json"
NAME = re.compile(r"seg-[0-9A-Za-z_-]{1,80}")
#: Files a build reads to plan an update (small; checked whole), and the vector file it reads
#: rows of (checked by the blocks holding them).
PLAN_FILES = ("catalog.json", "sentences.npy", "hashes.npy", "keys.npy", "repeated.npy")


class SegmentError(ValueError):
    """A segment's files are missing, damaged or inconsistent; the store names the index."""


@dataclass
class SegmentData:
    """What a build or a merge writes as one segment; row i of each array is sentence i."""

    articles: list[Article]
    origins: list[str]  # the file each article was read from (resolved), "" if unknown
    sentences: SentenceTable
    hashes: np.ndarray
    keys: np.ndarray
    repeated: np.ndarray
    vectors: np.ndarray
    lexical: LexicalIndex
    model: dict[str, Any]
    settings: dict[str, Any]


def content_hash(article: Article) -> str:
    """What decides an article's rows: every field but ``path`` (an article moved to another
    file or line is the same article). xxh3-128: a change detector, not a signature, and ten
    times faster than blake2 (0.7 s -> 0.1 s over the 31,525 ANT articles here)."""
    fields = (article.id, article.title, article.text, article.url, article.date, article.source)
    digest = xxhash.xxh3_128()
    for f in fields:
        digest.update(f.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()


def write(index_dir: Path, data: SegmentData) -> str:
    """Write ``data`` as a new segment of ``index_dir``; returns its name. Nothing refers to it
    until a generation lists it."""
    root = index_dir / SEGMENTS
    root.mkdir(parents=True, exist_ok=True)
    name = f"seg-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 10**9:09d}"
    tmp = root / f".{name}.tmp"
    try:
        _write_files(data, tmp)
        os.rename(tmp, root / name)
        checksums.fsync_dir(root)
    except BaseException:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return name


def _write_files(data: SegmentData, tmp: Path) -> None:
    tmp.mkdir()
    with open(tmp / "articles.jsonl", "w", encoding="utf-8") as fh:
        for art in data.articles:
            fh.write(json.dumps(asdict(art), ensure_ascii=False) + "\n")
    catalog = {"ids": [a.id for a in data.articles],
               "content": [content_hash(a) for a in data.articles], "origins": data.origins}
    (tmp / "catalog.json").write_text(json.dumps(catalog, ensure_ascii=False), "utf-8")
    dense = dense_index.kind(len(data.hashes), data.settings.get("dense_tier", "auto"))
    for name, array in (("sentences", data.sentences.array), ("hashes", data.hashes),
                        ("keys", data.keys), ("repeated", data.repeated.astype(bool))):
        np.save(tmp / f"{name}.npy", array, allow_pickle=False)
    # Written through a memory map: numpy casts as it copies, so no converted copy is held.
    vectors = np.lib.format.open_memmap(tmp / "vectors.npy", "w+", dense_index.VECTOR_DTYPE[dense],
                                        data.vectors.shape)
    vectors[:] = data.vectors
    vectors.flush()
    del vectors
    dense_index.save(dense_index.make(data.vectors, dense), tmp / "dense.faiss")
    data.lexical.save(tmp / "lexical")
    manifest = {
        "model": data.model,
        "settings": {**data.settings, "dense": dense},
        "counts": {"articles": len(data.articles), "sentences": len(data.hashes)},
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **checksums.describe(tmp),
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), "utf-8")
    checksums.fsync_tree(tmp)


def manifest_digest(folder: Path) -> str:
    """Checksum of a segment's manifest, which holds the checksums of all its files: what a
    generation records to know the segment it names is the one it committed."""
    return checksums.whole_and_blocks(folder / MANIFEST)[0]


def read_manifest(folder: Path, digest: str | None = None) -> dict[str, Any]:
    try:
        if digest is not None and manifest_digest(folder) != digest:
            raise SegmentError(f"segment {folder.name}'s manifest is not the one committed")
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        if isinstance(exc, SegmentError):
            raise
        raise SegmentError(f"segment {folder.name} has no readable manifest ({exc})") from exc
    problem = checksums.shape_problem(manifest) if isinstance(manifest, dict) else "not a dict"
    counts = manifest.get("counts") if isinstance(manifest, dict) else None
    if problem is None and not (isinstance(counts, dict) and all(
            type(counts.get(k)) is int for k in ("articles", "sentences"))):
        problem = "'counts' needs articles and sentences"
    if problem:
        raise SegmentError(f"segment {folder.name}'s manifest is malformed ({problem})")
    return manifest


def _fail(folder: Path):
    return lambda what: SegmentError(f"segment {folder.name}: {what}")


@dataclass
class SegmentPlan:
    """What a build needs of a segment to plan an update: no vectors, text or FAISS."""

    name: str
    folder: Path
    manifest: dict[str, Any]
    ids: list[str]
    content: list[str]
    origins: list[str]
    article_of_row: np.ndarray
    hashes: np.ndarray
    keys: np.ndarray
    repeated: np.ndarray

    @classmethod
    def read(cls, folder: Path, digest: str | None = None) -> SegmentPlan:
        manifest = read_manifest(folder, digest)
        # The files read here whole; the others by sample, as loading does: a build keeps this
        # segment live, so damage that loading would report makes the build start anew.
        checksums.check_all(folder, manifest, _fail(folder), full=True, only=PLAN_FILES)
        checksums.check_all(folder, manifest, _fail(folder), full=False,
                            only=[f for f in manifest["files"] if f not in PLAN_FILES])
        try:
            catalog = json.loads((folder / "catalog.json").read_text(encoding="utf-8"))
            arrays = {n: np.load(folder / f"{n}.npy", allow_pickle=False)
                      for n in ("sentences", "hashes", "keys", "repeated")}
        except (OSError, ValueError) as exc:
            raise SegmentError(f"segment {folder.name} is damaged ({exc})") from exc
        plan = cls(folder.name, folder, manifest, catalog["ids"], catalog["content"],
                   catalog["origins"], arrays["sentences"].reshape(-1, 3)[:, 0],
                   arrays["hashes"], arrays["keys"], arrays["repeated"])
        n, a = manifest["counts"]["sentences"], manifest["counts"]["articles"]
        if not (len(plan.ids) == len(plan.content) == len(plan.origins) == a
                and len(plan.hashes) == len(plan.keys) == len(plan.repeated) == n):
            raise SegmentError(f"segment {folder.name} is inconsistent with its manifest")
        return plan

    def vector_rows(self, rows: np.ndarray) -> np.ndarray:
        """The stored vectors of ``rows`` (float32), the blocks holding them checked first: a
        damaged vector must not spread into the next segment."""
        vectors = np.load(self.folder / "vectors.npy", mmap_mode="r", allow_pickle=False)
        width = vectors.shape[1] * vectors.dtype.itemsize
        checksums.check_byte_ranges(self.folder, "vectors.npy", self.manifest, _fail(self.folder),
                                    vectors.offset + np.asarray(rows, np.int64) * width, width)
        return np.asarray(vectors[np.asarray(rows)], np.float32)

    def read_articles(self, rows: list[int]) -> list[Article]:
        """The stored articles at ``rows`` (article rows of this segment)."""
        wanted, out = set(rows), {}
        with open(self.folder / "articles.jsonl", encoding="utf-8") as fh:
            for i, line in enumerate(fh):
                if i in wanted:
                    out[i] = Article(**json.loads(line))
        return [out[r] for r in rows]


class Segment:
    """A loaded segment (read-only): its articles, rows, vectors (memory-mapped), FAISS index
    and postings, with the per-article arrays retrieval derives from them, computed once."""

    def __init__(self, folder: Path, digest: str | None = None) -> None:
        self.name, self.folder = folder.name, folder
        self.manifest = manifest = read_manifest(folder, digest)
        self.digest = digest or manifest_digest(folder)
        checksums.check_all(folder, manifest, _fail(folder), full=False)
        try:
            with open(folder / "articles.jsonl", encoding="utf-8") as fh:
                self.articles = [Article(**json.loads(line)) for line in fh]
            self.sentences = SentenceTable(np.load(folder / "sentences.npy", allow_pickle=False))
            self.hashes = np.load(folder / "hashes.npy", allow_pickle=False)
            # Memory-mapped: read for a few lexical-only candidates per question, and by the
            # compact tier's re-scoring (flat and IVF hold their own copy in FAISS).
            self.vectors = np.load(folder / "vectors.npy", mmap_mode="r", allow_pickle=False)
            self.dense = dense_index.load(folder / "dense.faiss", self.vectors)
            self.lexical = LexicalIndex.load(folder / "lexical")
        except (OSError, ValueError, TypeError, RuntimeError, json.JSONDecodeError) as exc:
            raise SegmentError(f"segment {self.name} is damaged ({type(exc).__name__}: "
                               f"{exc})") from exc
        n, dim = manifest["counts"]["sentences"], manifest["model"]["dim"]
        if not (len(self.articles) == manifest["counts"]["articles"] and len(self.sentences) == n
                and self.hashes.shape == (n,) and self.vectors.shape == (n, dim)
                and self.dense.ntotal == n and len(self.lexical) == n
                and (n == 0 or int(self.sentences.article.max()) < len(self.articles))):
            raise SegmentError(f"segment {self.name} is inconsistent (counts differ from its "
                               "manifest)")

    @cached_property
    def first_row(self) -> np.ndarray:
        """First row of each article (rows are grouped by article, in order)."""
        return np.searchsorted(self.sentences.article, np.arange(len(self.articles)), "left")

    @cached_property
    def body_offset(self) -> np.ndarray:
        """1 where an article's first row is its headline (its body starts one row later)."""
        out = np.zeros(len(self.articles), np.int64)
        arts = self.sentences.article
        for a, row in enumerate(self.first_row.tolist()):
            if row < len(arts) and int(arts[row]) == a:
                title = " ".join(self.articles[a].title.split())
                _, start, end = self.sentences.span(row)
                if title and " ".join(self.articles[a].text[start:end].split()) == title:
                    out[a] = 1
        return out

    @cached_property
    def article_vectors(self) -> np.ndarray:
        """Normalized mean of each article's sentence vectors: what the article is about."""
        out = np.zeros((len(self.articles), self.vectors.shape[1]), dtype=np.float32)
        if len(self.sentences):
            starts = self.first_row
            nonempty = np.flatnonzero(np.diff(np.append(starts, len(self.sentences))) > 0)
            out[nonempty] = np.add.reduceat(self.vectors, starts[nonempty], axis=0,
                                            dtype=np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


def verify(folder: Path, digest: str | None = None) -> int:
    """Check every byte of every file of a segment; returns the bytes checked."""
    manifest = read_manifest(folder, digest)
    checksums.check_all(folder, manifest, _fail(folder), full=True)
    return sum(manifest["files"].values())


def read_data(folder: Path, digest: str | None = None) -> SegmentData:
    """Everything a segment holds, every file checked whole: what a merge copies from."""
    manifest = read_manifest(folder, digest)
    checksums.check_all(folder, manifest, _fail(folder), full=True)
    try:
        with open(folder / "articles.jsonl", encoding="utf-8") as fh:
            articles = [Article(**json.loads(line)) for line in fh]
        catalog = json.loads((folder / "catalog.json").read_text(encoding="utf-8"))
        arrays = {n: np.load(folder / f"{n}.npy", allow_pickle=False)
                  for n in ("sentences", "hashes", "keys", "repeated")}
        vectors = np.load(folder / "vectors.npy", mmap_mode="r", allow_pickle=False)
        lexical = LexicalIndex.load(folder / "lexical")
    except (OSError, ValueError, TypeError, json.JSONDecodeError) as exc:
        raise SegmentError(f"segment {folder.name} is damaged ({type(exc).__name__}: "
                           f"{exc})") from exc
    settings = {k: v for k, v in manifest["settings"].items() if k != "dense"}
    return SegmentData(articles, catalog["origins"], SentenceTable(arrays["sentences"]),
                       arrays["hashes"], arrays["keys"], arrays["repeated"], vectors, lexical,
                       manifest["model"], settings)

