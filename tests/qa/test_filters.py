"""Filters by outlet and date (qa/filters.py) applied inside retrieval: checked against brute
force over the allowed rows, with the fake encoder."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from index import dense, store
from index.build import build_index
from qa import Assistant
from qa.filters import NO_DAY, Filter, FilterError, article_day
from qa.retrieve import Retriever, Settings
from tests.conftest import FakeEncoder

OUTLETS = ("bbc", "cnn", "france24", "alarabia")
TOPICS = ("الانسحاب العسكري من المدينة", "أسعار النفط في الأسواق", "مباراة كرة القدم النهائية",
          "الانتخابات البرلمانية المقبلة", "الطقس البارد في الشتاء")


def _articles() -> list[dict]:
    out = []
    for n in range(40):
        topic = TOPICS[n % len(TOPICS)]
        out.append({
            "id": f"a{n}", "title": f"خبر {n} عن {topic}", "source": OUTLETS[n % len(OUTLETS)],
            # ISO days in March 2018, RFC 2822 for some (as ANT has them), a few undated
            "date": ("" if n % 13 == 12 else f"2018-03-{n % 28 + 1:02d}" if n % 2
                     else f"Fri, {n % 28 + 1:02d} Mar 2018 16:20:45 +0400"),
            "text": f"خبر {n}. تحدث المراسل عن {topic} في اليوم {n}. "
                    f"وقال المسؤول إن {topic} يهم الجميع. وانتهى التقرير رقم {n}.",
        })
    return out


@pytest.fixture(scope="module")
def news(tmp_path_factory):
    root = tmp_path_factory.mktemp("filtered")
    (root / "news.jsonl").write_text(
        "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in _articles()), encoding="utf-8")
    build_index([root / "news.jsonl"], root / "index", encoder=FakeEncoder())
    return root / "index"


def test_filter_make_validates_and_none_means_no_filter() -> None:
    assert Filter.make() is None and Filter.make([], "", None) is None
    f = Filter.make(["bbc", " bbc ", ""], "2018-03-01", dt.date(2018, 3, 31))
    assert f == Filter(("bbc",), dt.date(2018, 3, 1), dt.date(2018, 3, 31))
    assert Filter.make("cnn").sources == ("cnn",)
    assert Filter.make(since=dt.datetime(2018, 3, 2, 10, 0)).since == dt.date(2018, 3, 2)
    with pytest.raises(FilterError, match="after until"):
        Filter.make(since="2018-04-01", until="2018-03-01")
    with pytest.raises(FilterError, match="year-month-day"):
        Filter.make(since="آذار 2018")


def test_article_days_read_iso_and_rfc_2822() -> None:
    march6 = dt.date(2018, 4, 6).toordinal()
    assert article_day("2018-04-06") == march6
    assert article_day("2018-04-06T16:20:45+04:00") == march6
    assert article_day("Fri, 06 Apr 2018 16:20:45 +0400") == march6
    assert article_day("") == article_day("قبل أسبوع") == NO_DAY


def _brute_candidates(retriever: Retriever, query: str, allowed: np.ndarray):
    """The dense top-N and BM25 top-N among the allowed rows, by exhaustive numpy search, as
    (rows that must be candidates, rows that may be): ties at the N-th score may go either way.
    """
    n = retriever.settings.candidates
    rows = np.flatnonzero(allowed)
    qvec = retriever.encoder.encode_queries([query])[0]
    must, may = set(), set()
    lexical = retriever.data.lexical.scores(query)[rows]
    for scores, counts in ((retriever.data.vectors[rows] @ qvec, np.ones(len(rows), bool)),
                           (lexical, lexical > 0)):  # BM25 offers only rows it matches
        nth = np.sort(scores)[::-1][min(n, len(scores)) - 1]
        must |= set(rows[(scores > nth + 1e-6) & counts].tolist())
        may |= set(rows[(scores >= nth - 1e-6) & counts].tolist())
    return must, may


@pytest.mark.parametrize("flt", [
    Filter(("bbc",)), Filter(("CNN", "france24")), Filter(since=dt.date(2018, 3, 10)),
    Filter(("alarabia",), dt.date(2018, 3, 5), dt.date(2018, 3, 20)),
])
def test_filtered_candidates_equal_brute_force_over_the_allowed_rows(news, flt) -> None:
    retriever = Retriever(store.load(news), FakeEncoder(), Settings(candidates=6))
    allowed = retriever.allowed_rows(flt)
    data = retriever.data
    wanted = {s.casefold() for s in flt.sources}
    for a, art in enumerate(data.articles):
        day = article_day(art.date)
        match = ((not wanted or art.source.casefold() in wanted)
                 and (flt.since is None or (day != NO_DAY and day >= flt.since.toordinal()))
                 and (flt.until is None or (day != NO_DAY and day <= flt.until.toordinal())))
        assert allowed[data.sentences.article == a].all() == match
    for query in ("أسعار النفط", "الانسحاب من المدينة", "التقرير رقم 7"):
        (cands,) = retriever.candidates_batch([query], 5, allowed=allowed)
        assert allowed[cands.rows].all()
        # the union of the dense and BM25 top-N over the allowed rows, found exhaustively
        must, may = _brute_candidates(retriever, query, allowed)
        found = set(cands.rows.tolist())
        assert len(found) == len(cands.rows) >= min(6, allowed.sum())
        assert must <= found <= may


def test_a_filter_still_returns_k_hits_and_only_matching_ones(news) -> None:
    bot = Assistant(news, FakeEncoder(), watch=False)
    by_id = {a["id"]: a for a in _articles()}
    hits = bot.search("أسعار النفط في الأسواق", k=10, sources=["bbc"])
    assert len(hits) == 10 and {by_id[h.article_id]["source"] for h in hits} == {"bbc"}
    hits = bot.search("مباراة كرة القدم", k=8, sources=["cnn"], since="2018-03-10",
                      until="2018-03-20")
    for h in hits:
        assert by_id[h.article_id]["source"] == "cnn"
        assert dt.date(2018, 3, 10).toordinal() <= article_day(h.date) <= dt.date(
            2018, 3, 20).toordinal()
    # exactly as many as there are matching sentences when fewer than k exist
    data = bot.data
    allowed = bot._current().allowed_rows(Filter(("cnn",), dt.date(2018, 3, 10),
                                                 dt.date(2018, 3, 20)))
    assert len(hits) == min(8, int(allowed.sum()))
    for h in hits:
        assert data.articles[data.article_rows[h.article_id]].text[h.start:h.end] == h.sentence
    assert bot.search("النفط", k=5, sources=["no-such-outlet"]) == []
    assert not bot.ask("ما أسعار النفط؟", sources=["no-such-outlet"]).answered


def test_ask_with_a_filter_quotes_only_matching_articles(news) -> None:
    bot = Assistant(news, FakeEncoder(), watch=False)
    answer = bot.ask("ما الذي قاله المسؤول عن أسعار النفط في الأسواق؟", sources=["france24"])
    for c in answer.citations + answer.related:
        assert c.source == "france24"


def test_facets_list_outlets_and_the_period(news) -> None:
    facets = Assistant(news, FakeEncoder(), watch=False).facets()
    assert facets.articles == 40 and sum(facets.sources.values()) == 40
    assert set(facets.sources) == set(OUTLETS)
    assert facets.first_day == dt.date(2018, 3, 1) and facets.last_day == dt.date(2018, 3, 28)
    assert facets.undated == sum(1 for n in range(40) if n % 13 == 12)


def test_search_within_equals_brute_force_on_flat_and_ivf(monkeypatch) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((3000, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = vectors[:4] + 0.1 * rng.standard_normal((4, 16)).astype(np.float32)
    monkeypatch.setattr(dense, "EXACT_SEARCH_LIMIT", 1000)  # an IVF index at this size
    ivf, flat = dense.make(vectors), dense.make(vectors[:900])
    assert hasattr(ivf, "nprobe") and not hasattr(flat, "nprobe")
    for index, vecs in ((ivf, vectors), (flat, vectors[:900])):
        for share in (0.002, 0.05, 0.6):
            allowed = rng.random(len(vecs)) < share
            for limit in (0, 10**6):  # through FAISS's selector, and exactly over the rows
                monkeypatch.setattr(dense, "EXACT_WITHIN_LIMIT", limit)
                scores, rows = dense.search_within(index, vecs, queries, 10, allowed)
                assert rows.shape == (4, min(10, allowed.sum())) and (rows >= 0).all()
                assert allowed[rows].all()
                allowed_rows = np.flatnonzero(allowed)
                exact = queries @ vecs[allowed_rows].T
                want = np.sort(exact, axis=1)[:, ::-1][:, : rows.shape[1]]
                if limit or not hasattr(index, "nprobe") or share < 0.01:
                    np.testing.assert_allclose(scores, want, rtol=1e-5, atol=1e-5)
                else:  # IVF probes some lists: approximate, but every score is a true one
                    np.testing.assert_allclose(
                        scores, np.take_along_axis(queries @ vecs.T, rows, 1), atol=1e-5)
