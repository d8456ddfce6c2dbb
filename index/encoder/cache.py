"""The one cache folder for model files (the converted model, its int8 exports), and the safe
way to make a folder in it once."""

from __future__ import annotations

import hashlib
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


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
