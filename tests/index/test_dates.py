"""Tests for index.dates: every newsroom's way of writing a date becomes ISO 8601, never guessed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from index.corpus import read_corpus
from index.dates import normalize_date
from ui import render


@pytest.mark.parametrize(("raw", "iso"), [
    ("26 يوليو/تموز 2019", "2019-07-26"),  # Al Jazeera's doubled month name
    ("15 كانون الثاني/يناير 2018", "2018-01-15"),  # a two-word Levantine name first
    ("26 تموز 2019", "2019-07-26"),  # the Levantine name alone
    ("٢٦ يوليو ٢٠١٩", "2019-07-26"),  # Arabic-Indic digits
    ("Fri, 06 Apr 2018 16:20:45 +0400", "2018-04-06T16:20:45+04:00"),  # ANT's RFC 2822
    ("Sun, 18 Feb 2018 17:21:49 GMT", "2018-02-18T17:21:49+00:00"),
    ("2019-07-26", "2019-07-26"),
    ("2019-07-26T10:30:00Z", "2019-07-26T10:30:00+00:00"),
    ("2019-07-26 10:30:00 +03:00", "2019-07-26T10:30:00+03:00"),
    ("الجمعة 26 يوليو 2019 - 10:30 م", "2019-07-26T22:30:00"),  # evening, no zone given
    ("26 juillet 2019", "2019-07-26"),
    ("06/04/2018", "2018-04-06"),  # day first, as Arab newsrooms write it
    ("Fri, 06 Apr 2018", "2018-04-06"),  # no time: a bare date, not a made-up midnight
    ("2018", "2018"),  # ISO year and year-month: kept, no day invented
    ("2018-07", "2018-07"),
    ("  2019-07-26\n", "2019-07-26"),
])
def test_dates_become_iso(raw: str, iso: str) -> None:
    assert normalize_date(raw) == (iso, True)


@pytest.mark.parametrize("raw", [
    "الأسبوع الماضي", "أمس", "yesterday",  # relative: never resolved against today
    "يوليو 2019",  # no day: not filled in
    "1700000000",  # a bare number is not taken for a timestamp
    "قريبا إن شاء الله", "x" * 500,
])
def test_unparseable_dates_are_kept_as_written(raw: str) -> None:
    assert normalize_date(raw) == (raw, False)


def test_blank_date_is_no_date() -> None:
    assert normalize_date("") == ("", True)
    assert normalize_date("  ") == ("", True)


def test_results_are_cached() -> None:
    normalize_date.cache_clear()
    for _ in range(3):
        normalize_date("26 يوليو/تموز 2019")
    info = normalize_date.cache_info()
    assert (info.hits, info.misses) == (2, 1)


@pytest.mark.parametrize(("raw", "shown"), [
    ("Fri, 06 Apr 2018 16:20:45 +0400", "6 أبريل 2018"),
    ("Sun, 18 Feb 2018 17:21:49 GMT", "18 فبراير 2018"),
    ("Mon, 31 Dec 2018 23:30:00 +0400", "31 ديسمبر 2018"),  # the article's own day, not UTC's
    ("26 يوليو/تموز 2019", "26 يوليو 2019"),
    ("٢٦ يوليو ٢٠١٩", "26 يوليو 2019"),
    ("2019-07-26T10:30:00+03:00", "26 يوليو 2019"),
])
def test_ui_shows_normalized_dates_in_arabic(raw: str, shown: str) -> None:
    iso, understood = normalize_date(raw)
    assert understood and render.arabic_date(iso) == shown
    if raw.isascii():  # the UI read these before they were normalized: nothing changes
        assert render.arabic_date(raw) == shown


def test_corpus_normalizes_json_dates_and_reports_odd_ones_once_per_file(tmp_path: Path) -> None:
    recs = [{"id": "a", "text": "نص أول.", "date": "Fri, 06 Apr 2018 16:20:45 +0400"},
            {"id": "b", "text": "نص ثان.", "date": "26 يوليو/تموز 2019"},
            {"id": "c", "text": "نص ثالث.", "date": "الأسبوع الماضي"},
            {"id": "d", "text": "نص رابع.", "date": "قبل قليل"},
            {"id": "e", "text": "نص خامس."}]
    path = tmp_path / "news.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs), "utf-8")
    corpus = read_corpus([path])
    assert [a.date for a in corpus.articles] == [
        "2018-04-06T16:20:45+04:00", "2019-07-26", "الأسبوع الماضي", "قبل قليل", ""]
    (warning,) = corpus.warnings
    assert warning.startswith(f"{path}: 2 date(s) not understood, kept as written")
    assert "'الأسبوع الماضي'" in warning and f"{path}:3" in warning
    assert corpus.formats == {"jsonl": 5}


def test_txt_articles_have_no_date_and_no_warning(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("عنوان\nنص.", "utf-8")
    corpus = read_corpus([tmp_path])
    assert [a.date for a in corpus.articles] == [""] and corpus.warnings == []
    assert corpus.formats == {"txt": 1}
