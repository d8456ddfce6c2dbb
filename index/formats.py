"""Readers for what newsrooms export: saved HTML pages, WARC web archives, RSS/Atom feeds, and
CSV/TSV tables. Each yields Article | Skipped for one file, as index.corpus's readers do.

The field's libraries do the parsing: trafilatura (main text and metadata of a page, boilerplate
removed), warcio (archive records), feedparser (feeds), the csv module. Article.text is always
plain text exactly as stored, so citation offsets slice it; no markup survives into it.
"""

from __future__ import annotations

import codecs
import csv
import importlib
import io
import logging
import re
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from index.corpus import (
    _FIELDS,
    _WIDE_BOMS,
    BINARY_SAMPLE,
    MAX_LINE_BYTES,
    MB,
    Article,
    Skipped,
    _cp1256,
)

log = logging.getLogger(__name__)

MAX_HTML_BYTES = 20 * MB  # trafilatura's own limit (MAX_FILE_SIZE): a bigger page is not read
MAX_FEED_BYTES = 100 * MB  # a feed is parsed whole; real ones are a few MB
HTML_TYPES = ("text/html", "application/xhtml+xml")
FEED_ROOTS = ("rss", "feed", "RDF")  # RSS 2.0, Atom, RSS 1.0
# Publication date from the page's markup only (meta tags, time elements, JSON-LD, the URL):
# htmldate's "extensive search" would guess one from any date in the text.
_DATE_PARAMS = {"original_date": True, "extensive_search": False}
_BLOCKS = ("p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre",
           "section", "article", "header", "footer", "figure", "figcaption", "table", "dd", "dt")
_SPACES = re.compile(r"\s+")


class MissingLibrary(ImportError):
    """A reader's library cannot be imported; the message says how to install it."""


def library(module: str, distribution: str) -> Any:
    """``module`` imported, or MissingLibrary naming the pinned pip line (an environment made
    before these formats were read lacks them)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        from index.encoder.pins import pin

        raise MissingLibrary(f"cannot read this format: {distribution} cannot be imported "
                             f"({exc}); run: pip install {pin(distribution)}") from exc


def read_html(path: Path, file_id: str, warnings: list[str]) -> Iterator[Article | Skipped]:
    """One saved web page: its main text (trafilatura), headline, canonical URL, site, date."""
    data = path.read_bytes()
    if not data.strip():
        yield Skipped(str(path), "empty file")
        return
    yield html_article(data, id=file_id, where=str(path))


def html_article(page: bytes, *, id: str, where: str, url: str = "",
                 charset: str | None = None) -> Article | Skipped:
    """The article in one HTML page, or Skipped when the page has no main text.

    ``url``, when given (a WARC record's target), is the article's URL; else the page's
    canonical one. ``charset``: the encoding an HTTP header declared, tried first."""
    extract = library("trafilatura", "trafilatura").bare_extraction
    try:
        doc = extract(_decode_html(page, charset), url=url or None, with_metadata=True,
                      include_comments=False, date_extraction_params=_DATE_PARAMS)
    except Exception as exc:  # one odd page must not stop an archive of thousands
        log.exception("trafilatura failed on %s", where)
        return Skipped(where, f"could not extract the page ({exc!r}); please report it with "
                              "this file")
    text = doc.text if doc is not None else ""
    if not text or not text.strip():
        return Skipped(where, "no article text found in the page (only navigation, scripts or "
                              "nothing); give saved article pages, not index pages or apps")
    return Article(id=id, title=(doc.title or "").strip(), text=text, path=where,
                   url=(url or doc.url or "").strip(), date=(doc.date or "").strip(),
                   source=(doc.sitename or doc.hostname or "").strip())


def _decode_html(page: bytes, charset: str | None) -> str | bytes:
    """The page as text when its encoding is known (HTTP charset, UTF-8, or its <meta>
    charset as lxml reads it); else the bytes, for trafilatura to detect the encoding."""
    from lxml import etree, html

    for enc in filter(None, (charset, "utf-8-sig")):
        try:
            return page.decode(enc)
        except (LookupError, UnicodeDecodeError):
            continue
    try:
        declared = html.document_fromstring(page).getroottree().docinfo.encoding
        return page.decode(declared)
    except (LookupError, UnicodeDecodeError, ValueError, TypeError, etree.ParserError):
        return page


def read_warc(path: Path, file_id: str, warnings: list[str]) -> Iterator[Article | Skipped]:
    """Each HTML response (status 200) of a WARC / WARC.gz archive, read by html_article.

    Other records (requests, metadata, images, JSON, redirects) are counted in one warning.
    A damaged or cut-off archive keeps the records before the damage."""
    archive_iterator = library("warcio.archiveiterator", "warcio").ArchiveIterator
    where, other, n = str(path), Counter[str](), -1
    with open(path, "rb") as fh:
        if not fh.peek(1):
            yield Skipped(where, "empty file")
            return
        records = iter(archive_iterator(fh))
        while True:
            try:
                rec = next(records)
            except StopIteration:
                break
            except Exception as exc:  # warcio raises many kinds, even AttributeError, on damage
                yield _damaged(where, n + 1, exc)
                break
            n += 1
            if n == 0 and rec.format != "warc":
                yield Skipped(where, "not a WARC file (it does not start with a WARC/1.x "
                                     "record); give .warc or .warc.gz web archives")
                return
            try:
                page = _warc_page(rec)
                while rec.raw_stream.read(MB):  # to the record's end: is it all there?
                    pass
                if getattr(rec.raw_stream, "limit", 0) > 0:
                    raise EOFError("the file ends inside this record")
            except Exception as exc:  # zlib, EOF or chunking errors inside a cut-off record
                yield _damaged(where, n, exc)
                break
            if isinstance(page, str):
                other[page] += 1
            elif len(page[0]) > MAX_HTML_BYTES:
                yield Skipped(f"{where}[{n}]", f"page larger than {MAX_HTML_BYTES // MB} MB; "
                                               "not read")
            else:
                yield html_article(page[0], id=f"{file_id}:{n}", where=f"{where}[{n}]",
                                   url=page[1], charset=page[2])
    if other:
        kinds = ", ".join(f"{k} {c}" for k, c in other.most_common())
        warnings.append(f"{where}: skipped {other.total()} non-HTML record(s) ({kinds}); only "
                        "HTML responses with HTTP status 200 are articles")
    if n < 0:
        yield Skipped(where, "no records in this WARC file")


def _warc_page(rec: Any) -> tuple[bytes, str, str | None] | str:
    """``(body, target URL, HTTP charset)`` of an HTML page record (the body read up to one
    byte past MAX_HTML_BYTES), or what kind of record it is when it is no page."""
    http = rec.http_headers
    if rec.rec_type != "response" or http is None:
        return rec.rec_type
    ctype, _, params = (http.get_header("Content-Type") or "").partition(";")
    ctype = ctype.strip().lower()
    if ctype not in HTML_TYPES:
        return ctype or "no Content-Type"
    if (status := http.get_statuscode()) != "200":
        return f"HTML with HTTP status {status}"
    body = rec.content_stream().read(MAX_HTML_BYTES + 1)
    charset = next((v.strip(" \"'") for k, _, v in (p.partition("=") for p in params.split(";"))
                    if k.strip().lower() == "charset"), None)
    return body, rec.rec_headers.get_header("WARC-Target-URI") or "", charset


def _damaged(where: str, n: int, exc: Exception) -> Skipped:
    """Skipped for the rest of an archive from record ``n`` on; says how to repair it."""
    from warcio.exceptions import ArchiveLoadFailed

    text = str(exc).strip()
    if "non-chunked gzip" in text:
        return Skipped(f"{where}[{n}]", "the archive is gzipped as one piece, not record by "
                       "record, so only its first record was read; fix it with "
                       "'warcio recompress IN.warc.gz OUT.warc.gz'")
    known = isinstance(exc, ArchiveLoadFailed | OSError | EOFError | ValueError | zlib.error)
    why = text.splitlines()[0].strip() if known and text else "unreadable data"
    return Skipped(f"{where}[{n}]", f"archive damaged or cut off at record {n} ({why}); the "
                                    "records before were read; re-download or re-create it")


def read_xml(path: Path, file_id: str, warnings: list[str]) -> Iterator[Article | Skipped]:
    """A .xml file is read as a feed only when its root element is <rss>, <feed> or <rdf:RDF>;
    any other XML (a sitemap, a config) is Skipped saying so."""
    from lxml import etree

    data = path.read_bytes()
    try:
        _, root = next(etree.iterparse(io.BytesIO(data), events=("start",),
                                       resolve_entities=False, no_network=True))
        name = etree.QName(root).localname
    except (etree.XMLSyntaxError, StopIteration) as exc:
        yield Skipped(str(path), f"not an RSS/Atom feed (not well-formed XML: {exc}); .xml files "
                                 "are read only when they are feeds")
        return
    if name not in FEED_ROOTS:
        yield Skipped(str(path), f"not an RSS/Atom feed (its root element is <{name}>); .xml "
                                 "files are read only when they are feeds")
        return
    yield from _feed(data, str(path), file_id, warnings)


def read_feed(path: Path, file_id: str, warnings: list[str]) -> Iterator[Article | Skipped]:
    """An RSS or Atom feed: one article per entry (full content, else its summary)."""
    yield from _feed(path.read_bytes(), str(path), file_id, warnings)


def _feed(data: bytes, where: str, file_id: str, warnings: list[str]
          ) -> Iterator[Article | Skipped]:
    # Bytes, never a str: feedparser would take a str for a URL or a file name to open.
    parsed = library("feedparser", "feedparser").parse(data)
    entries = parsed.entries
    problem = parsed.get("bozo_exception") if parsed.bozo else None
    if not entries:
        why = f"not a readable feed ({problem})" if problem else "no entries in this feed"
        yield Skipped(where, f"{why}; give RSS or Atom feeds with items")
        return
    if problem:
        warnings.append(f"{where}: feed not well-formed ({problem}); read the {len(entries)} "
                        "entries found")
    source = _field_text(parsed.feed, "title")
    summaries = 0
    for i, entry in enumerate(entries):
        detail = next((c for c in entry.get("content") or [] if c.get("value", "").strip()), None)
        if detail is None and (detail := entry.get("summary_detail")) is not None:
            summaries += 1
        text = _to_text(detail.get("value", ""), detail.get("type", "")) if detail else ""
        if not text.strip():
            yield Skipped(f"{where}[{i}]", "entry has no content or summary text; save the "
                                           "linked page as HTML to index it")
            continue
        yield Article(id=(entry.get("id") or "").strip() or f"{file_id}:{i}",
                      title=_field_text(entry, "title"), text=text,
                      url=(entry.get("link") or "").strip(),
                      date=entry.get("published") or entry.get("updated") or "", source=source,
                      path=f"{where}[{i}]")
    if summaries:
        warnings.append(f"{where}: {summaries} of {len(entries)} entries had only a summary (no "
                        "full content); their articles hold the summary alone")


def _field_text(obj: Any, key: str) -> str:
    """A feed's or entry's text field (title), as plain text whatever its declared type."""
    detail = obj.get(f"{key}_detail") or {}
    return _to_text(obj.get(key, ""), detail.get("type", "text/plain")).strip()


def _to_text(value: str, mime: str) -> str:
    """Plain text of feed HTML: tags dropped (script/style with their content), one line per
    block element, runs of spaces collapsed. Text that is not HTML is returned as is."""
    if "html" not in mime or not value.strip():
        return value
    from lxml import etree, html

    try:
        root = html.fragment_fromstring(value, create_parent="div")
    except (etree.ParserError, ValueError):
        return ""
    for bad in root.xpath("//script|//style|//noscript|//template|//iframe|//object"):
        bad.drop_tree()
    for node in root.iter():  # the HTML's own line breaks are spaces, as a browser shows them
        node.text = node.text and _SPACES.sub(" ", node.text)
        node.tail = node.tail and _SPACES.sub(" ", node.tail)
    for block in root.iter(*_BLOCKS):
        block.text = "\n" + (block.text or "")
        block.tail = "\n" + (block.tail or "")
    lines = (_SPACES.sub(" ", line).strip() for line in root.text_content().split("\n"))
    return "\n".join(line for line in lines if line)


def read_table(path: Path, file_id: str, warnings: list[str], *, delimiter: str
               ) -> Iterator[Article | Skipped]:
    """A CSV/TSV export whose header names the columns: 'text' (or 'body'/'content') required,
    'title', 'date', 'url', 'source', 'id' optional. Rows are ``file:ROW`` with the header as
    row 1, as a spreadsheet numbers them; a row with no text is skipped alone."""
    where = str(path)
    # One article is one field: allow it as large as one JSON line may be.
    csv.field_size_limit(max(csv.field_size_limit(), MAX_LINE_BYTES))
    with open(path, "rb") as raw:
        head = raw.read(BINARY_SAMPLE)
        raw.seek(0)
        try:
            encoding = _table_encoding(head, where, warnings)
        except ValueError as exc:
            yield Skipped(where, str(exc))
            return
        rows = csv.reader(io.TextIOWrapper(raw, encoding=encoding, newline=""),
                          delimiter=delimiter)
        row_no = 0
        try:
            header = next(rows, None)
            if header is None or not any(h.strip() for h in header):
                yield Skipped(where, "empty file (no header row)")
                return
            row_no = 1
            names = [h.strip().lower() for h in header]
            cols = {field: next((names.index(a) for a in aliases if a in names), None)
                    for field, aliases in _FIELDS.items()}
            if (text_col := cols.pop("text")) is None:
                found = ", ".join(repr(h) for h in header)
                yield Skipped(where, f"no 'text' column (nor 'body' or 'content'); the header "
                                     f"has {found}; name the article-text column 'text'")
                return
            for row_no, row in enumerate(rows, start=2):
                if row:  # not a blank line
                    yield _table_row(row, len(header), text_col, cols, file_id, where, row_no)
        except (csv.Error, UnicodeDecodeError) as exc:
            yield Skipped(f"{where}:{row_no + 1}", f"cannot read the table here ({exc}); the rows "
                                                   "before were read; fix the file")
            return
    if row_no == 1:
        yield Skipped(where, "no rows after the header; add the articles, one a row")


def _table_row(row: list[str], width: int, text_col: int, cols: dict[str, int | None],
               file_id: str, where: str, row_no: int) -> Article | Skipped:
    here = f"{where}:{row_no}"
    if len(row) > width:
        return Skipped(here, f"{len(row)} fields but the header has {width}; quote fields "
                             "that hold the delimiter")
    text = row[text_col] if text_col < len(row) else ""
    if not text.strip():
        return Skipped(here, "empty text; add the article text or remove the row")
    meta = {k: row[c].strip() if c is not None and c < len(row) else "" for k, c in cols.items()}
    return Article(id=meta.pop("id") or f"{file_id}:{row_no}", text=text, path=here, **meta)


def _table_encoding(head: bytes, where: str, warnings: list[str]) -> str:
    """The codec of a table from its first bytes: a BOM's, UTF-8, or cp1256 (Excel's "CSV" on
    Arabic Windows) when that reads as Arabic. Raises ValueError for anything else."""
    for bom, codec, label in _WIDE_BOMS:  # Excel's "Unicode Text" export is UTF-16 LE
        if head.startswith(bom):
            warnings.append(f"decoded {where} as {label} (BOM)")
            return codec
    if b"\x00" in head:
        raise ValueError("looks like a binary file (NUL bytes), not a text table")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8-sig"  # drops a BOM, if any, from the first column's name
    except UnicodeDecodeError as exc:
        first = exc.start
    if _cp1256(head) is not None:
        warnings.append(f"decoded {where} as cp1256 (Windows Arabic): not valid UTF-8; re-save "
                        "the file as UTF-8")
        return "cp1256"
    raise ValueError(f"not valid UTF-8 (first bad byte at offset {first}); re-save the file as "
                     "'CSV UTF-8'")
