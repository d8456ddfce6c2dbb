"""The index on disk: immutable segments, and generations that list them, switched atomically.

Layout of an index directory ``DIR``::

    DIR/CURRENT              name of the live generation (replaced atomically with os.replace)
    DIR/gen-<stamp>/         a commit point: manifest.json (format version, model, settings,
                             the segments it is made of, each with its manifest's checksum)
                             and tombstones.json (deleted article rows, per segment);
                             sources.json: what each source file gave and its stamp then
                             (index.corpus.SourceFile), so that a build skips unchanged files
    DIR/segments/seg-<stamp>/  one immutable segment (see index.segments)
    DIR/.checkpoint/         embedded batches of an unfinished build (see index.build)
    DIR/.build.lock          held (flock) by the one build writing to DIR; see build_lock

An update writes a new segment (its articles only) and a new generation naming the segments
still live plus the new one, with tombstones for the articles it replaces or deletes; a merge
writes one segment in place of several. Nothing is visible until ``CURRENT`` names the new
generation, so killing a build or a merge at any moment leaves the previous generation live
and intact; the next commit prunes what the killed one left. Pruning keeps the live and the
previous generation and every segment either names. No pickle. Checksums: index.checksums;
reading a generation (load, verify, read_live): index.generation.
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
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index import checksums, segments
from index.segments import SEGMENTS, SegmentData
from index.view import IndexData  # noqa: F401 - callers type with store.IndexData

#: 3: a generation lists immutable segments plus tombstones (version 2 was one piece; its
#: vectors are reused by the rebuild its message asks for).
FORMAT_VERSION = 3
CURRENT = "CURRENT"
MANIFEST = "manifest.json"
TOMBSTONES = "tombstones.json"
SOURCES = "sources.json"
LOCK = ".build.lock"
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


def commit(index_dir: Path, names: Sequence[str], tombstones: dict[str, list[int]],
           info: dict[str, Any], sources: dict[str, Any] | None = None) -> Path:
    """Make the generation of segments ``names`` (with ``tombstones``: deleted article rows per
    segment) live; ``info`` holds the manifest's ``model``, ``settings``, ``counts`` (live
    articles and sentences) and what else to record; ``sources`` (JSON: resolved file path ->
    SourceFile.to_json()) what the source files gave. Call it holding :func:`build_lock`."""
    index_dir.mkdir(parents=True, exist_ok=True)
    try:
        previous = current_generation(index_dir)
    except IndexCorruptError:
        previous = None
    name = f"gen-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 10**9:09d}"
    tmp = index_dir / f".{name}.tmp"
    pointer_tmp = index_dir / f".{CURRENT}.{os.getpid()}.tmp"
    entries = []
    for seg in names:
        folder = index_dir / SEGMENTS / seg
        counts = segments.read_manifest(folder)["counts"]
        entries.append({"name": seg, "manifest": segments.manifest_digest(folder), **counts})
    dead = {seg: sorted(set(rows)) for seg, rows in tombstones.items() if rows and seg in names}
    try:
        tmp.mkdir()
        (tmp / TOMBSTONES).write_text(json.dumps(dead), encoding="utf-8")
        if sources:
            (tmp / SOURCES).write_text(json.dumps(sources, ensure_ascii=False), encoding="utf-8")
        manifest = {**info, "format_version": FORMAT_VERSION, "segments": entries,
                    "committed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    **checksums.describe(tmp)}
        (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), "utf-8")
        checksums.fsync_tree(tmp)
        os.rename(tmp, index_dir / name)
        pointer_tmp.write_text(name + "\n", encoding="utf-8")
        checksums.fsync_file(pointer_tmp)
    except BaseException as exc:
        for path in (tmp, index_dir / name):  # not live yet: CURRENT still names `previous`
            shutil.rmtree(path, ignore_errors=True)
        pointer_tmp.unlink(missing_ok=True)
        if no_space(exc):
            raise space_error(index_dir, 1 << 20, exc) from exc
        raise
    os.replace(pointer_tmp, index_dir / CURRENT)  # the atomic switch
    checksums.fsync_dir(index_dir)
    _prune(index_dir, keep={name, previous.name if previous else name})
    return index_dir / name


def save(data: SegmentData, index_dir: Path, info: dict[str, Any] | None = None) -> Path:
    """Write ``data`` as the one segment of a new live generation (a full build); returns the
    generation. A full disk leaves nothing of it behind and raises IndexSpaceError."""
    try:
        name = segments.write(index_dir, data)
    except BaseException as exc:
        if no_space(exc):
            raise space_error(index_dir, estimated_bytes(data), exc) from exc
        raise
    counts = {"articles": len(data.articles), "sentences": len(data.hashes)}
    return commit(index_dir, [name], {}, {"model": data.model, "settings": data.settings,
                                          "counts": counts, **(info or {})})


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


def estimated_bytes(data: SegmentData) -> int:
    """About what a segment of ``data`` takes on disk (the flat/IVF index copies vectors)."""
    text = sum(len(a.text) + len(a.title) for a in data.articles) * 2
    vectors = int(np.asarray(data.vectors).nbytes)
    return (text + 2 * vectors + 3 * int(data.hashes.nbytes) + data.sentences.array.nbytes
            + data.lexical.nbytes)


def _live(index_dir: Path) -> Path:
    gen = current_generation(index_dir)
    if gen is None:
        raise IndexMissingError(f"No index at {index_dir}. {rebuild_hint(index_dir)}")
    return gen


def text_hash(text: str) -> bytes:
    """16-byte hash of an embedded text: the key of the embedding cache."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _prune(index_dir: Path, keep: set[str]) -> None:
    """Remove old generations, segments no kept generation names, and what crashed builds
    left (keeps the previous generation, which a reader may still be loading)."""
    referenced: set[str] = set()
    for name in keep:
        with contextlib.suppress(OSError, ValueError, AttributeError, TypeError):
            manifest = json.loads((index_dir / name / MANIFEST).read_text(encoding="utf-8"))
            referenced |= {e["name"] for e in manifest.get("segments", [])}
    for child in index_dir.iterdir():
        if child.name.startswith(f".{CURRENT}.") and child.suffix == ".tmp":
            child.unlink(missing_ok=True)  # a killed commit's pointer, never switched in
        if child.name in keep or not child.is_dir():
            continue
        crashed = child.name.startswith(".gen-") and child.suffix == ".tmp"
        if child.name.startswith("gen-") or crashed:
            shutil.rmtree(child, ignore_errors=True)
    root = index_dir / SEGMENTS
    for child in root.iterdir() if root.is_dir() else []:
        if child.name not in referenced and (child.name.startswith("seg-")
                                             or child.name.startswith(".seg-")):
            shutil.rmtree(child, ignore_errors=True)


#: Reading a generation lives in index.generation; ``store.load`` and the others still work.
_READING = ("load", "read_live", "legacy_vectors", "verify", "read_model", "read_manifest",
            "Live")


def __getattr__(name: str) -> Any:
    if name in _READING:
        from index import generation

        return getattr(generation, name)
    raise AttributeError(f"module 'index.store' has no attribute {name!r}")
