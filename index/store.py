"""The index on disk: a versioned directory of plain files, switched into place atomically.

Layout of an index directory ``DIR``::

    DIR/CURRENT            name of the live generation (replaced atomically with os.replace)
    DIR/gen-<stamp>/       one complete build: manifest.json, articles.jsonl, sentences.npy,
                           hashes.npy, vectors.npy, dense.faiss, lexical/
    DIR/.checkpoint/       embedded batches of an unfinished build (see index.build)

A build writes a whole new generation, then flips ``CURRENT``; a reader follows ``CURRENT``.
Killing a build at any moment leaves the previous generation live and intact. No pickle.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from index import dense as dense_index
from index.corpus import Article
from index.lexical import LexicalIndex
from index.sentences import SentenceTable

FORMAT_VERSION = 1
CURRENT = "CURRENT"
MANIFEST = "manifest.json"


class StoreError(RuntimeError):
    """Base class: the index cannot be used as it is; the message names the fix."""


class IndexMissingError(StoreError):
    pass


class IndexFormatError(StoreError):
    pass


class IndexModelMismatchError(StoreError):
    pass


class IndexCorruptError(StoreError):
    pass


def rebuild_hint(index_dir: Path) -> str:
    return f"Rebuild it: daleel build CORPUS_PATH --index {index_dir}"


@dataclass
class IndexData:
    """Everything a loaded index holds; row i of each part is sentence i (see
    :class:`~index.sentences.SentenceTable`)."""

    manifest: dict[str, Any]
    articles: list[Article]
    sentences: SentenceTable
    hashes: np.ndarray  # S16 (N,): hash of the text that was embedded for the row
    vectors: np.ndarray  # float32 (N, dim), L2-normalized
    dense: Any  # faiss.Index over vectors (inner product)
    lexical: LexicalIndex
    generation: str = ""

    @cached_property
    def article_rows(self) -> dict[str, int]:
        """Article row by article id."""
        return {a.id: i for i, a in enumerate(self.articles)}

    @cached_property
    def article_first_row(self) -> np.ndarray:
        """First sentence row of each article (rows are grouped by article, in order)."""
        arts = self.sentences.article
        return np.searchsorted(arts, np.arange(len(self.articles)), side="left")

    @cached_property
    def article_body_row(self) -> np.ndarray:
        """First row of each article that is not its headline."""
        first = self.article_first_row.copy()
        for a, row in enumerate(first.tolist()):
            if row < len(self.sentences) and int(self.sentences.article[row]) == a:
                title = " ".join(self.articles[a].title.split())
                if title and " ".join(self.sentence_text(row).split()) == title:
                    first[a] = row + 1
        return first

    @cached_property
    def article_vectors(self) -> np.ndarray:
        """Normalized mean of each article's sentence vectors: what the article is about."""
        out = np.zeros((len(self.articles), self.vectors.shape[1]), dtype=np.float32)
        if len(self.sentences):
            starts = self.article_first_row
            nonempty = np.flatnonzero(np.diff(np.append(starts, len(self.sentences))) > 0)
            out[nonempty] = np.add.reduceat(np.asarray(self.vectors), starts[nonempty], axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def sentence_text(self, row: int) -> str:
        art, start, end = self.sentences.span(row)
        return self.articles[art].text[start:end]


def current_generation(index_dir: Path) -> Path | None:
    """The live generation directory, or None when nothing was ever built there."""
    pointer = index_dir / CURRENT
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return index_dir / name if name else None


def save(data: IndexData, index_dir: Path) -> Path:
    """Write ``data`` as a new generation and make it live; returns the generation path."""
    index_dir.mkdir(parents=True, exist_ok=True)
    previous = current_generation(index_dir)
    name = f"gen-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 10**6:06d}"
    tmp = index_dir / f".{name}.tmp"
    tmp.mkdir()
    with open(tmp / "articles.jsonl", "w", encoding="utf-8") as fh:
        for art in data.articles:
            fh.write(json.dumps(asdict(art), ensure_ascii=False) + "\n")
    np.save(tmp / "sentences.npy", SentenceTable(data.sentences).array, allow_pickle=False)
    np.save(tmp / "hashes.npy", data.hashes, allow_pickle=False)
    np.save(tmp / "vectors.npy", np.asarray(data.vectors, np.float32), allow_pickle=False)
    dense_index.save(data.dense, tmp / "dense.faiss")
    data.lexical.save(tmp / "lexical")
    manifest = dict(data.manifest)
    manifest["format_version"] = FORMAT_VERSION
    files = sorted(p for p in tmp.rglob("*") if p.is_file())
    manifest["files"] = {p.relative_to(tmp).as_posix(): p.stat().st_size for p in files}
    (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), "utf-8")
    _fsync_tree(tmp)
    os.rename(tmp, index_dir / name)
    pointer_tmp = index_dir / f".{CURRENT}.{os.getpid()}.tmp"
    pointer_tmp.write_text(name + "\n", encoding="utf-8")
    _fsync_file(pointer_tmp)
    os.replace(pointer_tmp, index_dir / CURRENT)  # the atomic switch
    _fsync_dir(index_dir)
    _prune(index_dir, keep={name, previous.name if previous else name})
    return index_dir / name


def load(index_dir: str | Path, *, fingerprint: str | None = None) -> IndexData:
    """Load the live generation, checking format, model fingerprint and file sizes."""
    index_dir = Path(index_dir)
    gen = _live(index_dir)
    manifest = read_manifest(gen, index_dir)
    _check_model(manifest, fingerprint, index_dir)
    try:
        with open(gen / "articles.jsonl", encoding="utf-8") as fh:
            articles = [Article(**json.loads(line)) for line in fh]
        sentences = SentenceTable(np.load(gen / "sentences.npy", allow_pickle=False))
        hashes = np.load(gen / "hashes.npy", allow_pickle=False)
        # Memory-mapped: FAISS holds its own copy; these rows are read only for a few
        # lexical-only candidates per question.
        vectors = np.load(gen / "vectors.npy", mmap_mode="r", allow_pickle=False)
        dense = dense_index.load(gen / "dense.faiss")
        lexical = LexicalIndex.load(gen / "lexical")
    except (OSError, ValueError, TypeError, RuntimeError, json.JSONDecodeError) as exc:
        raise IndexCorruptError(
            f"The index at {index_dir} is damaged ({type(exc).__name__}: {exc}). "
            f"{rebuild_hint(index_dir)}"
        ) from exc
    counts = manifest["counts"]
    n = int(counts["sentences"])
    if not (
        len(articles) == counts["articles"]
        and len(sentences) == n
        and hashes.shape == (n,)
        and vectors.shape == (n, manifest["model"]["dim"])
        and dense.ntotal == n
        and len(lexical) == n
    ):
        raise IndexCorruptError(
            f"The index at {index_dir} is inconsistent (counts differ from its manifest). "
            f"{rebuild_hint(index_dir)}"
        )
    return IndexData(manifest, articles, sentences, hashes, vectors, dense, lexical, gen.name)


def read_vectors(
    index_dir: str | Path, fingerprint: str
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(hashes, vectors)`` of the live generation (vectors memory-mapped), or None when
    there is none or another model built it: what a rebuild reuses instead of embedding."""
    index_dir = Path(index_dir)
    gen = current_generation(index_dir)
    if gen is None:
        return None
    if read_manifest(gen, index_dir)["model"]["fingerprint"] != fingerprint:
        return None
    return (
        np.load(gen / "hashes.npy", allow_pickle=False),
        np.load(gen / "vectors.npy", mmap_mode="r", allow_pickle=False),
    )


def read_model(index_dir: str | Path) -> dict[str, Any]:
    """The ``model`` block of the live generation's manifest (name, fingerprint, dim,
    backend): what :meth:`index.encoder.Encoder.from_manifest` takes."""
    index_dir = Path(index_dir)
    return read_manifest(_live(index_dir), index_dir)["model"]


def _live(index_dir: Path) -> Path:
    gen = current_generation(index_dir)
    if gen is None:
        raise IndexMissingError(f"No index at {index_dir}. {rebuild_hint(index_dir)}")
    return gen


def _check_model(manifest: dict[str, Any], fingerprint: str | None, index_dir: Path) -> None:
    model = manifest["model"]
    if fingerprint is not None and model["fingerprint"] != fingerprint:
        raise IndexModelMismatchError(
            f"The index at {index_dir} was built with embedding model {model['name']!r} "
            f"(fingerprint {model['fingerprint']}), not the model loaded now (fingerprint "
            f"{fingerprint}). Use the same --model, or {rebuild_hint(index_dir).lower()}"
        )


def read_manifest(gen: Path, index_dir: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((gen / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise IndexCorruptError(
            f"The index at {index_dir} has no readable manifest ({exc}). {rebuild_hint(index_dir)}"
        ) from exc
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise IndexFormatError(
            f"The index at {index_dir} has format version {version!r}; this daleel reads "
            f"version {FORMAT_VERSION}. {rebuild_hint(index_dir)}"
        )
    for rel, size in manifest.get("files", {}).items():
        path = gen / rel
        if not path.is_file() or path.stat().st_size != size:
            raise IndexCorruptError(
                f"The index at {index_dir} is damaged: {rel} is missing or truncated. "
                f"{rebuild_hint(index_dir)}"
            )
    return manifest


def text_hash(text: str) -> bytes:
    """16-byte hash of an embedded text: the key of the embedding cache."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _prune(index_dir: Path, keep: set[str]) -> None:
    """Remove old generations and leftovers of crashed builds (keeps the previous one)."""
    for child in index_dir.iterdir():
        if child.name in keep or not child.is_dir():
            continue
        crashed = child.name.startswith(".gen-") and child.suffix == ".tmp"
        if child.name.startswith("gen-") or crashed:
            shutil.rmtree(child, ignore_errors=True)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    for p in root.rglob("*"):
        if p.is_file():
            _fsync_file(p)
    for p in [root, *[d for d in root.rglob("*") if d.is_dir()]]:
        _fsync_dir(p)
