"""Reading a generation: its commit point checked, its segments loaded into one view.

:func:`load` gives the view the assistant serves (index.view.IndexData), reusing segments an
earlier view already loaded; :func:`read_live` gives what a build plans an update from (the
segments' catalogs and row keys, no vectors or FAISS); :func:`verify` checks every byte;
:func:`legacy_vectors` reads the vectors of a format-2 index for the rebuild that replaces it.
Errors are index.store's, each naming the fix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index import checksums, segments
from index.corpus import SourceFile
from index.segments import SEGMENTS, Segment, SegmentError, SegmentPlan
from index.store import (
    FORMAT_VERSION,
    MANIFEST,
    SOURCES,
    TOMBSTONES,
    IndexCorruptError,
    IndexFormatError,
    IndexModelMismatchError,
    _corrupt,
    _live,
    current_generation,
    rebuild_hint,
)
from index.view import IndexData


def load(index_dir: str | Path, *, fingerprint: str | None = None,
         reuse: IndexData | None = None) -> IndexData:
    """Load the live generation, checking its manifest, model fingerprint and checksums.

    Segments already loaded in ``reuse`` (an earlier generation of the same index) are taken
    from it instead of being read again: segments never change, so a hot reload after an
    update reads only the new segment."""
    index_dir = Path(index_dir)
    gen = _live(index_dir)
    manifest = read_manifest(gen, index_dir)
    _check_model(manifest, fingerprint, index_dir)
    tombstones = _read_tombstones(gen, manifest, index_dir)
    known = {s.name: s for s in reuse.segments} if reuse is not None else {}
    loaded = []
    for entry in manifest["segments"]:
        seg = known.get(entry["name"])
        if seg is None or seg.digest != entry["manifest"]:
            try:
                seg = Segment(index_dir / SEGMENTS / entry["name"], entry["manifest"])
            except SegmentError as exc:
                raise _corrupt(index_dir, str(exc)) from exc
        same_model = all(seg.manifest["model"].get(k) == manifest["model"][k]
                         for k in ("fingerprint", "dim"))
        if not same_model or len(seg.articles) != entry["articles"]:
            raise _corrupt(index_dir, f"segment {seg.name} does not match its generation")
        loaded.append(seg)
    data = IndexData(manifest, loaded, tombstones, gen.name)
    counts = manifest["counts"]
    if len(data.articles) != counts["articles"] or len(data.sentences) != counts["sentences"]:
        raise IndexCorruptError(
            f"The index at {index_dir} is inconsistent (counts differ from its manifest). "
            f"{rebuild_hint(index_dir)}"
        )
    return data


def _read_tombstones(gen: Path, manifest: dict[str, Any],
                     index_dir: Path) -> dict[str, list[int]]:
    checksums.check_all(gen, manifest, lambda what: _corrupt(index_dir, what), full=True)
    try:
        dead = json.loads((gen / TOMBSTONES).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _corrupt(index_dir, f"its {TOMBSTONES} cannot be read ({exc})") from exc
    sizes = {e["name"]: e["articles"] for e in manifest["segments"]}
    if not (isinstance(dead, dict) and all(
            seg in sizes and isinstance(rows, list) and all(
                type(r) is int and 0 <= r < sizes[seg] for r in rows)
            for seg, rows in dead.items())):
        raise _corrupt(index_dir, f"its {TOMBSTONES} names rows outside its segments")
    return dead


@dataclass
class Live:
    """What a build needs of the live generation to plan an update (no vectors, no FAISS)."""

    generation: Path
    manifest: dict[str, Any]
    segments: list[SegmentPlan]
    tombstones: dict[str, set[int]]
    #: What each source file gave when last read (index.corpus.SourceFile), by resolved path.
    sources: dict[str, SourceFile]


def read_live(index_dir: Path) -> Live | None:
    """The live generation's plan data, or None when nothing was built there. Raises
    IndexFormatError for an index of another format, IndexCorruptError when damaged."""
    gen = current_generation(index_dir)
    if gen is None:
        return None
    manifest = read_manifest(gen, index_dir)
    dead = _read_tombstones(gen, manifest, index_dir)
    plans = []
    for entry in manifest["segments"]:
        try:
            plans.append(SegmentPlan.read(index_dir / SEGMENTS / entry["name"], entry["manifest"]))
        except SegmentError as exc:
            raise _corrupt(index_dir, str(exc)) from exc
    return Live(gen, manifest, plans, {seg: set(rows) for seg, rows in dead.items()},
                _read_sources(gen))


def _read_sources(gen: Path) -> dict[str, SourceFile]:
    """The generation's source-file records (checksummed with its files); none if it has no
    such file or an odd one: every file is then read again, which costs time, not results."""
    try:
        obj = json.loads((gen / SOURCES).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    records = {path: SourceFile.from_json(rec) for path, rec in obj.items()} if isinstance(
        obj, dict) else {}
    return {path: rec for path, rec in records.items() if rec is not None}


def legacy_vectors(index_dir: Path, fingerprint: str) -> tuple[np.ndarray, np.ndarray] | None:
    """``(hashes, vectors)`` of a live format-2 generation built by the same model, both files
    checked whole: what the rebuild of an old index reuses instead of embedding again."""
    gen = current_generation(index_dir)
    try:
        manifest = json.loads((gen / MANIFEST).read_text(encoding="utf-8")) if gen else None
    except (OSError, ValueError):
        return None
    if not (isinstance(manifest, dict) and manifest.get("format_version") == 2
            and manifest.get("model", {}).get("fingerprint") == fingerprint
            and checksums.shape_problem(manifest) is None):
        return None
    checksums.check_all(gen, manifest, lambda what: _corrupt(index_dir, what), full=True,
                        only=("hashes.npy", "vectors.npy"))
    return (np.load(gen / "hashes.npy", allow_pickle=False),
            np.load(gen / "vectors.npy", mmap_mode="r", allow_pickle=False))


def verify(index_dir: str | Path) -> dict[str, Any]:
    """Check every file of the live generation and its segments against their checksums
    (``daleel verify``). Returns the manifest's ``counts`` with the generation, files and
    bytes checked; raises IndexCorruptError (naming the file) or another StoreError."""
    index_dir = Path(index_dir)
    gen = _live(index_dir)
    manifest = read_manifest(gen, index_dir)
    _read_tombstones(gen, manifest, index_dir)
    files, size = len(manifest["files"]), sum(manifest["files"].values())
    for entry in manifest["segments"]:
        folder = index_dir / SEGMENTS / entry["name"]
        try:
            size += segments.verify(folder, entry["manifest"])
        except SegmentError as exc:
            raise _corrupt(index_dir, str(exc)) from exc
        files += len(segments.read_manifest(folder)["files"])
    return {"generation": gen.name, **manifest["counts"], "segments": len(manifest["segments"]),
            "files": files, "bytes": size}


def read_model(index_dir: str | Path) -> dict[str, Any]:
    """The ``model`` block of the live generation's manifest (name, fingerprint, dim,
    backend): what :meth:`index.encoder.Encoder.from_manifest` takes."""
    index_dir = Path(index_dir)
    return read_manifest(_live(index_dir), index_dir)["model"]


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
        reuse = (" with the same corpus paths: its vectors are reused, so nothing is embedded "
                 "again" if version == 2 else "")
        raise IndexFormatError(
            f"The index at {index_dir} has format version {version!r}; this daleel reads "
            f"version {FORMAT_VERSION} (segments). {rebuild_hint(index_dir)}{reuse}."
        )
    if problem := _manifest_problem(manifest):
        raise _corrupt(index_dir, f"its manifest is malformed ({problem})")
    return manifest


def _manifest_problem(m: dict[str, Any]) -> str | None:
    """What is wrong with a generation manifest's shape, or None: what loading relies on."""
    def ints(d: Any, keys: tuple[str, ...]) -> bool:
        return isinstance(d, dict) and all(type(d.get(k)) is int and d[k] >= 0 for k in keys)

    model, segs = m.get("model"), m.get("segments")
    if not (isinstance(model, dict) and all(isinstance(model.get(k), str) for k in
                                            ("name", "fingerprint", "backend"))
            and ints(model, ("dim",)) and model["dim"] > 0):
        return "'model' needs name, fingerprint, backend and a positive dim"
    if not ints(m.get("counts"), ("articles", "sentences")):
        return "'counts' needs articles and sentences as whole numbers"
    if not (isinstance(segs, list) and all(
            isinstance(e, dict) and isinstance(e.get("name"), str)
            and segments.NAME.fullmatch(e["name"]) and isinstance(e.get("manifest"), str)
            and ints(e, ("articles", "sentences")) for e in segs)):
        return "'segments' must list each segment's name, manifest checksum and counts"
    return checksums.shape_problem(m)
