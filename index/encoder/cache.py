"""The one cache folder for model files (the converted model, its int8 exports), and the safe
way to make a folder in it once."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

CACHE_ENV = "DALEEL_MODEL_CACHE"


def default_cache_dir() -> Path:
    """``$DALEEL_MODEL_CACHE``, else ``$XDG_CACHE_HOME/daleel/models``, else ``~/.cache/...``."""
    if env := os.environ.get(CACHE_ENV):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "daleel" / "models"


#: OpenVINO's compiled models, beside the exports they are compiled from (see compiled_cache).
COMPILED = "openvino-compiled"


def compiled_cache(export: Path) -> dict[str, str]:
    """OpenVINO's CACHE_DIR setting for the export in ``export``: a folder beside it where a
    compiled model is kept, so that a later process loads it in about 0.5 s instead of
    compiling it again (3-5 s here). OpenVINO keys each blob by the model and the compile
    settings, so the exports share the folder safely; a blob is ~400 MB (the embedding table,
    unpacked). Nothing (compile every time) where that folder cannot be written."""
    folder = export.parent / COMPILED
    with contextlib.suppress(OSError):
        folder.mkdir(exist_ok=True)
    return {"CACHE_DIR": str(folder)} if os.access(folder, os.W_OK) else {}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


#: Where known_sha256 records what it hashed, in the cache folder.
SHA256_RECORD = "sha256-record.json"


def known_sha256(path: Path) -> str:
    """``file_sha256(path)``, hashed in full only when the file is new or its size or mtime
    changed since it was last hashed: a model's weights are hashed once, at conversion or
    first use, and a changed weight anywhere in the file changes the result."""
    real, st = os.path.realpath(path), os.stat(path)
    stamp = [st.st_size, st.st_mtime_ns]
    record_path = default_cache_dir() / SHA256_RECORD
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = {}
    if not isinstance(record, dict):
        record = {}
    known = record.get(real)
    if isinstance(known, dict) and known.get("stamp") == stamp and isinstance(
            known.get("sha256"), str):
        return known["sha256"]
    digest = file_sha256(Path(path))
    record[real] = {"stamp": stamp, "sha256": digest}
    with contextlib.suppress(OSError):  # a read-only cache: hash again next time
        record_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = record_path.with_name(f".{SHA256_RECORD}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(record, indent=1), encoding="utf-8")
        os.replace(tmp, record_path)
    return digest


def ensure_folder(
    target: Path, stamp: str, make: Callable[[Path], None], *, tmp_prefix: str = ".making-"
) -> Path:
    """Return ``target``, made once by ``make(tmp)`` in a temporary sibling and renamed into
    place. ``make`` writes the file ``stamp`` last: a folder without it (an interrupted run) is
    never used, and is replaced. Concurrent makers are fine: the first rename wins."""
    if (target / stamp).is_file():
        return target
    if target.exists():  # no stamp: not ours, or not finished; never use it
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=tmp_prefix, dir=target.parent))
    try:
        make(tmp)
        try:
            os.rename(tmp, target)
        except OSError:
            # Another process finished first (target exists and is non-empty): use theirs.
            if not (target / stamp).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
