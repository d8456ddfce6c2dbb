"""Checksums of index files: an xxh3-128 of each whole file and an xxh3-64 of each 1 MiB block.

Every folder the store writes (a segment, a generation's commit point) lists its files in its
manifest with their sizes and both kinds of checksums. Loading checks files of one block whole
and the first, last and two random blocks of larger ones (a different sample each time):
4 ms on a 2,000-article index, 9 ms on the full corpus (BENCHMARKS.md section 7);
``daleel verify`` checks every byte, and a build reusing stored vectors checks the blocks that
hold the rows it reuses.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

BLOCK = 1 << 20
#: Loading checks a file of up to this many blocks whole; of a larger one, the first and last
#: blocks and SAMPLED_BLOCKS more at random.
WHOLE_BLOCKS = 1
SAMPLED_BLOCKS = 2

#: ``fail(what)`` -> the exception to raise, naming the damaged file in ``what``.
Fail = Callable[[str], Exception]


def describe(folder: Path) -> dict[str, Any]:
    """The ``files``, ``checksums`` and ``blocks`` manifest entries of every file in ``folder``."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    sums = {p.relative_to(folder).as_posix(): whole_and_blocks(p) for p in files}
    return {
        "files": {p.relative_to(folder).as_posix(): p.stat().st_size for p in files},
        "checksums": {rel: whole for rel, (whole, _) in sums.items()},
        "blocks": {rel: blocks for rel, (_, blocks) in sums.items()},
    }


def shape_problem(m: dict[str, Any]) -> str | None:
    """What is wrong with the ``files``/``checksums``/``blocks`` entries of a manifest, or None."""
    files, sums, blocks = (m.get(k) for k in ("files", "checksums", "blocks"))
    if not (isinstance(files, dict) and files and all(
            type(v) is int and v >= 0 for v in files.values())):
        return "'files' must map each file to its size"
    if any(rel.startswith("/") or ".." in rel.split("/") or "\\" in rel for rel in files):
        return "'files' names a path outside its folder"
    if not (isinstance(sums, dict) and set(sums) == set(files)
            and all(isinstance(v, str) for v in sums.values())):
        return "'checksums' must give a checksum for every file"
    if not (isinstance(blocks, dict) and set(blocks) == set(files) and all(
            isinstance(v, list) and all(isinstance(x, str) for x in v) for v in blocks.values())):
        return "'blocks' must list the block checksums of every file"
    return None


def check_all(folder: Path, manifest: dict[str, Any], fail: Fail, *, full: bool,
              only: Iterable[str] | None = None) -> None:
    """Each file of ``folder`` (or those named in ``only``) against its size and checksum; a
    file of more than WHOLE_BLOCKS blocks by a sample of them unless ``full``."""
    for rel in manifest["blocks"] if only is None else only:
        blocks = manifest["blocks"][rel]
        check_file(folder, rel, manifest, fail, full=full or len(blocks) <= WHOLE_BLOCKS)


def check_file(folder: Path, rel: str, manifest: dict[str, Any], fail: Fail, *,
               full: bool) -> None:
    path, size = folder / rel, manifest["files"][rel]
    try:
        if not (path.is_file() and path.stat().st_size == size):
            raise fail(f"{rel} is missing or truncated")
        if full:
            ok = whole_and_blocks(path)[0] == manifest["checksums"][rel]
        else:
            ok = _blocks_match(path, manifest["blocks"][rel], _sample(len(manifest["blocks"][rel])))
    except OSError as exc:
        raise fail(f"{rel} cannot be read ({exc.strerror or exc})") from exc
    if not ok:
        raise fail(f"{rel} does not match its checksum (its bytes changed after the build: "
                   "disk damage or an edit)")


def check_byte_ranges(folder: Path, rel: str, manifest: dict[str, Any], fail: Fail,
                      starts: np.ndarray, length: int) -> None:
    """The blocks holding bytes ``[s, s + length)`` of ``rel`` for each ``s`` in ``starts``."""
    blocks = manifest["blocks"][rel]
    if not len(starts):
        return
    first, last = starts // BLOCK, (starts + max(length, 1) - 1) // BLOCK
    picks = np.unique(np.concatenate([np.arange(a, b + 1) for a, b in
                                      np.unique(np.stack([first, last], 1), axis=0)]))
    try:
        ok = _blocks_match(folder / rel, blocks, picks.tolist())
    except OSError as exc:
        raise fail(f"{rel} cannot be read ({exc.strerror or exc})") from exc
    if not ok:
        raise fail(f"{rel} does not match its checksum (its bytes changed after the build: "
                   "disk damage or an edit)")


def whole_and_blocks(path: Path) -> tuple[str, list[str]]:
    """xxh3-128 of the whole file and xxh3-64 of each BLOCK, in one streamed read."""
    whole, blocks = xxhash.xxh3_128(), []
    with open(path, "rb") as fh:
        while block := fh.read(BLOCK):
            whole.update(block)
            blocks.append(xxhash.xxh3_64_hexdigest(block))
    return whole.hexdigest(), blocks


def _sample(n: int) -> list[int]:
    """The first, last and SAMPLED_BLOCKS random blocks of ``n`` (a different sample each
    load, so repeated loads cover the file)."""
    if n == 0:
        return []
    rng = np.random.default_rng()
    return sorted({0, n - 1, *rng.choice(n, size=min(n, SAMPLED_BLOCKS), replace=False).tolist()})


def _blocks_match(path: Path, blocks: list[str], picks: Iterable[int]) -> bool:
    with open(path, "rb") as fh:
        for i in picks:
            if i >= len(blocks):
                return False
            fh.seek(i * BLOCK)
            if xxhash.xxh3_64_hexdigest(fh.read(BLOCK)) != blocks[i]:
                return False
    return True


def fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    for p in root.rglob("*"):
        if p.is_file():
            fsync_file(p)
    for p in [root, *[d for d in root.rglob("*") if d.is_dir()]]:
        fsync_dir(p)
