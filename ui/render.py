"""Pure HTML rendering for the chat: every piece of question or article text is escaped here.

Nothing in this module trusts its input. Text is passed through :func:`esc` (HTML-escaped, bidi
controls made visible) before it meets markup, and the cited sentence is cut out of the article
by its offsets, each part escaped on its own, so the highlight can never be shifted or broken
by what the article contains. The browser renders the result as text, never as Markdown.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from index.corpus import Article
from qa import Answer, Citation

# Embedding/override/isolate controls can make an article display text in an order other than
# the one it has (a "Trojan Source" spoof); they are shown as visible code points instead.
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
_RTL_CLASSES = {"R", "AL"}

LABELS = {
    "sources": "المصادر",
    "no_sources": "لا مصادر لهذه الإجابة: لم يُقتبس شيء من المقالات.",
    "pick_source": "اختر مصدرًا لعرض المقال كاملًا مع الجملة المقتبسة مظلَّلة.",
    "empty_panel": "ستظهر هنا مصادر الإجابة. انقر رقم الاقتباس [1] في الإجابة أو بطاقة المصدر "
    "لعرض المقال.",
    "no_answer": "لا إجابة في المقالات المفهرسة",
    "no_answer_en": "No answer in the indexed articles",
    "pending": "جارٍ البحث في المقالات…",
    "open_link": "رابط المقال الأصلي",
    "article_changed": "تغيّر هذا المقال في الفهرس منذ الإجابة؛ هذه الجملة كما اقتُبست حينها:",
    "article_missing": "لم يعد هذا المقال في الفهرس؛ هذه الجملة كما اقتُبست:",
    "cite_title": "اعرض المصدر {n}",
    "related": "أقرب الجمل التي وُجدت (غير متحقَّق من أنها تجيب)",
    "related_en": "Closest sentences found (not verified to answer)",
    "partial": "إجابة جزئية: جزء من الفهرس لا يستجيب الآن، فقد تغيب عنها مقالاته. أعد السؤال "
    "بعد قليل.",
    "partial_en": "Partial answer: part of the index is not responding now, so its articles may "
    "be missing. Ask again shortly.",
}


def neutralize_bidi(text: str) -> str:
    """Replace bidi embedding/override/isolate controls with a visible ``⟨U+202E⟩``."""
    return BIDI_CONTROLS.sub(lambda m: f"⟨U+{ord(m.group()):04X}⟩", text)


def esc(text: str) -> str:
    """Escape ``text`` for HTML element content or a quoted attribute value."""
    return html.escape(neutralize_bidi(text), quote=True)


def text_direction(text: str) -> str:
    """``"rtl"`` when right-to-left letters (Arabic, Hebrew) are at least as many as
    left-to-right ones, ``"ltr"`` when fewer, ``"auto"`` when the text has no letters.

    A majority vote, not the first strong character: «NATO» في بداية جملة عربية stays RTL.
    """
    rtl = ltr = 0
    for ch in text:
        if not unicodedata.category(ch).startswith("L"):
            continue  # punctuation such as "؟" is AL too, but says nothing about the language
        kind = unicodedata.bidirectional(ch)
        if kind in _RTL_CLASSES:
            rtl += 1
        elif kind == "L":
            ltr += 1
    if not rtl and not ltr:
        return "auto"
    return "rtl" if rtl >= ltr else "ltr"


def safe_url(url: str) -> str | None:
    """``url`` when it is an absolute http(s) URL, else None (no javascript:, data:, ...)."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    if BIDI_CONTROLS.search(url) or any(ch.isspace() or ord(ch) < 32 for ch in url):
        return None
    return url


def _bubble(kind: str, inner: str, direction: str) -> str:
    return f'<div class="msg msg-{kind}" dir="{direction}">{inner}</div>'


def question_html(question: str) -> str:
    """The user's message: the question as text, in its own direction."""
    return _bubble(
        "question", f'<span class="msg-text">{esc(question)}</span>', text_direction(question)
    )


def cite_button(turn: int, number: int) -> str:
    """A numbered citation marker; ``value`` tells the page which answer and source it opens."""
    title = esc(LABELS["cite_title"].format(n=number))
    return (
        f'<button type="button" class="cite" value="{turn}:{number}" title="{title}">'
        f"[{number}]</button>"
    )


def marked(sentence: str, start: int, answer_start: int | None, answer_end: int | None,
           tag: str = "strong") -> str:
    """``sentence`` (which starts at article offset ``start``) escaped, with the answer phrase
    ``answer_start:answer_end`` wrapped in ``tag``; the parts are sliced by offset and escaped
    one by one, so nothing in the text can move or break the mark."""
    if answer_start is None or answer_end is None:
        return esc(sentence)
    a, b = answer_start - start, answer_end - start
    if not 0 <= a < b <= len(sentence):
        return esc(sentence)
    return (f'{esc(sentence[:a])}<{tag} class="answer-phrase">{esc(sentence[a:b])}</{tag}>'
            f"{esc(sentence[b:])}")


def answer_html(answer: Answer, turn: int) -> str:
    """The assistant's message. Quotes are built from the citations (never re-parsed from
    ``answer.text``); each quote is isolated with ``<bdi>`` and followed by its marker. When
    the reader found the answer phrase, it comes first in bold and is marked in its quote."""
    if not answer.answered or not answer.citations:
        badge = LABELS["no_answer_en" if text_direction(answer.text) == "ltr" else "no_answer"]
        inner = (
            f'<span class="badge badge-none">{esc(badge)}</span>'
            f'<span class="msg-text">{esc(answer.text)}</span>{related_html(answer)}'
        )
        return _bubble("no-answer", inner + partial_html(answer), text_direction(answer.text))
    quotes = " ".join(
        f'<span class="quote">«<bdi>{marked(c.sentence, c.start, c.answer_start, c.answer_end)}'
        "</bdi>»</span>&nbsp;" + cite_button(turn, c.number)
        for c in answer.citations
    )
    lead = (f'<div class="answer-lead"><strong><bdi>{esc(answer.answer)}</bdi></strong></div>'
            if answer.answer else "")
    direction = text_direction(" ".join(c.sentence for c in answer.citations))
    return _bubble("answer", lead + quotes + partial_html(answer), direction)


def partial_html(answer: Answer) -> str:
    """The notice on an answer made while some shards of the index did not answer."""
    if not answer.partial:
        return ""
    latin = text_direction(answer.question or answer.text) == "ltr"
    label = LABELS["partial_en" if latin else "partial"]
    return f'<div class="partial" role="status">{esc(label)}</div>'


def related_html(answer: Answer) -> str:
    """The closest sentences of a declined answer, collapsed and labelled as unverified."""
    if not answer.related:
        return ""
    label = LABELS["related_en" if text_direction(answer.text) == "ltr" else "related"]
    items = "".join(
        f'<li dir="{text_direction(h.sentence)}"><bdi class="related-sentence">'
        f'{esc(h.sentence)}</bdi><span class="related-title"> — <bdi>{esc(h.title)}</bdi>'
        "</span></li>"
        for h in answer.related
    )
    return (f'<details class="related"><summary>{esc(label)}</summary>'
            f'<ol class="related-list">{items}</ol></details>')


def error_html(message: str) -> str:
    """A problem shown to the user as a chat message (details stay in the server log)."""
    inner = f'<span class="badge badge-error">⚠</span><span class="msg-text">{esc(message)}</span>'
    return _bubble("error", inner, text_direction(message))


def pending_html() -> str:
    inner = f'<span class="spinner" aria-hidden="true"></span>{esc(LABELS["pending"])}'
    return _bubble("pending", inner, "rtl")


#: The ANT corpus's outlet codes, by the names readers know (any other code is shown as given).
OUTLETS = {
    "alarabia": "العربية",
    "alarabiya": "العربية",
    "bbc": "بي بي سي عربي",
    "cnn": "سي إن إن بالعربية",
    "france24": "فرانس 24",
    "skynews": "سكاي نيوز عربية",
}
MONTHS = ("يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو", "يوليو", "أغسطس", "سبتمبر",
          "أكتوبر", "نوفمبر", "ديسمبر")


def outlet_name(source: str) -> str:
    return OUTLETS.get(source.strip().lower(), source)


def arabic_date(value: str) -> str:
    """An article date as "6 أبريل 2018" (day, Arabic month name, year; Western digits, the
    article's own calendar day, no time). RFC 2822 ("Fri, 06 Apr 2018 16:20:45 +0400") and
    ISO 8601 dates are understood; anything else is shown as written."""
    import datetime as dt
    from email.utils import parsedate_to_datetime

    text = value.strip()
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return value
    return f"{when.day} {MONTHS[when.month - 1]} {when.year}"


def _meta(c: Citation | Article, *, link: bool = True) -> str:
    parts = []
    if c.source:
        parts.append(f'<span class="meta-source"><bdi>{esc(outlet_name(c.source))}</bdi></span>')
    if c.date:
        parts.append(f'<span class="meta-date"><bdi>{esc(arabic_date(c.date))}</bdi></span>')
    url = safe_url(c.url) if link else None
    if url:
        parts.append(
            f'<a class="meta-link" href="{esc(url)}" target="_blank" '
            f'rel="noopener noreferrer nofollow">{esc(LABELS["open_link"])}</a>'
        )
    elif c.url and link:  # not a web link: shown as text so it cannot run or navigate
        parts.append(f'<span class="meta-url"><bdi>{esc(c.url)}</bdi></span>')
    return f'<span class="meta">{" · ".join(parts)}</span>' if parts else ""


def source_cards(turn: int, citations: Sequence[Citation], active: int | None = None) -> str:
    """The sources list of one answer: a card per citation, clickable like the markers."""
    if not citations:
        return f'<p class="panel-note">{esc(LABELS["no_sources"])}</p>'
    cards = []
    for c in citations:
        cls = "source-card cite" + (" active" if c.number == active else "")
        cards.append(
            f'<button type="button" class="{cls}" value="{turn}:{c.number}">'
            f'<span class="card-num">[{c.number}]</span>'
            f'<span class="card-title" dir="{text_direction(c.title)}">{esc(c.title)}</span>'
            f"{_meta(c, link=False)}</button>"
        )
    return f'<div class="source-cards">{"".join(cards)}</div>'


def article_html(citation: Citation, article: Article | None) -> str:
    """The cited article with ``text[start:end]`` highlighted; before, quote and after are
    escaped separately. Falls back to the quote alone if the article changed or is gone."""
    title = article.title if article else citation.title
    head = (
        f'<header class="article-head"><h3 dir="{text_direction(title)}">{esc(title)}</h3>'
        f"{_meta(article or citation)}</header>"
    )
    text = article.text if article else ""
    if article is None or text[citation.start : citation.end] != citation.sentence:
        note = LABELS["article_missing" if article is None else "article_changed"]
        body = (
            f'<p class="panel-note">{esc(note)}</p>'
            f'<div class="article-text" dir="{text_direction(citation.sentence)}">'
            f'<mark class="cited">{esc(citation.sentence)}</mark></div>'
        )
    else:
        before, quote, after = (
            text[: citation.start],
            text[citation.start : citation.end],
            text[citation.end :],
        )
        body = (
            f'<div class="article-text" dir="{text_direction(text)}">{esc(before)}'
            f'<mark class="cited" id="cited">'
            f"{marked(quote, citation.start, citation.answer_start, citation.answer_end)}"
            f"</mark>{esc(after)}</div>"
        )
    return f'<article class="article">{head}{body}</article>'


def panel_html(
    turn: int | None = None,
    citations: Sequence[Citation] = (),
    active: int | None = None,
    article: str = "",
) -> str:
    """The sources panel: heading, the answer's source cards, then the opened article."""
    parts = [f'<div class="panel" dir="rtl"><h2 class="panel-title">{esc(LABELS["sources"])}</h2>']
    if turn is None:
        parts.append(f'<p class="panel-note">{esc(LABELS["empty_panel"])}</p>')
    else:
        parts.append(source_cards(turn, citations, active))
        parts.append(
            article
            or (f'<p class="panel-note">{esc(LABELS["pick_source"])}</p>' if citations else "")
        )
    parts.append("</div>")
    return "".join(parts)


@dataclass(frozen=True)
class Turn:
    """One exchange: the question and either an Answer or an error message for the user."""

    question: str
    answer: Answer | None = None
    error: str = ""


def chat_messages(turns: list[Turn], pending: str | None = None) -> list[dict[str, str]]:
    """Chatbot messages (role/content dicts) for the conversation, all built here."""
    messages = []
    for i, turn in enumerate(turns):
        messages.append({"role": "user", "content": question_html(turn.question)})
        reply = error_html(turn.error) if turn.answer is None else answer_html(turn.answer, i)
        messages.append({"role": "assistant", "content": reply})
    if pending is not None:
        messages.append({"role": "user", "content": question_html(pending)})
        messages.append({"role": "assistant", "content": pending_html()})
    return messages
