"""Filters: limit retrieval to some outlets and a period.

A filter is applied inside retrieval, not to its results: the dense search is restricted to
the allowed sentence rows (a FAISS ID selector, or exact search over them), and BM25 scores
outside them are dropped, so a filtered search still returns ``k`` hits whenever ``k``
matching sentences exist.

Dates compare by calendar day, both ends inclusive. An article's date is read as ISO 8601
(what ``daleel build`` stores) or RFC 2822 (indexes built before dates were normalized); an
article whose date is missing or unreadable never matches a date filter, since nothing says
it falls inside the period.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Union

import numpy as np

from index.corpus import Article

#: Day number of an article without a readable date.
NO_DAY = -1
#: A filter's date: a ``date``/``datetime``, an ISO string ("2018-03-01"), or None.
Day = Union[dt.date, str, None]  # noqa: UP007 - a runtime alias, used in signatures


class FilterError(ValueError):
    """A filter cannot be used as given; the message says what to write instead.

    ``str(exc)`` is the English message; ``exc.arabic`` is what the Arabic chat shows."""

    def __init__(self, english: str, arabic: str) -> None:
        super().__init__(english)
        self.english, self.arabic = english, arabic


@dataclass(frozen=True, slots=True)
class Filter:
    """Outlets (``Article.source`` values, compared case-insensitively) and an inclusive
    period; an empty field does not filter."""

    sources: tuple[str, ...] = ()
    since: dt.date | None = None
    until: dt.date | None = None

    @classmethod
    def make(cls, sources: Iterable[str] | str | None = None,
             since: dt.date | str | None = None,
             until: dt.date | str | None = None) -> Filter | None:
        """A validated filter, or None when nothing filters. Dates may be ``date``/``datetime``
        objects or ISO strings ("2018-03-01"); raises FilterError otherwise."""
        if isinstance(sources, str):
            sources = [sources]
        names = tuple(dict.fromkeys(s.strip() for s in sources or () if s and s.strip()))
        first, last = parse_day(since, "since"), parse_day(until, "until")
        if first and last and first > last:
            raise FilterError(f"since ({first}) is after until ({last}); swap them",
                              f"تاريخ البداية ({first}) بعد تاريخ النهاية ({last})؛ "
                              "بدّل بينهما.")
        if not names and first is None and last is None:
            return None
        return cls(names, first, last)

    def article_mask(self, sources: Sequence[str], days: np.ndarray) -> np.ndarray:
        """Which articles match, given each article's source and day number."""
        keep = np.ones(len(days), dtype=bool)
        if self.sources:
            wanted = {s.casefold() for s in self.sources}
            keep &= np.fromiter((s.casefold() in wanted for s in sources), bool, len(sources))
        if self.since is not None or self.until is not None:
            keep &= days != NO_DAY
        if self.since is not None:
            keep &= days >= self.since.toordinal()
        if self.until is not None:
            keep &= days <= self.until.toordinal()
        return keep


def parse_day(value: dt.date | str | None, name: str) -> dt.date | None:
    """``value`` as a calendar day; None for None or ''."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.strip()).date()
        except ValueError:
            pass
    raise FilterError(f"{name} must be a date such as 2018-03-01 (year-month-day), "
                      f"not {value!r}",
                      f"اكتب {_ARABIC_NAMES.get(name, name)} بالشكل 2018-03-01 (سنة-شهر-يوم).")


_ARABIC_NAMES = {"since": "تاريخ البداية", "until": "تاريخ النهاية"}


def article_day(date: str) -> int:
    """Day number (``date.toordinal()``) of an article's date, or NO_DAY."""
    text = date.strip()
    if not text:
        return NO_DAY
    try:
        return dt.datetime.fromisoformat(text).date().toordinal()
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(text).date().toordinal()
    except (TypeError, ValueError, IndexError):
        return NO_DAY


def article_days(articles: Sequence[Article]) -> np.ndarray:
    """Day numbers of ``articles`` (NO_DAY where unreadable), parsing each distinct date once."""
    days = {date: article_day(date) for date in {a.date for a in articles}}
    return np.fromiter((days[a.date] for a in articles), np.int64, len(articles))


@dataclass(frozen=True, slots=True)
class Facets:
    """What an index can be filtered by: its outlets and the days its articles cover."""

    articles: int
    sentences: int
    #: Outlet -> number of articles, most first ('' for articles without one).
    sources: dict[str, int]
    first_day: dt.date | None
    last_day: dt.date | None
    #: Articles without a readable date (never matched by a date filter).
    undated: int

    @classmethod
    def of(cls, sources: Sequence[str], days: np.ndarray, sentences: int) -> Facets:
        dated = days[days != NO_DAY]
        return cls(
            articles=len(sources), sentences=sentences,
            sources=dict(Counter(sources).most_common()),
            first_day=dt.date.fromordinal(int(dated.min())) if len(dated) else None,
            last_day=dt.date.fromordinal(int(dated.max())) if len(dated) else None,
            undated=int(len(days) - len(dated)),
        )

    @classmethod
    def merge(cls, parts: Sequence[Facets]) -> Facets:
        """The facets of several indexes together (the shards of one)."""
        sources: Counter[str] = Counter()
        for p in parts:
            sources.update(p.sources)
        firsts = [p.first_day for p in parts if p.first_day is not None]
        lasts = [p.last_day for p in parts if p.last_day is not None]
        return cls(articles=sum(p.articles for p in parts),
                   sentences=sum(p.sentences for p in parts),
                   sources=dict(sources.most_common()),
                   first_day=min(firsts) if firsts else None,
                   last_day=max(lasts) if lasts else None,
                   undated=sum(p.undated for p in parts))
