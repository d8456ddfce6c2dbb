"""Read a corpus of Arabic news articles from files and folders: .txt/.md/.json/.jsonl(.gz)
here, and saved web pages, WARC archives, RSS/Atom feeds and CSV/TSV tables (index/formats.py).

Every input gets a defined outcome: an Article, a Skipped entry that says what to do, or a
warning. Article.text is exactly the decoded content (never cleaned), so citation offsets slice it.
Dates of every format are made ISO 8601 here, in one place (index/dates.py).
"""

from __future__ import annotations

import codecs
import dataclasses
import errno
import gzip
import io
import json
import logging
import os
import re
import stat
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from index.dates import normalize_date

log = logging.getLogger(__name__)

TEXT_SUFFIXES = (".txt", ".md")
LINES_SUFFIXES = (".jsonl", ".jsonl.gz", ".json.gz")
HTML_SUFFIXES = (".html", ".htm")
WARC_SUFFIXES = (".warc", ".warc.gz")  # matched longest first, so never taken for a .gz
FEED_SUFFIXES = (".rss", ".atom", ".xml")  # .xml only when its root is <rss>, <feed> or <RDF>
TABLE_SUFFIXES = (".csv", ".tsv")
SUPPORTED_SUFFIXES = (*TEXT_SUFFIXES, ".json", *LINES_SUFFIXES, *HTML_SUFFIXES, *WARC_SUFFIXES,
                      *FEED_SUFFIXES, *TABLE_SUFFIXES)
#: The format each suffix's articles are counted under in Corpus.formats.
FORMAT_OF = {".txt": "txt", ".md": "md", ".json": "json", ".jsonl": "jsonl", ".jsonl.gz": "jsonl",
             ".json.gz": "jsonl", ".html": "html", ".htm": "html", ".warc": "warc",
             ".warc.gz": "warc", ".rss": "feed", ".atom": "feed", ".xml": "feed", ".csv": "csv",
             ".tsv": "tsv"}
MB = 1024 * 1024
MAX_TEXT_BYTES = 50 * MB  # one .txt/.md article; larger files are almost surely not one article
MAX_JSON_BYTES = 500 * MB  # a .json file is parsed whole; beyond this, JSON lines stream instead
MAX_LINE_BYTES = 50 * MB  # one JSON line (one article), as MAX_TEXT_BYTES for a .txt article
MAX_DECOMPRESSED_BYTES = 2048 * MB  # a compressed file, decompressed (~8x the ANT corpus's)
STRAY_RATIO = 20  # UTF-8 with stray bytes: at least this many valid multi-byte chars per bad byte
BINARY_SAMPLE = 65536  # bytes/chars inspected to tell binary from text
BINARY_CONTROL_RATIO = 0.10  # more control characters than this in the sample -> binary
MIN_ARABIC_RATIO = 0.30  # share of Arabic letters needed to accept a cp1256 decoding
#: Bump when reading an unchanged file can give other articles than before (parsing, cleaning,
#: dates): builds then read every file again instead of trusting the unchanged ones.
READER_VERSION = 1
#: A file modified this close to (or after) the moment it was read could change again within
#: the file system's timestamp granularity unseen: it is not trusted, and read again next time
#: (git's "racy" rule).
RACY_NS = 2_000_000_000

# UTF-32 LE must be tested before UTF-16 LE: its BOM starts with the UTF-16 LE one.
_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32", "UTF-32 LE"),
    (codecs.BOM_UTF32_BE, "utf-32", "UTF-32 BE"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16 LE"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16 BE"),
)
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0e-\x1f\x7f]")  # tab, LF, VT, FF, CR are text
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_CP1256_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # Cc except \t \n \r
_ARABIC = re.compile("[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufefc]")
_LINE = re.compile(r"[^\r\n]+")
#: A lone UTF-16 surrogate: JSON can carry one ("\\ud800"), no text encoding can.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_FIELDS: dict[str, tuple[str, ...]] = {
    "id": ("id", "docno"),
    "title": ("title", "headline"),
    "text": ("text", "body", "content"),
    "url": ("url", "link"),
    "date": ("date", "time"),
    "source": ("source", "src"),
}
_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}


@dataclass(frozen=True, slots=True)
class Article:
    """One news article; `text` is verbatim so that character offsets into it are citations."""

    id: str
    title: str
    text: str
    url: str = ""
    date: str = ""
    source: str = ""
    path: str = ""  # file it came from, plus ':LINE' for JSON lines or '[INDEX]' for JSON arrays


@dataclass(frozen=True, slots=True)
class Skipped:
    """An input (file or record) that was not read, and why / what to do about it.

    ``path`` names the place (file, ``file:LINE`` or ``file[INDEX]``); ``reason`` never repeats it.
    """

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class Corpus:
    """Everything read from the given paths: articles plus what was skipped or worth a warning,
    and how many articles each format gave (``{"html": 2, "warc": 3, "jsonl": 31000}``)."""

    articles: list[Article]
    skipped: list[Skipped]
    warnings: list[str]
    formats: dict[str, int] = field(default_factory=dict)
    #: The file each article was read from, resolved (os.path.realpath): what an update
    #: compares to tell a deleted article from one of another source.
    origins: list[str] = field(default_factory=list)
    #: What each file gave, by resolved path: recorded with the index, so that the next build
    #: can skip the file while it is unchanged on disk (see read_corpus).
    files: dict[str, SourceFile] = field(default_factory=dict)
    #: Files not read because ``known`` said they are unchanged: their articles are not in
    #: ``articles`` (the index holds them), their skipped records and warnings are.
    unread: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class SourceFile:
    """What reading one file gave, and the file's stamp then (size and modification time in
    ns, its file id, READER_VERSION): while the stamp holds, reading it again gives the same."""

    stamp: tuple[int, str, int, int]
    articles: int
    format: str
    skipped: tuple[Skipped, ...] = ()
    warnings: tuple[str, ...] = ()
    #: An article id of it was renamed as a duplicate: its ids depend on other files.
    renamed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"stamp": list(self.stamp), "articles": self.articles, "format": self.format,
                "skipped": [[s.path, s.reason] for s in self.skipped],
                "warnings": list(self.warnings), "renamed": self.renamed}

    @classmethod
    def from_json(cls, obj: Any) -> SourceFile | None:
        """The record ``to_json`` wrote, or None for anything else (it is then read again)."""
        try:
            version, file_id, size, mtime = obj["stamp"]
            skipped = tuple(Skipped(str(path), str(reason)) for path, reason in obj["skipped"])
            return cls((int(version), str(file_id), int(size), int(mtime)), int(obj["articles"]),
                       str(obj["format"]), skipped, tuple(str(w) for w in obj["warnings"]),
                       bool(obj["renamed"]))
        except (KeyError, TypeError, ValueError):
            return None


def file_stamp(real: str, file_id: str) -> tuple[int, str, int, int] | None:
    """The stamp of file ``real`` read under ``file_id`` now, or None if it cannot be had."""
    try:
        st = os.stat(real)
    except OSError:
        return None
    return (READER_VERSION, file_id, st.st_size, st.st_mtime_ns)


class _Skip(Exception):
    """Raised inside a reader when an input cannot be used; the message is the Skipped reason."""


def read_corpus(paths: Iterable[str | Path] | str | Path,
                known: Mapping[str, SourceFile] | None = None) -> Corpus:
    """Read every article under `paths` (files or folders) into memory.

    ``known``: what an earlier read gave per file (its ``files``). A file whose stamp still
    matches is not read again: it goes to ``unread``, its skipped records and warnings are
    repeated. The caller (index.build) keeps its articles from the index, and reads again
    without ``known`` where its ids could now come out otherwise (a duplicate id across files).
    """
    corpus = Corpus([], [], [])
    corpus.articles = list(_iter(check_paths(paths), corpus, known or {}))
    log.debug("read %d articles, skipped %d, %d files unchanged", len(corpus.articles),
              len(corpus.skipped), len(corpus.unread))
    return corpus


def iter_articles(
    paths: Iterable[str | Path] | str | Path, skipped: list[Skipped], warnings: list[str],
    formats: dict[str, int] | None = None, origins: list[str] | None = None,
) -> Iterator[Article]:
    """Stream articles with unique ids and ISO 8601 dates, appending to `skipped` and
    `warnings` as it goes, counting articles per format in `formats` (see FORMAT_OF) and
    appending to `origins` the resolved file each article came from.

    Raises FileNotFoundError at once (before anything is read) if a path does not exist.
    """
    corpus = Corpus([], skipped, warnings, {} if formats is None else formats,
                    [] if origins is None else origins)
    return _iter(check_paths(paths), corpus, {})


def check_paths(paths: Iterable[str | Path] | str | Path) -> list[Path]:
    """``paths`` as Paths; FileNotFoundError (what to give instead) for one that is missing."""
    roots = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    for root in roots:
        if not (root.exists() or root.is_symlink()):  # a broken link or loop is skipped later
            raise FileNotFoundError(
                f"corpus path not found: {root} (give files or folders holding "
                f"{', '.join(SUPPORTED_SUFFIXES)} articles)"
            )
    return roots


def _iter(roots: list[Path], corpus: Corpus,
          known: Mapping[str, SourceFile]) -> Iterator[Article]:
    """Generator behind read_corpus: walk, read (or skip what ``known`` says is unchanged),
    normalize dates, rename duplicate ids; each file's outcome goes to ``corpus.files``."""
    ids, started = UniqueIds(), time.time_ns()
    skipped, warnings = corpus.skipped, corpus.warnings
    for path, file_id, suffix, real in walk_files(roots, skipped, warnings):
        stamp = file_stamp(real, file_id)
        old = known.get(real)
        if stamp is not None and old is not None and old.stamp == stamp:
            corpus.unread.add(real)
            corpus.files[real] = old
            skipped += old.skipped
            warnings += old.warnings
            corpus.formats[old.format] = corpus.formats.get(old.format, 0) + old.articles
            continue
        n_skipped, n_warnings, n_renamed, n = len(skipped), len(warnings), ids.renamed, 0
        for article in collect(read_file(path, file_id, suffix, warnings), suffix, real, ids,
                               skipped, warnings, corpus.formats, corpus.origins):
            n += 1
            yield article
        # A file skipped whole may have been a passing state (unreadable, being written):
        # not recorded, so the next build tries it again.
        whole_file = any(s.path == str(path) for s in skipped[n_skipped:])
        if stamp is not None and stamp[3] < started - RACY_NS and not whole_file:
            corpus.files[real] = SourceFile(stamp, n, FORMAT_OF[suffix],
                                            tuple(skipped[n_skipped:]),
                                            tuple(warnings[n_warnings:]), ids.renamed > n_renamed)


def collect(items: Iterable[Article | Skipped], suffix: str, real: str, ids: UniqueIds,
            skipped: list[Skipped], warnings: list[str], formats: dict[str, int],
            origins: list[str]) -> Iterator[Article]:
    """The articles among one file's ``items`` (read_file), ids made unique by ``ids``, each
    counted in ``formats`` and its file ``real`` added to ``origins``; skipped records go to
    ``skipped``. What a local read and a cluster read (index.cluster) both do with a file."""
    kind = FORMAT_OF[suffix]
    for item in items:
        if isinstance(item, Skipped):
            skipped.append(item)
            continue
        formats[kind] = formats.get(kind, 0) + 1
        origins.append(real)
        yield ids.accept(item, warnings)


def walk_files(roots: list[Path], skipped: list[Skipped],
               warnings: list[str]) -> Iterator[tuple[Path, str, str, str]]:
    """Each file to read under ``roots``, once: (path, file id, suffix, resolved path)."""
    seen: set[str] = set()
    for path, file_id, suffix in _walk(roots, skipped):
        real = os.path.realpath(path)  # never raises: _walk let through no link loop
        if real in seen:
            warnings.append(f"{path} was given more than once; read it once")
            continue
        seen.add(real)
        yield path, file_id, suffix, real


def read_file(path: Path, file_id: str, suffix: str,
              warnings: list[str]) -> Iterator[Article | Skipped]:
    """The articles (dates made ISO 8601) and skipped records of one file, in file order.

    Article ids are the file's own: :class:`UniqueIds` makes them unique across files."""
    odd_dates, first_odd = 0, ""
    try:
        for item in _read_file(path, file_id, suffix, warnings):
            if isinstance(item, Article) and item.date:
                date, understood = normalize_date(item.date)
                if not understood:
                    odd_dates += 1
                    first_odd = first_odd or f"{item.date!r} at {item.path}"
                elif date != item.date:
                    item = dataclasses.replace(item, date=date)
            yield item
    except Exception as exc:  # one odd file must not stop a 30,000-article import
        log.exception("unexpected error reading %s", path)
        yield Skipped(str(path), f"unexpected error ({exc!r}); please report it with this file")
    if odd_dates:
        warnings.append(f"{path}: {odd_dates} date(s) not understood, kept as written "
                        f"(first: {first_odd}); write dates as ISO 8601 (2019-07-26) or "
                        "as 'Fri, 06 Apr 2018 16:20:45 +0400'")


class UniqueIds:
    """Renames an article whose id was seen before (``id#2``, ``id#3``...): the first keeps it."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self._next: dict[str, int] = {}
        self.renamed = 0

    def accept(self, item: Article, warnings: list[str]) -> Article:
        if item.id in self.seen:
            n = self._next.get(item.id, 2)
            while f"{item.id}#{n}" in self.seen:
                n += 1
            self._next[item.id] = n + 1
            new_id = f"{item.id}#{n}"
            warnings.append(f"duplicate id {item.id!r} in {item.path} renamed to {new_id!r} "
                            "(the first article keeps the id)")
            item = dataclasses.replace(item, id=new_id)
            self.renamed += 1
        self.seen.add(item.id)
        return item


def _suffix(name: str) -> str | None:
    """The supported suffix `name` ends with (case-insensitive), or None."""
    lower = name.lower()
    return next((s for s in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True)
                 if lower.endswith(s) and len(lower) > len(s)), None)


def _walk(roots: list[Path], skipped: list[Skipped]) -> Iterator[tuple[Path, str, str]]:
    """Yield (file, file id, suffix) for each root; folders recursively, sorted, no hidden."""
    for root in roots:
        if root.is_dir():
            found: list[tuple[str, ...]] = []

            def on_error(err: OSError) -> None:
                skipped.append(Skipped(str(err.filename), f"cannot read folder ({err.strerror})"))

            for dirpath, dirnames, filenames in os.walk(root, onerror=on_error):
                dirnames[:] = [d for d in dirnames if not d.startswith(".")]
                rel = Path(dirpath).relative_to(root).parts
                found += [(*rel, f) for f in filenames if not f.startswith(".")]
            for parts in sorted(found):
                suffix = _suffix(parts[-1])
                if suffix is None:
                    log.debug("ignoring %s: unsupported extension", Path(root, *parts))
                    continue
                path = Path(root, *parts)
                if (why := _not_regular(path)) is not None:
                    skipped.append(Skipped(str(path), why))
                    continue
                yield path, "/".join(parts)[: -len(suffix)], suffix
        elif (why := _not_regular(root)) is not None:
            skipped.append(Skipped(str(root), why))
        elif (suffix := _suffix(root.name)) is None:
            skipped.append(Skipped(str(root), "unsupported file type; supported: "
                                   + ", ".join(SUPPORTED_SUFFIXES)))
        else:
            yield root, root.name[: -len(suffix)], suffix


def _not_regular(path: Path) -> str | None:
    """Why ``path`` (links followed) is not a regular file to read, or None if it is one.

    A FIFO would block the build forever and a device such as /dev/zero never ends; neither
    is opened."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop; fix or remove the link"
        if exc.errno == errno.ENOENT and path.is_symlink():
            return "broken symbolic link (its target does not exist); fix or remove the link"
        return f"cannot read file ({exc.strerror or exc}); check it exists and is readable"
    if stat.S_ISREG(mode):
        return None
    kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode)
            or stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else "a folder"
            if stat.S_ISDIR(mode) else "not a regular file")
    return f"not a regular file ({kind}); give article files ({', '.join(SUPPORTED_SUFFIXES)})"


def _read_file(
    path: Path, file_id: str, suffix: str, warnings: list[str]
) -> Iterator[Article | Skipped]:
    """Yield the articles and skipped records of one supported file."""
    where = str(path)
    if suffix in LINES_SUFFIXES:
        yield from _read_lines(path, file_id, warnings)
        return
    if FORMAT_OF[suffix] in ("html", "warc", "feed", "csv", "tsv"):
        yield from _read_format(path, file_id, suffix, warnings)
        return
    try:
        size = path.stat().st_size
        limit = MAX_JSON_BYTES if suffix == ".json" else MAX_TEXT_BYTES
        if size > limit:
            hint = "convert it to .jsonl (one article a line)" if suffix == ".json" else "split it"
            raise _Skip(f"too large ({size:,} bytes; the limit is {limit // MB} MB); {hint}")
        text, warning = _decode(path.read_bytes(), where)
        if not text.strip():
            raise _Skip("empty file")
        if warning:
            warnings.append(warning)
        if suffix != ".json":
            title = next((s for m in _LINE.finditer(text) if (s := m.group().strip())), "")
            if suffix == ".md":
                title = title.lstrip("# \t").strip()
            yield Article(id=file_id, title=title, text=text, path=where)
            return
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _Skip(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}; "
                        "fix the file (or use .jsonl so one bad record does not sink the rest)"
                        ) from None
        except (ValueError, RecursionError) as exc:
            raise _Skip(f"invalid JSON ({exc}); fix the file") from None
    except _Skip as exc:
        yield Skipped(where, str(exc))
        return
    except OSError as exc:
        yield Skipped(where, f"cannot read file ({exc.strerror or exc}); check it exists and "
                             "is readable")
        return
    if isinstance(data, dict) and isinstance(data.get("articles"), list):
        data = data["articles"]
    if isinstance(data, list):
        if not data:
            yield Skipped(where, "no articles in this JSON file (empty list)")
        for i, obj in enumerate(data):
            yield _record(obj, f"{file_id}:{i}", f"{where}[{i}]")
    else:
        yield _record(data, file_id, where)


def _read_format(
    path: Path, file_id: str, suffix: str, warnings: list[str]
) -> Iterator[Article | Skipped]:
    """A page, archive, feed or table, by its reader in index/formats.py, imported only now:
    trafilatura, warcio and feedparser cost a JSON-only build nothing."""
    from index import formats

    kind, where = FORMAT_OF[suffix], str(path)
    limit = {"html": formats.MAX_HTML_BYTES, "feed": formats.MAX_FEED_BYTES}.get(kind)
    try:
        if limit is not None and (size := path.stat().st_size) > limit:
            hint = "save the article page alone" if kind == "html" else "split it"
            yield Skipped(where, f"too large ({size:,} bytes; the limit is {limit // MB} MB); "
                                 f"{hint}")
            return
        if kind == "html":
            yield from formats.read_html(path, file_id, warnings)
        elif kind == "warc":
            yield from formats.read_warc(path, file_id, warnings)
        elif suffix == ".xml":
            yield from formats.read_xml(path, file_id, warnings)
        elif kind == "feed":
            yield from formats.read_feed(path, file_id, warnings)
        else:
            yield from formats.read_table(path, file_id, warnings,
                                          delimiter="\t" if kind == "tsv" else ",")
    except formats.MissingLibrary as exc:
        yield Skipped(where, str(exc))
    except OSError as exc:
        yield Skipped(where, f"cannot read file ({exc.strerror or exc}); check it exists and "
                             "is readable")


def _read_lines(path: Path, file_id: str, warnings: list[str]) -> Iterator[Article | Skipped]:
    """Stream a JSON-lines file (optionally gzipped): bad lines are skipped, good ones kept.

    A line longer than MAX_LINE_BYTES is skipped without being held in memory, and a gzipped
    file stops at MAX_DECOMPRESSED_BYTES (a gzip bomb), keeping the lines before."""
    where, gz = str(path), path.name.lower().endswith(".gz")
    lineno, records, cp1256_lines = 0, 0, 0
    try:
        with gzip.open(path, "rb") if gz else open(path, "rb") as raw:
            stream: Any = raw
            head = raw.peek(4)[:4]
            for bom, codec, label in _WIDE_BOMS:
                if head.startswith(bom):
                    warnings.append(f"decoded {where} as {label} (BOM)")
                    stream = io.TextIOWrapper(raw, encoding=codec)
                    break
            for lineno, line in _capped_lines(stream, raw if gz else None):
                if line is None:
                    records += 1
                    yield Skipped(f"{where}:{lineno}", f"line longer than {MAX_LINE_BYTES // MB} "
                                  "MB; one line must be one article")
                    continue
                if lineno == 1 and isinstance(line, bytes) and line.startswith(codecs.BOM_UTF8):
                    line = line[len(codecs.BOM_UTF8):]
                if not line.strip():
                    continue
                records += 1
                if isinstance(line, bytes):
                    try:
                        line, note = _utf8_or_cp1256(line, where=" of the line")
                    except _Skip as exc:
                        yield Skipped(f"{where}:{lineno}", str(exc))
                        continue
                    if note == "cp1256":
                        cp1256_lines += 1
                    elif note:
                        warnings.append(f"{where}:{lineno}: {note}")
                try:
                    obj = json.loads(line)
                except (ValueError, RecursionError) as exc:
                    yield Skipped(f"{where}:{lineno}", f"invalid JSON ({exc}); "
                                  "fix or remove that line")
                    continue
                yield _record(obj, f"{file_id}:{lineno}", f"{where}:{lineno}")
    except _Skip as exc:  # the decompressed-size cap
        yield Skipped(f"{where}:{lineno + 1}", str(exc))
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        what = "gzip " if gz else ""
        why = getattr(exc, "strerror", None) or exc  # an OSError's text repeats the file name
        if lineno == 0:
            yield Skipped(where, f"cannot read {what}file ({why}); check it is a valid {what}file")
        else:
            yield Skipped(f"{where}:{lineno + 1}", f"{what}file damaged or truncated after line "
                          f"{lineno} ({why}); the lines before were read; re-download or "
                          "re-create the file")
        return
    if cp1256_lines:
        warnings.append(f"decoded {cp1256_lines} line(s) of {where} as cp1256 (Windows Arabic): "
                        "not valid UTF-8; re-save the file as UTF-8")
    if not records:
        yield Skipped(where, "empty file")


def _capped_lines(stream: Any, gz: Any) -> Iterator[tuple[int, bytes | str | None]]:
    """(line number, line) of a binary or text stream; None for a line over MAX_LINE_BYTES
    (read through in 1 MiB pieces, never held). ``gz``: the gzip file whose decompressed
    position is capped at MAX_DECOMPRESSED_BYTES (raises _Skip past it)."""
    lineno = 0
    while True:
        line = stream.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        lineno += 1
        too_long = len(line) > MAX_LINE_BYTES and line[-1:] not in ("\n", b"\n")
        while too_long:
            more = stream.readline(MB)
            if not more or more[-1:] in ("\n", b"\n"):
                break
            _check_decompressed(gz)
        _check_decompressed(gz)
        yield lineno, None if too_long else line


def _check_decompressed(gz: Any) -> None:
    if gz is not None and gz.tell() > MAX_DECOMPRESSED_BYTES:
        raise _Skip(f"the file decompresses to more than {MAX_DECOMPRESSED_BYTES // MB} MB "
                    "(a damaged file or a decompression bomb); stopped here, the lines before "
                    "were read; split the file if it is real")


def _record(obj: Any, default_id: str, where: str) -> Article | Skipped:
    """Map one JSON object (own or shared news-corpus field names) to an Article."""
    if not isinstance(obj, dict):
        kind = _JSON_TYPES.get(type(obj), "number")
        return Skipped(where, f"expected a JSON object with a 'text' field, got {kind}")
    values: dict[str, str | None] = {}
    for name, keys in _FIELDS.items():
        key = next((k for k in keys if obj.get(k) is not None), None)
        value = None if key is None else obj[key]
        if isinstance(value, int | float) and not isinstance(value, bool) and name != "text":
            value = str(value)  # numeric ids and timestamps are common and harmless
        if value is not None and not isinstance(value, str):
            kind = _JSON_TYPES.get(type(value), "number")
            return Skipped(where, f"field {key!r} must be a string, got {kind}; fix the record")
        if value is not None and (bad := LONE_SURROGATE.search(value)):
            return Skipped(where, f"field {key!r} holds an invalid character (a lone UTF-16 "
                                  f"surrogate \\u{ord(bad.group()):04x} at position "
                                  f"{bad.start()}); fix the record")
        values[name] = value
    text = values.pop("text")
    if text is None:
        return Skipped(where, "record has no 'text' (or 'body'/'content') field; "
                              "add the article text")
    if not text.strip():
        return Skipped(where, "record has empty text; add the article text")
    meta = {k: (v or "").strip() for k, v in values.items()}
    return Article(id=meta.pop("id") or default_id, text=text, path=where, **meta)


def _decode(data: bytes, name: str) -> tuple[str, str | None]:
    """Decode file bytes to text (BOM, UTF-8, or cp1256 Arabic) -> (text, warning or None).

    Raises _Skip for empty, binary, or undecodable data.
    """
    if not data:
        raise _Skip("empty file")
    for bom, codec, label in _WIDE_BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(codec)  # the codec consumes the BOM
            except UnicodeDecodeError as exc:
                raise _Skip(f"not valid {label} despite its BOM (bad data at byte {exc.start}); "
                            "re-save the file as UTF-8") from None
            sample = text[:BINARY_SAMPLE]
            if len(_CONTROL_CHARS.findall(sample)) > BINARY_CONTROL_RATIO * len(sample):
                raise _Skip("looks like a binary file (many control characters), not text")
            return text, f"decoded {name} as {label} (BOM)"
    sample_bytes = data[:BINARY_SAMPLE]
    if b"\x00" in data or (
        len(_CONTROL_BYTES.findall(sample_bytes)) > BINARY_CONTROL_RATIO * len(sample_bytes)
    ):
        raise _Skip("looks like a binary file (NUL or control bytes), not text; give text files")
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    text, note = _utf8_or_cp1256(data[bom:], shift=bom, cp1256=not bom)
    if note == "cp1256":
        return text, (f"decoded {name} as cp1256 (Windows Arabic): not valid UTF-8; check the "
                      "text and re-save the file as UTF-8")
    return text, f"{name}: {note}" if note else None


def _utf8_or_cp1256(data: bytes, *, shift: int = 0, cp1256: bool = True,
                    where: str = "") -> tuple[str, str]:
    """(text, note) for the bytes of a file or a JSON line: UTF-8 (note ""); clearly UTF-8 with
    a few stray bytes, each replaced by U+FFFD (the note says where); or, only when all of it
    reads cleanly as plausible Arabic in it, cp1256 (note "cp1256"). Raises _Skip otherwise.
    ``shift`` is added to reported offsets (a BOM before ``data``); ``where`` qualifies them."""
    try:
        return data.decode("utf-8"), ""
    except UnicodeDecodeError as exc:
        first = exc.start + shift
    if (strays := _utf8_with_strays(data)) is not None:
        text, offsets = strays
        shown = ", ".join(str(o + shift) for o in offsets[:5])
        shown += ", ..." if len(offsets) > 5 else ""
        return text, (f"{len(offsets)} invalid UTF-8 byte sequence(s) at byte offset(s) {shown} "
                      "replaced by U+FFFD (\ufffd); fix the file if they hid letters")
    if cp1256 and (text := _cp1256(data)) is not None:
        return text, "cp1256"
    raise _Skip(f"not valid UTF-8 (first bad byte at offset {first}{where}); "
                "re-save the file as UTF-8")


def _utf8_with_strays(data: bytes) -> tuple[str, list[int]] | None:
    """``data`` decoded as UTF-8 with each invalid sequence replaced by U+FFFD, and their byte
    offsets, when it is clearly UTF-8 (STRAY_RATIO valid multi-byte characters or more per
    invalid sequence); else None."""
    valid = data.decode("utf-8", errors="ignore")
    limit = (len(valid) - len(valid.encode("ascii", "ignore"))) // STRAY_RATIO
    offsets, pieces, pos = [], [], 0
    while len(offsets) <= limit:
        try:
            pieces.append(data[pos:].decode("utf-8"))
            return ("\ufffd".join(pieces), offsets) if offsets else None
        except UnicodeDecodeError as exc:
            pieces.append(data[pos:pos + exc.start].decode("utf-8"))
            offsets.append(pos + exc.start)
            pos += exc.end
    return None


def _cp1256(data: bytes) -> str | None:
    """Decode as Windows Arabic if the result is plausible Arabic text, else None."""
    text = data.decode("cp1256", errors="replace")
    if "\ufffd" in text or _CP1256_BAD.search(text):
        return None
    letters = sum(map(str.isalpha, text))
    arabic = sum(1 for c in _ARABIC.findall(text) if c.isalpha())
    return text if letters and arabic >= MIN_ARABIC_RATIO * letters else None
