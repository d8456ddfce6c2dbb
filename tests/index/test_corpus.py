"""Tests for index.corpus: formats, field mapping, ids, and hostile or broken input."""

from __future__ import annotations

import codecs
import gzip
import itertools
import json
import random
from pathlib import Path

import pytest

from index.corpus import Article, Corpus, iter_articles, read_corpus
from index.dates import normalize_date

REPO = Path(__file__).resolve().parents[2]
SEEDS = REPO / "seeds"
SHARED_CORPUS = REPO.parent / "shared" / "data" / "ant_news_v2.1.jsonl.gz"

TITLE = "انسحاب القوات من العراق"
BODY = "أعلنت الحكومة العراقية أنها ستبدأ محادثات رسمية مع الولايات المتحدة."
ARTICLE = f"{TITLE}\n{BODY}\n"


def write(path: Path, data: str | bytes) -> Path:
    """Write text as UTF-8 (or raw bytes), creating parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


def jsonl(records: list[dict[str, object]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def only(corpus: Corpus) -> Article:
    assert corpus.skipped == [], corpus.skipped
    assert len(corpus.articles) == 1, corpus.articles
    return corpus.articles[0]


def skipped_reason(corpus: Corpus) -> str:
    assert corpus.articles == []
    assert len(corpus.skipped) == 1, corpus.skipped
    return corpus.skipped[0].reason


# --- plain text and markdown -------------------------------------------------------------


def test_seed_folder() -> None:
    seed = SEEDS / "000_f4163db1c6c8c2c8.txt"
    corpus = read_corpus([SEEDS])
    art = only(corpus)
    text = seed.read_bytes().decode("utf-8")
    assert art.id == "000_f4163db1c6c8c2c8"
    assert art.text == text
    assert art.title == text.splitlines()[0].strip()
    assert art.title.startswith("أسوشيتد برس")
    assert art.path == str(seed)
    assert corpus.warnings == []


def test_txt_title_is_first_nonempty_line_and_text_kept(tmp_path: Path) -> None:
    raw = f"\n  \r\n  {TITLE}  \r\n{BODY}\r\n"
    art = only(read_corpus([write(tmp_path / "a.txt", raw)]))
    assert art.title == TITLE
    assert art.text == raw  # CRLF and leading blank lines kept verbatim
    assert art.id == "a"


def test_md_title_strips_hash_marks(tmp_path: Path) -> None:
    raw = f"## {TITLE}\n\n{BODY}\n"
    art = only(read_corpus([write(tmp_path / "news.md", raw)]))
    assert art.title == TITLE
    assert art.text == raw


def test_single_string_path_accepted(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", ARTICLE)
    assert only(read_corpus(str(tmp_path))).id == "a"


# --- JSON and JSON lines -----------------------------------------------------------------


def test_json_object_list_and_articles_key(tmp_path: Path) -> None:
    rec = {"id": "x1", "title": TITLE, "text": BODY, "url": "http://e.com/1", "date": "2018",
           "source": "bbc"}
    write(tmp_path / "one.json", json.dumps(rec, ensure_ascii=False))
    write(tmp_path / "many.json", json.dumps([{"text": BODY}, {"text": ARTICLE}]))
    write(tmp_path / "wrapped.json", json.dumps({"articles": [{"id": "w", "text": BODY}]}))
    corpus = read_corpus([tmp_path])
    assert corpus.skipped == []
    by_id = {a.id: a for a in corpus.articles}
    assert sorted(by_id) == ["many:0", "many:1", "w", "x1"]
    assert by_id["x1"] == Article("x1", TITLE, BODY, "http://e.com/1", "2018", "bbc",
                                  str(tmp_path / "one.json"))
    assert by_id["many:1"].text == ARTICLE
    assert by_id["many:1"].title == ""  # JSON titles come from the field only
    assert by_id["many:1"].path == f"{tmp_path / 'many.json'}[1]"


def test_json_single_object_without_id_uses_file_id(tmp_path: Path) -> None:
    art = only(read_corpus([write(tmp_path / "sub" / "a.json", json.dumps({"text": BODY}))]))
    assert art.id == "a"


def test_jsonl_shared_corpus_schema(tmp_path: Path) -> None:
    rec = {"docno": "AL-1", "url": "http://alarabiya.net/1", "src": "alarabia", "cat": "culture",
           "title": TITLE, "time": "Sun, 18 Feb 2018 21:35:43 +0400", "text": BODY}
    path = write(tmp_path / "news.jsonl", jsonl([rec]))
    art = only(read_corpus([path]))
    assert art == Article("AL-1", TITLE, BODY, "http://alarabiya.net/1",
                          "2018-02-18T21:35:43+04:00", "alarabia", f"{path}:1")  # ISO 8601


def test_alternative_field_names_and_non_strings(tmp_path: Path) -> None:
    recs = [{"id": 7, "headline": TITLE, "body": BODY, "link": "u", "date": 2018, "src": None},
            {"content": ARTICLE}]
    corpus = read_corpus([write(tmp_path / "n.jsonl", jsonl(recs))])
    a, b = corpus.articles
    assert (a.id, a.title, a.text, a.url, a.date, a.source) == ("7", TITLE, BODY, "u", "2018", "")
    assert (b.id, b.text) == ("n:2", ARTICLE)  # no id -> file id + line number


def test_jsonl_gz_and_json_gz(tmp_path: Path) -> None:
    data = jsonl([{"docno": "d1", "text": BODY}, {"docno": "d2", "text": ARTICLE}])
    write(tmp_path / "a.jsonl.gz", gzip.compress(data.encode()))
    write(tmp_path / "b.json.gz", gzip.compress(jsonl([{"text": BODY}]).encode()))
    corpus = read_corpus([tmp_path])
    assert corpus.skipped == []
    assert [a.id for a in corpus.articles] == ["d1", "d2", "b:1"]
    assert corpus.articles[1].text == ARTICLE


def test_missing_or_empty_text_skipped_with_record_location(tmp_path: Path) -> None:
    path = write(tmp_path / "n.jsonl", jsonl([{"id": "a"}, {"text": "  "}, {"text": BODY}, [1]]))
    corpus = read_corpus([path])
    assert [a.text for a in corpus.articles] == [BODY]
    reasons = [s.reason for s in corpus.skipped]
    assert [s.path for s in corpus.skipped] == [f"{path}:1", f"{path}:2", f"{path}:4"]
    assert "no 'text'" in reasons[0] and str(path) not in reasons[0]  # the place is in .path
    assert str(corpus.skipped[0]) == f"{path}:1: {reasons[0]}"
    assert "empty text" in reasons[1]
    assert "expected a JSON object" in reasons[2]


# --- folders, ordering, ids --------------------------------------------------------------


def test_recursive_walk_sorted_hidden_and_unsupported_ignored(tmp_path: Path) -> None:
    write(tmp_path / "b.txt", ARTICLE)
    write(tmp_path / "a" / "z.md", ARTICLE)
    write(tmp_path / "a" / "c" / "x.txt", ARTICLE)
    write(tmp_path / "a.txt", ARTICLE)
    write(tmp_path / ".hidden.txt", ARTICLE)
    write(tmp_path / ".git" / "x.txt", ARTICLE)
    write(tmp_path / "notes.odt", "a,b")
    write(tmp_path / "img.png", b"\x89PNG\x00")
    corpus = read_corpus([tmp_path])
    ids = [a.id for a in corpus.articles]
    assert ids == ["a/c/x", "a/z", "a", "b"]
    assert corpus.skipped == [] and corpus.warnings == []
    assert [a.id for a in read_corpus([tmp_path]).articles] == ids  # stable


def test_explicit_unsupported_file_skipped(tmp_path: Path) -> None:
    reason = skipped_reason(read_corpus([write(tmp_path / "notes.odt", "a,b")]))
    assert ".txt" in reason and ".jsonl.gz" in reason and ".warc.gz" in reason


def test_duplicate_ids_renamed(tmp_path: Path) -> None:
    write(tmp_path / "a.jsonl", jsonl([{"id": "x", "text": "1"}, {"id": "x", "text": "2"},
                                       {"id": "x#2", "text": "3"}, {"id": "x", "text": "4"}]))
    corpus = read_corpus([tmp_path])
    assert [(a.id, a.text) for a in corpus.articles] == [
        ("x", "1"), ("x#2", "2"), ("x#2#2", "3"), ("x#3", "4")]
    assert len(corpus.warnings) == 3 and "duplicate id 'x'" in corpus.warnings[0]


def test_same_file_given_twice_read_once(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", ARTICLE)
    corpus = read_corpus([tmp_path, path])
    assert len(corpus.articles) == 1 and "more than once" in corpus.warnings[0]


def test_nonexistent_path_raises(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", ARTICLE)
    with pytest.raises(FileNotFoundError, match="corpus path not found: .*nope"):
        iter_articles([tmp_path, tmp_path / "nope"], [], [])  # raises before reading anything


# --- encodings ---------------------------------------------------------------------------


def test_utf8_bom_stripped(tmp_path: Path) -> None:
    art = only(read_corpus([write(tmp_path / "a.txt", codecs.BOM_UTF8 + ARTICLE.encode())]))
    assert art.text == ARTICLE and art.title == TITLE


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_utf16_utf32_with_bom(tmp_path: Path, codec: str) -> None:
    bom = {"utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE,
           "utf-32-le": codecs.BOM_UTF32_LE, "utf-32-be": codecs.BOM_UTF32_BE}[codec]
    corpus = read_corpus([write(tmp_path / "a.txt", bom + ARTICLE.encode(codec))])
    art = only(corpus)
    assert art.text == ARTICLE and art.title == TITLE
    assert len(corpus.warnings) == 1 and "UTF-" in corpus.warnings[0]


def test_utf16_jsonl(tmp_path: Path) -> None:
    data = codecs.BOM_UTF16_LE + jsonl([{"text": BODY}, {"text": TITLE}]).encode("utf-16-le")
    corpus = read_corpus([write(tmp_path / "a.jsonl", data)])
    assert [a.text for a in corpus.articles] == [BODY, TITLE] and corpus.skipped == []
    assert "UTF-16 LE" in corpus.warnings[0]


def test_cp1256_arabic_decoded_with_warning(tmp_path: Path) -> None:
    corpus = read_corpus([write(tmp_path / "a.txt", ARTICLE.encode("cp1256"))])
    art = only(corpus)
    assert art.text == ARTICLE and art.title == TITLE
    assert "cp1256" in corpus.warnings[0]


def test_cp1256_jsonl_line(tmp_path: Path) -> None:
    lines = jsonl([{"text": BODY}]).encode() + jsonl([{"text": TITLE}]).encode("cp1256")
    corpus = read_corpus([write(tmp_path / "a.jsonl", lines)])
    assert [a.text for a in corpus.articles] == [BODY, TITLE]
    assert "cp1256" in corpus.warnings[0]


def test_invalid_utf8_non_arabic_skipped(tmp_path: Path) -> None:
    data = "café crème brûlée, déjà vu\n".encode("latin-1") * 3
    reason = skipped_reason(read_corpus([write(tmp_path / "a.txt", data)]))
    assert "not valid UTF-8 (first bad byte at offset 3)" in reason
    assert "re-save the file as UTF-8" in reason


def test_random_bytes_skipped(tmp_path: Path) -> None:
    data = random.Random(0).randbytes(4096)
    reason = skipped_reason(read_corpus([write(tmp_path / "a.txt", data)]))
    assert "binary" in reason or "not valid UTF-8" in reason


def test_invalid_utf8_after_bom_skipped(tmp_path: Path) -> None:
    data = codecs.BOM_UTF8 + "عربي".encode() + b"\xff"
    reason = skipped_reason(read_corpus([write(tmp_path / "a.txt", data)]))
    assert "offset 11" in reason


# --- hostile and broken input ------------------------------------------------------------


def test_binary_txt_skipped(tmp_path: Path) -> None:
    write(tmp_path / "nul.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    write(tmp_path / "ctl.txt", bytes(range(1, 9)) * 50 + b"text")
    corpus = read_corpus([tmp_path])
    assert corpus.articles == [] and len(corpus.skipped) == 2
    assert all("looks like a binary file" in s.reason for s in corpus.skipped)


@pytest.mark.parametrize("data", [b"", b"  \n\t\r\n  ", codecs.BOM_UTF8 + b"\n"])
def test_empty_file_skipped(tmp_path: Path, data: bytes) -> None:
    assert skipped_reason(read_corpus([write(tmp_path / "a.txt", data)])) == "empty file"


def test_empty_jsonl_and_json_list_skipped(tmp_path: Path) -> None:
    write(tmp_path / "a.jsonl", "\n\n")
    write(tmp_path / "b.json", "[]")
    corpus = read_corpus([tmp_path])
    assert corpus.articles == [] and len(corpus.skipped) == 2


def test_bad_jsonl_line_among_good_ones(tmp_path: Path) -> None:
    text = jsonl([{"text": "1"}]) + '{"text": "broken\n' + jsonl([{"text": "3"}]) + "\n"
    path = write(tmp_path / "a.jsonl", text)
    corpus = read_corpus([path])
    assert [a.text for a in corpus.articles] == ["1", "3"]
    assert [a.id for a in corpus.articles] == ["a:1", "a:3"]
    (skip,) = corpus.skipped
    assert skip.path == f"{path}:2" and "invalid JSON" in skip.reason


def test_invalid_json_file_skipped_with_position(tmp_path: Path) -> None:
    reason = skipped_reason(read_corpus([write(tmp_path / "a.json", '[{"text": "x"},\n{')]))
    assert "invalid JSON at line 2" in reason


def test_truncated_gzip_keeps_lines_before_damage(tmp_path: Path) -> None:
    data = jsonl([{"id": f"n{i}", "text": f"{BODY} {i}"} for i in range(3000)]).encode()
    packed = gzip.compress(data)
    corpus = read_corpus([write(tmp_path / "a.jsonl.gz", packed[: len(packed) // 2])])
    assert 0 < len(corpus.articles) < 3000
    assert [a.id for a in corpus.articles] == [f"n{i}" for i in range(len(corpus.articles))]
    assert "truncated" in corpus.skipped[-1].reason
    assert all("invalid JSON" in s.reason for s in corpus.skipped[:-1])  # at most a cut line


def test_not_gzip_skipped(tmp_path: Path) -> None:
    reason = skipped_reason(read_corpus([write(tmp_path / "a.jsonl.gz", jsonl([{"text": "x"}]))]))
    assert "gzip" in reason


def test_unreadable_jsonl_is_skipped_once_by_its_file_name(tmp_path: Path) -> None:
    (tmp_path / "gone.jsonl").symlink_to(tmp_path / "missing.jsonl")  # a dangling link
    corpus = read_corpus([tmp_path])
    [skip] = corpus.skipped
    assert skip.path == str(tmp_path / "gone.jsonl")  # the file, not a line of it
    assert "broken symbolic link" in skip.reason and "gone.jsonl" not in skip.reason


def test_html_script_kept_verbatim(tmp_path: Path) -> None:
    raw = f"<h1>{TITLE}</h1>\n<script>alert('x')</script><p>{BODY}</p>\n"
    art = only(read_corpus([write(tmp_path / "a.txt", raw)]))
    assert art.text == raw and art.title == f"<h1>{TITLE}</h1>"
    rec = {"title": "<b>x</b>", "text": raw}
    art = only(read_corpus([write(tmp_path / "b.jsonl", jsonl([rec]))]))
    assert art.text == raw and art.title == "<b>x</b>"


def test_bidi_zero_width_and_control_chars_kept(tmp_path: Path) -> None:
    raw = f"\u202e{TITLE}\u200b\n{BODY}\x07\x1b[0m\u200f\ufeff\n"
    art = only(read_corpus([write(tmp_path / "a.txt", raw)]))
    assert art.text == raw
    assert art.title == f"\u202e{TITLE}\u200b"


def test_large_article_and_long_line(tmp_path: Path) -> None:
    big = ARTICLE + (BODY + "\n") * (5_000_000 // len((BODY + "\n").encode()))
    long_line = "كلمة " * 20_000
    write(tmp_path / "big.txt", big)
    write(tmp_path / "line.txt", long_line)
    write(tmp_path / "line.jsonl", jsonl([{"text": long_line}]))
    corpus = read_corpus([tmp_path])
    assert corpus.skipped == []
    texts = {a.id: a.text for a in corpus.articles}
    assert texts["big"] == big and len(big.encode()) > 4_900_000
    assert texts["line"] == long_line and len(long_line) == 100_000
    assert texts["line:1"] == long_line


def test_too_large_txt_skipped(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    with path.open("wb") as f:
        f.truncate(51 * 1024 * 1024)  # sparse: nothing is written or read
    reason = skipped_reason(read_corpus([path]))
    assert reason.startswith("too large (53,477,376 bytes; the limit is 50 MB)")
    assert "split" in reason


def test_iter_articles_streams(tmp_path: Path) -> None:
    write(tmp_path / "a.jsonl", jsonl([{"text": str(i)} for i in range(100)]))
    skipped: list = []
    warnings: list[str] = []
    first = list(itertools.islice(iter_articles([tmp_path], skipped, warnings), 3))
    assert [a.text for a in first] == ["0", "1", "2"]


# --- the real shared corpus (optional) ---------------------------------------------------


def test_shared_corpus_first_lines() -> None:
    if not SHARED_CORPUS.exists():
        pytest.skip(f"{SHARED_CORPUS} not present")
    skipped: list = []
    warnings: list[str] = []
    arts = list(itertools.islice(iter_articles([SHARED_CORPUS], skipped, warnings), 50))
    assert len(arts) == 50 and skipped == [] and warnings == []
    with gzip.open(SHARED_CORPUS, "rt", encoding="utf-8") as f:
        raw = [json.loads(line) for line in itertools.islice(f, 50)]
    for art, rec in zip(arts, raw, strict=True):
        assert (art.id, art.title, art.text) == (rec["docno"], rec["title"].strip(), rec["text"])
        assert (art.url, art.date, art.source) == (rec["url"], normalize_date(rec["time"])[0],
                                                   rec["src"])
        assert normalize_date(rec["time"])[1] and art.date[:4].isdigit()
    assert all(a.title and a.source for a in arts)


# --- inputs that used to hang, exhaust memory or abort a build (issue 15) ----------------


def read_with_deadline(paths: list[Path], seconds: float = 20.0) -> Corpus:
    """read_corpus in a thread: a hang fails the test instead of stalling the suite."""
    import threading

    out: list[Corpus] = []
    worker = threading.Thread(target=lambda: out.append(read_corpus(paths)), daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"read_corpus({paths}) still running after {seconds} s"
    return out[0]


def test_fifo_and_device_links_are_skipped_not_opened(tmp_path: Path) -> None:
    import os

    write(tmp_path / "good.txt", ARTICLE)
    os.mkfifo(tmp_path / "pipe.txt")
    (tmp_path / "zero.txt").symlink_to("/dev/zero")
    corpus = read_with_deadline([tmp_path])
    assert [a.id for a in corpus.articles] == ["good"]
    reasons = {Path(s.path).name: s.reason for s in corpus.skipped}
    assert "FIFO" in reasons["pipe.txt"] and "device" in reasons["zero.txt"]
    # Named directly, the same.
    corpus = read_with_deadline([tmp_path / "pipe.txt", tmp_path / "zero.txt"])
    assert corpus.articles == [] and len(corpus.skipped) == 2


def test_symlink_loop_is_skipped_and_the_rest_read(tmp_path: Path) -> None:
    write(tmp_path / "good.txt", ARTICLE)
    (tmp_path / "a.txt").symlink_to(tmp_path / "b.txt")
    (tmp_path / "b.txt").symlink_to(tmp_path / "a.txt")
    corpus = read_corpus([tmp_path])
    assert [a.id for a in corpus.articles] == ["good"]
    assert sorted(Path(s.path).name for s in corpus.skipped) == ["a.txt", "b.txt"]
    assert all("symbolic link loop" in s.reason for s in corpus.skipped)
    assert skipped_reason(read_corpus([tmp_path / "a.txt"])).startswith("symbolic link loop")


def test_gzip_bomb_line_is_skipped_without_holding_it(tmp_path: Path, monkeypatch) -> None:
    from index import corpus as corpus_module

    monkeypatch.setattr(corpus_module, "MAX_LINE_BYTES", 64 * 1024)
    bomb = b'{"text": "' + b"0" * (5 * 1024 * 1024) + b'"}\n'
    data = jsonl([{"text": BODY}]).encode() + bomb + jsonl([{"text": TITLE}]).encode()
    corpus = read_corpus([write(tmp_path / "a.jsonl.gz", gzip.compress(data))])
    assert [a.text for a in corpus.articles] == [BODY, TITLE]
    [skip] = corpus.skipped
    assert skip.path.endswith("a.jsonl.gz:2") and "line longer than" in skip.reason


def test_gzip_bomb_file_stops_at_the_decompressed_cap(tmp_path: Path, monkeypatch) -> None:
    from index import corpus as corpus_module

    monkeypatch.setattr(corpus_module, "MAX_DECOMPRESSED_BYTES", 1024 * 1024)
    line = jsonl([{"text": BODY}]).encode()
    data = line * (3 * 1024 * 1024 // len(line))  # 3 MB of small records
    corpus = read_corpus([write(tmp_path / "a.jsonl.gz", gzip.compress(data))])
    assert 0 < len(corpus.articles) < len(data) // len(line)
    assert len(corpus.articles) * len(line) <= 1024 * 1024 + 256 * 1024  # one buffer's slack
    [skip] = corpus.skipped
    assert "decompresses to more than 1 MB" in skip.reason and "lines before" in skip.reason


def test_lone_surrogates_skip_only_their_record(tmp_path: Path) -> None:
    lines = (
        '{"text": "نص \\ud800 ."}\n'
        '{"id": "\\udc00x", "text": "نص سليم"}\n'
        + jsonl([{"id": "ok", "text": BODY}])
    )
    corpus = read_corpus([write(tmp_path / "a.jsonl", lines)])
    assert [a.id for a in corpus.articles] == ["ok"]
    reasons = [s.reason for s in corpus.skipped]
    assert len(reasons) == 2 and all("surrogate" in r for r in reasons)
    assert "'text'" in reasons[0] and "'id'" in reasons[1]


def test_non_string_fields_skip_their_record(tmp_path: Path) -> None:
    records = [{"text": ["a", "b"]}, {"id": {"x": 1}, "text": BODY}, {"text": 7},
               {"id": 42, "date": 1700000000, "text": BODY}]
    corpus = read_corpus([write(tmp_path / "a.jsonl", jsonl(records))])
    assert [(a.id, a.date) for a in corpus.articles] == [("42", "1700000000")]
    reasons = [s.reason for s in corpus.skipped]
    assert reasons[0].startswith("field 'text' must be a string, got array")
    assert reasons[1].startswith("field 'id' must be a string, got object")
    assert reasons[2].startswith("field 'text' must be a string, got number")


def test_stray_byte_in_utf8_is_replaced_and_reported_not_cp1256(tmp_path: Path) -> None:
    good = (ARTICLE * 3).encode()
    at = len(TITLE.encode()) + 1  # the start of the body's first word
    data = good[:at] + b"\xff" + good[at:]
    corpus = read_corpus([write(tmp_path / "a.txt", data)])
    art = only(corpus)
    assert art.text == (ARTICLE * 3)[: len(TITLE) + 1] + "\ufffd" + (ARTICLE * 3)[len(TITLE) + 1:]
    [warning] = corpus.warnings
    assert f"offset(s) {at}" in warning and "cp1256" not in warning
    # The same in a JSON line: the record is kept, the stray byte replaced and reported.
    line = json.dumps({"text": ARTICLE * 3}, ensure_ascii=False).encode()
    corpus = read_corpus([write(tmp_path / "b.jsonl", line[:20] + b"\xfe" + line[20:] + b"\n")])
    assert "\ufffd" in only(corpus).text and "b.jsonl:1" in corpus.warnings[0]


def test_whole_cp1256_file_is_still_read_as_cp1256(tmp_path: Path) -> None:
    corpus = read_corpus([write(tmp_path / "a.txt", (ARTICLE * 3).encode("cp1256"))])
    assert only(corpus).text == ARTICLE * 3 and "cp1256" in corpus.warnings[0]
