"""The index on disk: a versioned directory of plain files, switched into place atomically.

Layout of an index directory ``DIR``::

    DIR/CURRENT            name of the live generation (replaced atomically with os.replace)
    DIR/gen-<stamp>/       one complete build: manifest.json, articles.jsonl, sentences.npy,
                           hashes.npy, vectors.npy, dense.faiss, lexical/
    DIR/.checkpoint/       embedded batches of an unfinished build (see index.build)
    DIR/.build.lock        held (flock) by the one build writing to DIR; see build_lock

A build writes a whole new generation, then flips ``CURRENT``; a reader follows ``CURRENT``.
Killing a build at any moment leaves the previous generation live and intact. No pickle.

The manifest records an xxh3-128 checksum of every file and one per 1 MiB block. Loading checks
files of one block whole and the first, last and two random blocks of larger ones (a different
sample each time): 4 ms on a 2,000-article index, 9 ms on the full corpus (BENCHMARKS.md
section 7). ``daleel verify`` (:func:`verify`) checks every byte.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

from index import dense as dense_index
from index.corpus import Article
from index.lexical import LexicalIndex
from index.sentences import SentenceTable

#: 2: the manifest holds checksums (version 1 indexes are rebuilt).
FORMAT_VERSION = 2
CURRENT = "CURRENT"
MANIFEST = "manifest.json"
LOCK = ".build.lock"
BLOCK = 1 << 20
#: Loading checks a file of up to this many blocks whole; of a larger one, the first and last
#: blocks and SAMPLED_BLOCKS more at random.
WHOLE_BLOCKS = 1
SAMPLED_BLOCKS = 2
_GENERATION = re.compile(r"gen-[0-9A-Za-z_-]{1,80}")


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


class IndexBusyError(StoreError):
    pass


class IndexSpaceError(StoreError):
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
    """The live generation directory, or None when nothing was ever built there.

    ``CURRENT`` must name a generation inside ``index_dir`` (``gen-...``, no path): anything
    else (binary, a folder, a path elsewhere) is IndexCorruptError."""
    try:
        with open(index_dir / CURRENT, "rb") as fh:
            raw = fh.read(257)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _corrupt(index_dir, f"its {CURRENT} cannot be read ({exc.strerror or exc})") from exc
    try:
        name = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        name = None
    if name is None or not _GENERATION.fullmatch(name):
        raise _corrupt(index_dir, f"its {CURRENT} file does not name a generation of this index")
    gen = index_dir / name
    if not gen.is_dir():
        raise _corrupt(index_dir, f"its live generation {name} is missing")
    return gen


def _corrupt(index_dir: Path, what: str) -> IndexCorruptError:
    return IndexCorruptError(f"The index at {index_dir} is damaged: {what}. "
                             f"{rebuild_hint(index_dir)}")


@contextlib.contextmanager
def build_lock(index_dir: Path, *, wait: bool = False) -> Iterator[None]:
    """Hold the exclusive build lock of ``index_dir`` (made if needed) for the ``with`` body.

    Another holder makes this raise IndexBusyError at once, or block until it is done with
    ``wait``. The lock is a kernel ``flock``: a killed build releases it as it dies, so a
    stale lock file (with a dead pid in it) never blocks anyone."""
    index_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(index_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            if not wait:
                raise IndexBusyError(
                    f"Another build (pid {holder}) is running on {index_dir}. Wait for it to "
                    "finish, or pass --wait to start this one when it does."
                ) from None
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def save(data: IndexData, index_dir: Path) -> Path:
    """Write ``data`` as a new generation and make it live; returns the generation path.

    Call it holding :func:`build_lock`. If the disk fills up, nothing of the new generation
    is left behind and IndexSpaceError says how much space it needs."""
    index_dir.mkdir(parents=True, exist_ok=True)
    previous = current_generation(index_dir)
    name = f"gen-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 10**6:06d}"
    tmp = index_dir / f".{name}.tmp"
    pointer_tmp = index_dir / f".{CURRENT}.{os.getpid()}.tmp"
    try:
        _write_generation(data, tmp)
        os.rename(tmp, index_dir / name)
        pointer_tmp.write_text(name + "\n", encoding="utf-8")
        _fsync_file(pointer_tmp)
    except BaseException as exc:
        for path in (tmp, index_dir / name):  # not live yet: CURRENT still names `previous`
            shutil.rmtree(path, ignore_errors=True)
        pointer_tmp.unlink(missing_ok=True)
        if no_space(exc):
            raise space_error(index_dir, estimated_bytes(data), exc) from exc
        raise
    os.replace(pointer_tmp, index_dir / CURRENT)  # the atomic switch
    _fsync_dir(index_dir)
    _prune(index_dir, keep={name, previous.name if previous else name})
    return index_dir / name


def _write_generation(data: IndexData, tmp: Path) -> None:
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
    sums = {p.relative_to(tmp).as_posix(): _checksums(p) for p in files}
    manifest["checksums"] = {rel: whole for rel, (whole, _) in sums.items()}
    manifest["blocks"] = {rel: blocks for rel, (_, blocks) in sums.items()}
    (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), "utf-8")
    _fsync_tree(tmp)


def no_space(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk (or quota) is full; FAISS and numpy say it in words."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(exc, OSError | RuntimeError) and "No space left on device" in str(exc)


def space_error(index_dir: Path, needed: int, exc: BaseException) -> IndexSpaceError:
    """The out-of-space error for a write under ``index_dir`` that needed about ``needed``."""
    try:
        free = shutil.disk_usage(index_dir).free
    except OSError:
        free = 0
    mb = 1 << 20
    return IndexSpaceError(
        f"The disk holding {index_dir} is full ({type(exc).__name__}): this build needs about "
        f"{needed / mb:,.0f} MB ({needed:,} bytes) there and {free / mb:,.0f} MB ({free:,} "
        "bytes) are free. Free some space or build into another --index, then run the build "
        "again; the previous index is untouched and the build's temporary files are removed."
    )


def estimated_bytes(data: IndexData) -> int:
    """About what a generation of ``data`` takes on disk (the flat/IVF index copies vectors)."""
    text = sum(len(a.text) + len(a.title) for a in data.articles) * 2
    vectors = int(np.asarray(data.vectors).nbytes)
    return (text + 2 * vectors + int(data.hashes.nbytes) + data.sentences.array.nbytes
            + data.lexical.nbytes)


def load(index_dir: str | Path, *, fingerprint: str | None = None) -> IndexData:
    """Load the live generation, checking its manifest, model fingerprint and checksums."""
    index_dir = Path(index_dir)
    gen = _live(index_dir)
    manifest = read_manifest(gen, index_dir)
    _check_model(manifest, fingerprint, index_dir)
    check_files(gen, manifest, index_dir, full=False)
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
    n = counts["sentences"]
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


def verify(index_dir: str | Path) -> dict[str, Any]:
    """Check every file of the live generation against its checksum (``daleel verify``).

    Returns the manifest's ``counts`` with the generation and bytes checked; raises
    IndexCorruptError (naming the file) or another StoreError."""
    index_dir = Path(index_dir)
    gen = _live(index_dir)
    manifest = read_manifest(gen, index_dir)
    check_files(gen, manifest, index_dir, full=True)
    return {"generation": gen.name, **manifest["counts"], "files": len(manifest["files"]),
            "bytes": sum(manifest["files"].values())}


def read_vectors(
    index_dir: str | Path, fingerprint: str
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(hashes, vectors)`` of the live generation (vectors memory-mapped), or None when
    there is none or another model built it: what a rebuild reuses instead of embedding.
    Both files are checked whole first: a damaged vector must not spread to the next index."""
    index_dir = Path(index_dir)
    gen = current_generation(index_dir)
    if gen is None:
        return None
    manifest = read_manifest(gen, index_dir)
    if manifest["model"]["fingerprint"] != fingerprint:
        return None
    for rel in ("hashes.npy", "vectors.npy"):
        _check_file(gen, rel, manifest, index_dir, full=True)
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
    """The generation's manifest, its format version and shape checked (not its files)."""
    try:
        manifest = json.loads((gen / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise IndexCorruptError(
            f"The index at {index_dir} has no readable manifest ({exc}). {rebuild_hint(index_dir)}"
        ) from exc
    version = manifest.get("format_version") if isinstance(manifest, dict) else None
    if version != FORMAT_VERSION:
        raise IndexFormatError(
            f"The index at {index_dir} has format version {version!r}; this daleel reads "
            f"version {FORMAT_VERSION}. {rebuild_hint(index_dir)}"
        )
    if problem := _manifest_problem(manifest):
        raise _corrupt(index_dir, f"its manifest is malformed ({problem})")
    return manifest


def _manifest_problem(m: dict[str, Any]) -> str | None:
    """What is wrong with a manifest's shape, or None: the schema of what loading relies on."""
    def ints(d: Any, keys: tuple[str, ...]) -> bool:
        return isinstance(d, dict) and all(
            type(d.get(k)) is int and d[k] >= 0 for k in keys)

    def strs(d: Any, keys: tuple[str, ...]) -> bool:
        return isinstance(d, dict) and all(isinstance(d.get(k), str) for k in keys)

    model, files, sums, blocks = (m.get(k) for k in ("model", "files", "checksums", "blocks"))
    if not (strs(model, ("name", "fingerprint", "backend")) and ints(model, ("dim",))
            and model["dim"] > 0):
        return "'model' needs name, fingerprint, backend and a positive dim"
    if not ints(m.get("counts"), ("articles", "sentences")):
        return "'counts' needs articles and sentences as whole numbers"
    if not (isinstance(files, dict) and files and ints(files, tuple(files))):
        return "'files' must map each file to its size"
    if any(rel.startswith("/") or ".." in rel.split("/") or "\\" in rel for rel in files):
        return "'files' names a path outside the generation"
    if not (isinstance(sums, dict) and set(sums) == set(files) and strs(sums, tuple(sums))):
        return "'checksums' must give a checksum for every file"
    if not (isinstance(blocks, dict) and set(blocks) == set(files) and all(
            isinstance(v, list) and all(isinstance(x, str) for x in v) for v in blocks.values())):
        return "'blocks' must list the block checksums of every file"
    return None


def check_files(gen: Path, manifest: dict[str, Any], index_dir: Path, *, full: bool) -> None:
    """Each file of the generation against its size and checksum; a file of more than
    WHOLE_BLOCKS blocks by a sample of them unless ``full``. Raises IndexCorruptError naming
    the first damaged file."""
    for rel, blocks in manifest["blocks"].items():
        _check_file(gen, rel, manifest, index_dir, full=full or len(blocks) <= WHOLE_BLOCKS)


def _check_file(gen: Path, rel: str, manifest: dict[str, Any], index_dir: Path, *,
                full: bool) -> None:
    path, size = gen / rel, manifest["files"][rel]
    try:
        ok_size = path.is_file() and path.stat().st_size == size
        if not ok_size:
            raise _corrupt(index_dir, f"{rel} is missing or truncated")
        if full:
            ok = _checksums(path)[0] == manifest["checksums"][rel]
        else:
            ok = _sampled_blocks_match(path, manifest["blocks"][rel])
    except OSError as exc:
        raise _corrupt(index_dir, f"{rel} cannot be read ({exc.strerror or exc})") from exc
    if not ok:
        raise _corrupt(index_dir, f"{rel} does not match its checksum (its bytes changed after "
                                  "the build: disk damage or an edit)")


def _checksums(path: Path) -> tuple[str, list[str]]:
    """xxh3-128 of the whole file and xxh3-64 of each BLOCK, in one streamed read."""
    whole, blocks = xxhash.xxh3_128(), []
    with open(path, "rb") as fh:
        while block := fh.read(BLOCK):
            whole.update(block)
            blocks.append(xxhash.xxh3_64_hexdigest(block))
    return whole.hexdigest(), blocks


def _sampled_blocks_match(path: Path, blocks: list[str]) -> bool:
    """The first, last and SAMPLED_BLOCKS random blocks of ``path`` against their checksums
    (a different sample each load, so repeated loads cover the file)."""
    n = len(blocks)
    if n == 0:
        return True
    rng = np.random.default_rng()
    picks = {0, n - 1, *rng.choice(n, size=min(n, SAMPLED_BLOCKS), replace=False).tolist()}
    with open(path, "rb") as fh:
        for i in sorted(picks):
            fh.seek(i * BLOCK)
            if xxhash.xxh3_64_hexdigest(fh.read(BLOCK)) != blocks[i]:
                return False
    return True


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
