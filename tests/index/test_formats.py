"""Tests for index.formats: saved pages, WARC archives, feeds and tables, read as the newsroom
wrote them (small Arabic fixtures written here), and a mixed folder built end to end."""

from __future__ import annotations

import gzip
import io
import shutil
import sys
from pathlib import Path

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from index import formats, store
from index.build import build_index
from index.corpus import Corpus, _suffix, read_corpus
from index.segment import split_sentences
from qa import Assistant
from tests.conftest import SEED_ID, SEEDS, FakeEncoder

P1 = ("أعلنت الحكومة العراقية أنها ستبدأ محادثات رسمية مع الولايات المتحدة حول انسحاب قوات "
      "التحالف من البلاد خلال الأشهر المقبلة.")
P2 = ("ويصل عدد الجنود غير الأمريكيين في العراق إلى نحو 2400 شخص، وفق مصادر رسمية تحدثت "
      "للصحفيين في بغداد يوم الجمعة.")
P3 = "وكان البرلمان العراقي قد صوت على قرار يطالب الحكومة بإنهاء وجود القوات الأجنبية."
BOILERPLATE = ("الرئيسية", "رياضة", "جميع الحقوق محفوظة", "سياسة الخصوصية")
HOSTILE = ("alert", "onclick", "onerror", "javascript", "سكربت", "<", ">")

PAGE_A = f"""<!DOCTYPE html>
<html lang="ar" dir="rtl"><head><meta charset="utf-8">
<title>الجزيرة نت | انسحاب القوات</title>
<meta property="og:title" content="انسحاب القوات الأمريكية من العراق">
<meta property="og:site_name" content="الجزيرة نت">
<meta property="article:published_time" content="2019-07-26T10:30:00+03:00">
<link rel="canonical" href="https://www.aljazeera.net/news/2019/7/26/withdrawal">
<script>var tracker = "سكربت خبيث"; alert(1);</script>
</head><body>
<nav><ul><li><a href="/">الرئيسية</a></li><li><a href="/news">أخبار</a></li>
<li><a href="/sport">رياضة</a></li></ul></nav>
<article><h1>انسحاب القوات الأمريكية من العراق</h1>
<p onclick="alert('نقر')">{P1}</p>
<p>{P2}<img src="x" onerror="alert(2)"></p>
<p>{P3}</p>
<iframe src="javascript:alert(3)"></iframe>
</article>
<footer><p>جميع الحقوق محفوظة © 2019 الجزيرة نت</p><a href="/privacy">سياسة الخصوصية</a></footer>
</body></html>"""

PAGE_B = """<html lang="ar"><head><meta charset="utf-8">
<meta property="og:title" content="ارتفاع أسعار النفط">
<meta name="date" content="2018-04-06">
</head><body><header><a href="/">الرئيسية</a> | <a href="/eco">اقتصاد</a></header>
<main><h1>ارتفاع أسعار النفط</h1>
<p>ارتفعت أسعار النفط في الأسواق العالمية اليوم بعد قرار منظمة أوبك خفض الإنتاج بنحو مليون
برميل يوميا حتى نهاية العام الجاري.</p>
<p>وقال محللون إن السوق تتجه نحو توازن بين العرض والطلب خلال الأشهر المقبلة، مع تراجع
المخزونات الأمريكية للأسبوع الثالث على التوالي.</p></main>
<footer>جميع الحقوق محفوظة</footer></body></html>"""

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><title>سكاي نيوز عربية</title><link>https://www.skynewsarabia.com</link>
<item><title>انسحاب القوات</title><link>https://www.skynewsarabia.com/world/1</link>
<guid>sky-1</guid><pubDate>Fri, 06 Apr 2018 16:20:45 +0400</pubDate>
<description>ملخص قصير للخبر.</description>
<content:encoded><![CDATA[<p onclick="alert(1)">أعلنت الحكومة العراقية <b>أنها</b> ستبدأ
محادثات.</p><script>alert(2)</script><p>ويصل عدد الجنود إلى 2400 جندي.</p>]]></content:encoded>
</item>
<item><title>أمطار غزيرة في الخليج</title><link>https://www.skynewsarabia.com/world/2</link>
<pubDate>26 يوليو/تموز 2019</pubDate>
<description>&lt;p&gt;هطلت أمطار &lt;a href="x"&gt;غزيرة&lt;/a&gt; على مدن
الخليج.&lt;/p&gt;</description>
</item></channel></rss>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>الجزيرة نت</title>
<entry><title>افتتاح معرض الكتاب</title><link href="https://www.aljazeera.net/culture/1"/>
<id>urn:aljazeera:1</id><updated>2019-07-27T08:00:00+03:00</updated>
<published>2019-07-26T09:00:00+03:00</published>
<content type="html">&lt;p&gt;افتتح معرض الكتاب أبوابه للزوار.&lt;/p&gt;&lt;p&gt;ويشارك فيه
مئتا ناشر.&lt;/p&gt;</content></entry></feed>"""

CSV_ROWS = [  # id,title,date,text,source: the third row has no text
    ["c1", "خبر أول", "26 يوليو/تموز 2019", "نص الخبر الأول، وفيه فاصلة.", "bbc"],
    ["", "خبر ثان", "2019-07-27", "سطر أول.\nسطر ثان من الخبر نفسه.", "cnn"],
    ["c3", "خبر فارغ", "", "   ", "bbc"],
    ["c4", "خبر رابع", "", "نص رابع.", ""],
]


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def write_csv(path: Path, header: str, rows: list[list[str]], sep: str = ",",
              encoding: str = "utf-8-sig") -> Path:
    import csv

    buf = io.StringIO()
    out = csv.writer(buf, delimiter=sep, lineterminator="\r\n")
    out.writerow(header.split(","))
    out.writerows(rows)
    return write(path, buf.getvalue().encode(encoding))


def warc_bytes(gzip: bool = True) -> bytes:
    """An archive of 4 records: page A, a PNG, the request for page B, page B."""
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=gzip)

    def response(url: str, body: bytes, ctype: str) -> None:
        http = StatusAndHeaders("200 OK", [("Content-Type", ctype)], protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body),
                                                      http_headers=http))

    response("https://www.aljazeera.net/news/a", PAGE_A.encode(), "text/html; charset=utf-8")
    response("https://www.aljazeera.net/logo.png", b"\x89PNG\r\n\x1a\n" + bytes(64), "image/png")
    request = StatusAndHeaders("GET /eco/b HTTP/1.1", [("Host", "news.example")],
                               is_http_request=True)
    writer.write_record(writer.create_warc_record("https://news.example/eco/b", "request",
                                                  payload=io.BytesIO(b""), http_headers=request))
    response("https://news.example/eco/b", PAGE_B.encode("cp1256"),
             "text/html; charset=windows-1256")
    return buf.getvalue()


def no_markup(text: str) -> None:
    for bad in HOSTILE:
        assert bad not in text, bad


def only_skip(corpus: Corpus) -> str:
    assert corpus.articles == [] and len(corpus.skipped) == 1, corpus
    return corpus.skipped[0].reason


# --- HTML pages --------------------------------------------------------------------------


def test_html_page_main_text_headline_date_url_and_site(tmp_path: Path) -> None:
    path = write(tmp_path / "news" / "withdrawal.html", PAGE_A)
    corpus = read_corpus([tmp_path])
    (art,) = corpus.articles
    assert (art.id, art.path) == ("news/withdrawal", str(path))
    assert art.title == "انسحاب القوات الأمريكية من العراق"
    assert art.url == "https://www.aljazeera.net/news/2019/7/26/withdrawal"
    assert (art.source, art.date) == ("الجزيرة نت", "2019-07-26")
    assert art.text.split("\n") == [art.title, P1, P2, P3]
    for boiler in BOILERPLATE:
        assert boiler not in art.text
    no_markup(art.text)
    assert corpus.skipped == [] and corpus.warnings == [] and corpus.formats == {"html": 1}


def test_htm_page_without_url_or_site(tmp_path: Path) -> None:
    (art,) = read_corpus([write(tmp_path / "oil.HTM", PAGE_B)]).articles
    assert (art.title, art.date, art.url, art.source) == (
        "ارتفاع أسعار النفط", "2018-04-06", "", "")
    assert art.text.startswith("ارتفاع أسعار النفط\nارتفعت أسعار النفط")
    assert "الرئيسية" not in art.text and "جميع الحقوق" not in art.text


@pytest.mark.parametrize("page", [
    "<html><head><script>alert('سكربت')</script></head><body onload='alert(1)'></body></html>",
    "<html><body>" + "<div>" * 50_000 + "نص مدفون عميقا" + "</div>" * 50_000 + "</body></html>",
    "<html><head><title>صور</title></head><body><img src='a.png' onerror='alert(1)'>"
    "<style>p { color: red }</style></body></html>",
])
def test_page_without_article_text_is_skipped_with_a_reason(tmp_path: Path, page: str) -> None:
    reason = only_skip(read_corpus([write(tmp_path / "p.html", page)]))
    assert reason.startswith("no article text found in the page")


def test_oversized_and_empty_pages_are_skipped(tmp_path: Path, monkeypatch) -> None:
    assert only_skip(read_corpus([write(tmp_path / "empty.html", " \n")])) == "empty file"
    monkeypatch.setattr(formats, "MAX_HTML_BYTES", 1000)
    reason = only_skip(read_corpus([write(tmp_path / "big.html", PAGE_A)]))
    assert reason.startswith("too large") and reason.endswith("save the article page alone")
    monkeypatch.setattr(formats, "MAX_FEED_BYTES", 100)
    reason = only_skip(read_corpus([write(tmp_path / "big.rss", RSS)]))
    assert reason.startswith("too large") and reason.endswith("split it")


# --- WARC archives -----------------------------------------------------------------------


def test_warc_gz_html_responses_become_articles_others_are_counted(tmp_path: Path) -> None:
    path = write(tmp_path / "crawl.warc.gz", warc_bytes())
    corpus = read_corpus([tmp_path])
    a, b = corpus.articles
    assert (a.id, a.path, a.url) == ("crawl:0", f"{path}[0]", "https://www.aljazeera.net/news/a")
    assert (b.id, b.path, b.url) == ("crawl:3", f"{path}[3]", "https://news.example/eco/b")
    assert a.text.split("\n") == [a.title, P1, P2, P3] and a.source == "الجزيرة نت"
    assert b.title == "ارتفاع أسعار النفط" and "أوبك" in b.text  # decoded by its HTTP charset
    assert b.source == "news.example"  # no site name in the page: its host
    no_markup(a.text)
    assert corpus.skipped == []
    (warning,) = corpus.warnings
    assert warning == (f"{path}: skipped 2 non-HTML record(s) (image/png 1, request 1); only "
                       "HTML responses with HTTP status 200 are articles")
    assert corpus.formats == {"warc": 2}


def test_warc_suffix_wins_over_gz_suffixes() -> None:
    assert _suffix("crawl.warc.gz") == ".warc.gz" and _suffix("CRAWL.WARC") == ".warc"
    assert _suffix("news.json.gz") == ".json.gz"


def test_truncated_warc_keeps_records_before_and_reports_the_rest(tmp_path: Path) -> None:
    data = warc_bytes(gzip=False)
    cut = data.rindex(b"WARC/1") + 400  # inside the last record, page B
    corpus = read_corpus([write(tmp_path / "cut.warc", data[:cut])])
    assert [a.id for a in corpus.articles] == ["cut:0"]
    (skip,) = corpus.skipped
    assert skip.path == f"{tmp_path / 'cut.warc'}[3]"
    assert "cut off" in skip.reason and "records before were read" in skip.reason


def test_truncated_warc_gz_keeps_records_before(tmp_path: Path) -> None:
    data = warc_bytes()
    corpus = read_corpus([write(tmp_path / "cut.warc.gz", data[: len(data) - 200])])
    assert [a.id for a in corpus.articles] == ["cut:0"]
    (skip,) = corpus.skipped
    assert skip.path.endswith("[3]") and "records before were read" in skip.reason


def test_warc_redirects_and_whole_file_gzip(tmp_path: Path) -> None:
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=False)
    for status in ("301 Moved Permanently", "200 OK", "404 Not Found"):
        http = StatusAndHeaders(status, [("Content-Type", "text/html")], protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(
            "https://a.example/x", "response", payload=io.BytesIO(PAGE_B.encode()),
            http_headers=http))
    corpus = read_corpus([write(tmp_path / "r.warc", buf.getvalue())])
    assert [a.id for a in corpus.articles] == ["r:1"]
    assert "skipped 2 non-HTML record(s) (HTML with HTTP status 301 1, HTML with HTTP status " \
           "404 1)" in corpus.warnings[0]
    # gzipped as one piece (gzip crawl.warc): the first record, then how to fix it
    corpus = read_corpus([write(tmp_path / "one.warc.gz", gzip.compress(buf.getvalue()))])
    assert [a.id for a in corpus.articles] == []
    (skip,) = corpus.skipped
    assert skip.path.endswith("one.warc.gz[1]") and "warcio recompress" in skip.reason


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "empty file"),
    (b"this is not an archive\n" * 5, "not a WARC file"),
])
def test_not_a_warc(tmp_path: Path, data: bytes, reason: str) -> None:
    assert only_skip(read_corpus([write(tmp_path / "x.warc", data)])).startswith(reason)


# --- feeds -------------------------------------------------------------------------------


def test_rss_entries_full_content_or_summary(tmp_path: Path) -> None:
    path = write(tmp_path / "sky.rss", RSS)
    corpus = read_corpus([path])
    full, summary = corpus.articles
    assert (full.id, full.title, full.url, full.source) == (
        "sky-1", "انسحاب القوات", "https://www.skynewsarabia.com/world/1", "سكاي نيوز عربية")
    assert full.text == "أعلنت الحكومة العراقية أنها ستبدأ محادثات.\nويصل عدد الجنود إلى 2400 جندي."
    assert full.date == "2018-04-06T16:20:45+04:00" and full.path == f"{path}[0]"
    assert (summary.id, summary.text, summary.date) == (
        "sky:1", "هطلت أمطار غزيرة على مدن الخليج.", "2019-07-26")
    no_markup(full.text + summary.text)
    assert corpus.warnings == [f"{path}: 1 of 2 entries had only a summary (no full content); "
                               "their articles hold the summary alone"]
    assert corpus.formats == {"feed": 2}


def test_atom_entry(tmp_path: Path) -> None:
    corpus = read_corpus([write(tmp_path / "aj.atom", ATOM)])
    (art,) = corpus.articles
    assert (art.id, art.title, art.url, art.source, art.date) == (
        "urn:aljazeera:1", "افتتاح معرض الكتاب", "https://www.aljazeera.net/culture/1",
        "الجزيرة نت", "2019-07-26T09:00:00+03:00")  # published, not updated
    assert art.text == "افتتح معرض الكتاب أبوابه للزوار.\nويشارك فيه مئتا ناشر."
    assert corpus.warnings == []


def test_xml_is_read_only_when_it_is_a_feed(tmp_path: Path) -> None:
    write(tmp_path / "feed.xml", RSS)
    write(tmp_path / "sitemap.xml", '<?xml version="1.0"?><urlset><url><loc>https://a/1</loc>'
                                     "</url></urlset>")
    write(tmp_path / "broken.xml", "<rss><channel>")
    corpus = read_corpus([tmp_path])
    assert [a.id for a in corpus.articles] == ["sky-1", "feed:1"]
    reasons = {Path(s.path).name: s.reason for s in corpus.skipped}
    assert reasons["sitemap.xml"].startswith("not an RSS/Atom feed (its root element is <urlset>)")
    assert reasons["broken.xml"].startswith("not a readable feed")


def test_feed_without_entries_is_skipped(tmp_path: Path) -> None:
    reason = only_skip(read_corpus([write(tmp_path / "e.rss", "<rss><channel><title>t</title>"
                                                              "</channel></rss>")]))
    assert reason.startswith("no entries in this feed")


# --- CSV / TSV ---------------------------------------------------------------------------


def test_csv_rows_with_bom_empty_row_skipped(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "export.csv", "id,Title,date,text,source", CSV_ROWS)
    corpus = read_corpus([path])
    assert [(a.id, a.title, a.date, a.source) for a in corpus.articles] == [
        ("c1", "خبر أول", "2019-07-26", "bbc"), ("export:3", "خبر ثان", "2019-07-27", "cnn"),
        ("c4", "خبر رابع", "", "")]
    assert corpus.articles[0].text == "نص الخبر الأول، وفيه فاصلة."
    assert corpus.articles[1].text == "سطر أول.\nسطر ثان من الخبر نفسه."  # verbatim
    assert corpus.articles[1].path == f"{path}:3"
    (skip,) = corpus.skipped
    assert (skip.path, skip.reason) == (f"{path}:4", "empty text; add the article text or "
                                                     "remove the row")
    assert corpus.warnings == [] and corpus.formats == {"csv": 3}


def test_tsv_with_field_aliases(tmp_path: Path) -> None:
    rows = [["هل تنخفض الأسعار، أم لا؟", "الأسعار، كما قال الخبراء، ستنخفض.", "https://a/1"]]
    corpus = read_corpus([write_csv(tmp_path / "t.tsv", "headline,body,link", rows, sep="\t")])
    (art,) = corpus.articles
    assert (art.id, art.title, art.text, art.url) == ("t:2", *rows[0])
    assert corpus.formats == {"tsv": 1}


def test_csv_without_text_column_names_the_missing_and_found_columns(tmp_path: Path) -> None:
    reason = only_skip(read_corpus([write_csv(tmp_path / "x.csv", "title,Article Body",
                                              [["عنوان", "نص"]])]))
    assert reason == ("no 'text' column (nor 'body' or 'content'); the header has 'title', "
                      "'Article Body'; name the article-text column 'text'")


def test_csv_big_field_utf16_and_cp1256(tmp_path: Path) -> None:
    big = "جملة في مقال طويل جدا. " * 20_000  # over csv's default 128 KiB field limit
    (art,) = read_corpus([write_csv(tmp_path / "big.csv", "text", [[big]])]).articles
    assert art.text == big
    utf16 = read_corpus([write_csv(tmp_path / "u.tsv", "title,text", [["عنوان", "نص عربي."]],
                                   sep="\t", encoding="utf-16")])
    assert [a.text for a in utf16.articles] == ["نص عربي."] and "UTF-16" in utf16.warnings[0]
    win = read_corpus([write_csv(tmp_path / "w.csv", "title,text", [["عنوان", "نص بترميز ويندوز."]],
                                 encoding="cp1256")])
    assert [a.text for a in win.articles] == ["نص بترميز ويندوز."] and "cp1256" in win.warnings[0]


def test_csv_bad_rows_and_files(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", "text,title\nنص أول.,عنوان\nنص,ثان,زائد\n")
    corpus = read_corpus([path])
    assert [a.text for a in corpus.articles] == ["نص أول."]
    assert corpus.skipped[0].path == f"{path}:3" and "3 fields" in corpus.skipped[0].reason
    assert only_skip(read_corpus([write(tmp_path / "e.csv", "")])).startswith("empty file")
    assert only_skip(read_corpus([write(tmp_path / "h.csv", "title,text\n")])).startswith(
        "no rows after the header")
    assert "binary" in only_skip(read_corpus([write(tmp_path / "b.csv", bytes(range(256)))]))


def test_missing_library_says_how_to_install_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "feedparser", None)  # import feedparser -> ImportError
    reason = only_skip(read_corpus([write(tmp_path / "sky.rss", RSS)]))
    assert reason.startswith("cannot read this format: feedparser cannot be imported")
    assert reason.endswith("run: pip install feedparser==6.0.14")


# --- everything together, end to end -----------------------------------------------------


def test_mixed_folder_builds_and_every_sentence_slices_its_article(tmp_path: Path) -> None:
    c = tmp_path / "corpus"
    write(c / "page.html", PAGE_A)
    write(c / "crawl.warc.gz", warc_bytes())
    write(c / "sky.rss", RSS)
    write_csv(c / "export.csv", "id,title,date,text,source", CSV_ROWS)
    shutil.copy(SEEDS / f"{SEED_ID}.txt", c / f"{SEED_ID}.txt")
    report = build_index([c], tmp_path / "idx", encoder=FakeEncoder())
    assert report.formats == {"csv": 3, "warc": 2, "html": 1, "feed": 2, "txt": 1}
    assert report.articles == 9 and [s.path for s in report.skipped] == [f"{c / 'export.csv'}:4"]

    data = store.load(tmp_path / "idx")
    assert len(data.articles) == 9 and len(data.sentences) == report.sentences
    for art_row, start, end in data.sentences.array.tolist():
        art = data.articles[art_row]
        assert 0 <= start < end <= len(art.text) and art.text[start:end].strip()
    for row, art in enumerate(data.articles):  # exactly the article's sentences, in order
        spans = [(s, e) for a, s, e in data.sentences.array.tolist() if a == row]
        assert spans == list(split_sentences(art.text))
        if art.id != SEED_ID:
            no_markup(art.text)
    by_id = {a.id: a for a in data.articles}
    assert by_id["crawl:0"].date == "2019-07-26" and by_id["sky-1"].date.startswith("2018-04-06")

    bot = Assistant(tmp_path / "idx", FakeEncoder(), watch=False)
    hits = bot.search("كم عدد الجنود غير الأمريكيين في العراق", k=5)
    assert hits and {h.article_id for h in hits} & {"page", "crawl:0", SEED_ID}
    for hit in hits:
        assert by_id[hit.article_id].text[hit.start:hit.end] == hit.sentence
