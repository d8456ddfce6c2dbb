"""Sharded indexes: the articles of one index split into N shards, each a whole index.

A sharded index is a directory holding ``shards.json`` and one ordinary daleel index per shard
(``shard-0/``, ``shard-1/``, ...): each has its own generations, segments, checksums and model
record, so loading, the model guard, hot reload and ``daleel verify`` work per shard unchanged.
An article belongs to shard ``xxh3_64(article id) % N``: the assignment depends on nothing but
the id, so every split of an index puts an article in the same shard.

:func:`split` makes (or refreshes) a sharded index from a built one: the live rows of its
segments are copied (vectors, hashes and BM25 postings as they are; index.merge.combine), so
nothing is embedded or analysed again, and each shard commits a new generation: a sharded
index being served picks each one up by hot reload. Searching one is qa.shards's job.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import xxhash

from index import checksums, segments, store
from index.merge import combine
from index.segments import SEGMENTS

LAYOUT = "shards.json"
FORMAT = "daleel.shards"
VERSION = 1
MAX_SHARDS = 256


class ShardLayoutError(store.StoreError):
    """A sharded index's ``shards.json`` is missing a shard, malformed, or does not fit."""


@dataclass(frozen=True, slots=True)
class SplitReport:
    out_dir: Path
    shards: list[tuple[str, int, int]]  # (name, articles, sentences) per shard
    seconds: float


def shard_of(article_id: str, n: int) -> int:
    """The shard of an article among ``n``: stable across runs, machines and splits."""
    return xxhash.xxh3_64_intdigest(article_id.encode("utf-8", "surrogatepass")) % n


def is_sharded(index_dir: str | Path) -> bool:
    return (Path(index_dir) / LAYOUT).is_file()


def shard_dirs(index_dir: str | Path) -> list[Path]:
    """The shard indexes of a sharded index, in shard order; raises ShardLayoutError."""
    index_dir = Path(index_dir)
    try:
        layout = json.loads((index_dir / LAYOUT).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ShardLayoutError(f"The sharded index at {index_dir} has no readable {LAYOUT} "
                               f"({exc}). Split it again: daleel shard SOURCE_INDEX --shards N "
                               f"--out {index_dir}") from exc
    names = layout.get("shards") if isinstance(layout, dict) else None
    if not (isinstance(layout, dict) and layout.get("format") == FORMAT
            and layout.get("version") == VERSION and isinstance(names, list)
            and 1 <= len(names) <= MAX_SHARDS
            and names == [f"shard-{i}" for i in range(len(names))]):
        raise ShardLayoutError(f"{index_dir / LAYOUT} is not a daleel shard layout (format "
                               f"{FORMAT} version {VERSION}, shards shard-0..shard-N-1). Split "
                               f"it again: daleel shard SOURCE_INDEX --shards N --out {index_dir}")
    return [index_dir / name for name in names]


def split(source: str | Path, out_dir: str | Path, n: int) -> SplitReport:
    """Split the live generation of the index at ``source`` into ``n`` shard indexes under
    ``out_dir``. An existing sharded index there must have ``n`` shards: each gets a new
    generation (served shards reload it). Holds each shard's build lock while writing it."""
    source, out_dir, started = Path(source), Path(out_dir), time.perf_counter()
    if not 1 <= n <= MAX_SHARDS:
        raise ValueError(f"--shards must be from 1 to {MAX_SHARDS}, got {n}")
    if source.resolve() == out_dir.resolve():
        raise ValueError("the sharded index needs its own directory (--out), not the source's")
    if is_sharded(out_dir) and len(shard_dirs(out_dir)) != n:
        raise ShardLayoutError(f"{out_dir} already holds {len(shard_dirs(out_dir))} shards, not "
                               f"{n}: split into another directory, or with the same --shards")
    live = store.read_live(source)
    if live is None:
        raise store.IndexMissingError(f"No index at {source}. {store.rebuild_hint(source)}")
    digests = {e["name"]: e["manifest"] for e in live.manifest["segments"]}
    parts = []
    for plan in live.segments:
        try:
            data = segments.read_data(source / SEGMENTS / plan.name, digests[plan.name])
        except segments.SegmentError as exc:
            raise store.IndexCorruptError(f"The index at {source} is damaged: {exc}. "
                                          f"{store.rebuild_hint(source)}") from exc
        parts.append((data, live.tombstones.get(plan.name, set()),
                      [shard_of(a.id, n) for a in data.articles]))
    made = []
    for i in range(n):
        shard = out_dir / f"shard-{i}"
        mine = [(data, dead | {a for a, s in enumerate(where) if s != i})
                for data, dead, where in parts]
        with store.build_lock(shard, wait=True):
            merged = combine(mine) if mine else None
            if merged is not None and not merged.articles:
                merged = None
            names = [segments.write(shard, merged)] if merged is not None else []
            counts = {"articles": len(merged.articles) if merged else 0,
                      "sentences": len(merged.hashes) if merged else 0}
            info = {k: v for k, v in live.manifest.items()
                    if k in ("model", "settings", "corpus_sha256", "built_at")}
            store.commit(shard, names, {}, {**info, "counts": counts, "shard": {
                "index": i, "of": n, "source": str(source.resolve()),
                "source_generation": live.generation.name}})
        made.append((shard.name, counts["articles"], counts["sentences"]))
    _write_layout(out_dir, n, source)
    return SplitReport(out_dir, made, time.perf_counter() - started)


def _write_layout(out_dir: Path, n: int, source: Path) -> None:
    layout = {"format": FORMAT, "version": VERSION, "shards": [f"shard-{i}" for i in range(n)],
              "assignment": "xxh3_64(article id) % shards", "source": str(source.resolve()),
              "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    tmp = out_dir / f".{LAYOUT}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(layout, ensure_ascii=False, indent=2), encoding="utf-8")
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, out_dir / LAYOUT)
    checksums.fsync_dir(out_dir)
