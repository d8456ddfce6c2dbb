"""Article dates as ISO 8601, whatever way a newsroom wrote them.

Feeds and the ANT corpus write RFC 2822 ("Fri, 06 Apr 2018 16:20:45 +0400"), pages write ISO
8601, Arabic outlets write "26 يوليو/تموز 2019" or Arabic-Indic digits. One form makes dates
comparable and sortable; the UI (``ui.render.arabic_date``) shows any ISO date in Arabic.
A date is never guessed: what is not understood as a full calendar date is kept as written.
"""

from __future__ import annotations

import datetime as dt
import re
from email.utils import parsedate_to_datetime
from functools import cache, lru_cache
from typing import Any

#: Longer than this is not a date (a misplaced field); dateparser is not asked about it.
MAX_DATE_CHARS = 100
#: Arabic-Indic and Extended (Persian) Arabic-Indic digits, read as 0-9.
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "0123456789" * 2)
#: ISO 8601 year or year-month ("2018", "2018-07"): already ISO, and no day to add.
_PARTIAL_ISO = re.compile(r"\d{4}(?:-(?:0[1-9]|1[0-2]))?")
_CLOCK = re.compile(r"\d{1,2}:\d{2}")
#: Levantine and Iraqi month names (dateparser knows only the Egyptian/Gulf ones).
_LEVANTINE = {
    "كانون الثاني": "يناير", "شباط": "فبراير", "آذار": "مارس", "نيسان": "أبريل",
    "أيار": "مايو", "حزيران": "يونيو", "تموز": "يوليو", "آب": "أغسطس", "أيلول": "سبتمبر",
    "تشرين الأول": "أكتوبر", "تشرين الثاني": "نوفمبر", "كانون الأول": "ديسمبر",
}
_LEVANTINE_RE = re.compile(r"(?<!\w)(?:" + "|".join(sorted(_LEVANTINE, key=len, reverse=True))
                           + r")(?!\w)")
# "يوليو/تموز", "كانون الثاني/يناير": one month named twice; try each name alone.
_LETTERS = r"[^\W\d_]"
_AFTER_SLASH = re.compile(rf"(?<={_LETTERS})\s*/\s*{_LETTERS}+")
_BEFORE_SLASH = re.compile(rf"{_LETTERS}+\s*/\s*(?={_LETTERS})")
#: dateparser: absolute dates only (no "yesterday", no timestamps), day, month and year all
#: required (nothing filled in from today), day-month-year order as in Arab newsrooms
#: ("06/04/2018" is 6 April), and a time zone kept only when the text has one.
_SETTINGS: dict[str, Any] = {
    "PARSERS": ["custom-formats", "absolute-time"],
    "REQUIRE_PARTS": ["day", "month", "year"],
    "PREFER_DAY_OF_MONTH": "first",
    "DATE_ORDER": "DMY",
    "RETURN_TIME_AS_PERIOD": True,
}
LANGUAGES = ["ar", "en", "fr"]


@lru_cache(maxsize=65536)  # the 31k ANT articles share a few hundred thousand date strings
def normalize_date(text: str) -> tuple[str, bool]:
    """``(ISO 8601 date, understood)``: "2018-04-06T16:20:45+04:00" for a date with a time
    (its offset kept when it has one), "2019-07-26" for a bare date, an ISO year or year-month
    as is. A date not understood comes back as written with False; a blank one as ("", True)."""
    raw = text.strip()
    if not raw:
        return "", True
    if len(raw) > MAX_DATE_CHARS:
        return text, False
    s = raw.translate(_DIGITS)
    if _PARTIAL_ISO.fullmatch(s):
        return s, True
    for parse in (dt.date.fromisoformat, dt.datetime.fromisoformat):
        try:
            return parse(s).isoformat(), True
        except ValueError:
            pass
    if _CLOCK.search(s):  # RFC 2822 without a time would come back as a made-up midnight
        try:
            return parsedate_to_datetime(s).isoformat(), True
        except (TypeError, ValueError, IndexError):
            pass
    for variant in _variants(s):
        found = _parser().get_date_data(variant)
        if found.date_obj is not None:
            when: dt.datetime = found.date_obj
            return (when.isoformat() if found.period == "time" else when.date().isoformat()), True
    return text, False


def _variants(s: str) -> list[str]:
    """``s``, then with Levantine month names made standard, then each name of a doubled
    month ("يوليو/تموز") alone."""
    standard = _LEVANTINE_RE.sub(lambda m: _LEVANTINE[m.group()], s)
    out = [s, standard]
    if "/" in standard:
        out += [_AFTER_SLASH.sub("", standard), _BEFORE_SLASH.sub("", standard)]
    return list(dict.fromkeys(out))


@cache
def _parser() -> Any:
    """dateparser's parser, made once (importing and configuring it takes ~0.2 s)."""
    try:
        from dateparser.date import DateDataParser
    except ImportError as exc:
        from index.encoder.pins import pin

        raise ImportError(f"dateparser cannot be imported ({exc}); run: pip install "
                          f"{pin('dateparser')}") from exc
    return DateDataParser(languages=LANGUAGES, settings=_SETTINGS)
