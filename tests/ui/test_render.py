"""The pure HTML rendering of the chat: escaping, offsets, direction. No browser, no gradio."""

from __future__ import annotations

import html
import re

import pytest

from index.corpus import Article
from qa import Answer, Citation
from ui import render

SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=1">'
LINK = "[click](javascript:window.__pwned=1)"
HOSTILE = f"قال المتحدث {SCRIPT} ثم {IMG} وأضاف {LINK} في البيان."

TEXT = (
    "أعلنت البلدية افتتاح الحديقة. "
    f"وحضر الافتتاح {SCRIPT} ألفا شخص {IMG} يوم الأحد. "
    "وقال رئيس البلدية إن الحديقة مفتوحة للجميع."
)
START = TEXT.index("وحضر")
END = TEXT.index("الأحد.") + len("الأحد.")


def citation(number: int = 1, **kw) -> Citation:
    fields = dict(
        article_id="a1",
        title="افتتاح <b>الحديقة</b>",
        sentence=TEXT[START:END],
        start=START,
        end=END,
        score=0.9,
        url="",
        date="2024-01-05",
        source="وكالة <i>الأنباء</i>",
    )
    fields.update(kw)
    return Citation(**fields, number=number)


def article(**kw) -> Article:
    fields = dict(id="a1", title="افتتاح <b>الحديقة</b>", text=TEXT, source="وكالة")
    fields.update(kw)
    return Article(**fields)


def tags(markup: str) -> set[str]:
    return {t.lower() for t in re.findall(r"<\s*([a-zA-Z][a-zA-Z0-9]*)", markup)}


def visible_text(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]*>", "", markup))


ALLOWED = {"div", "span", "bdi", "button", "mark", "article", "header", "h2", "h3", "p", "a"}


@pytest.mark.parametrize("payload", [SCRIPT, IMG, LINK, HOSTILE])
def test_question_is_escaped_text(payload):
    out = render.question_html(payload)
    assert tags(out) <= ALLOWED
    assert (
        "<script" not in out
        and "<img" not in out
        and "onerror=" not in out.replace("onerror=&quot;", "")
    )
    assert visible_text(out) == payload


def test_markdown_link_stays_literal_text():
    out = render.question_html(LINK)
    assert "href" not in out
    assert "[click](javascript:window.__pwned=1)" in visible_text(out)


def test_answer_quotes_are_escaped_and_numbered():
    c1 = citation(1)
    c2 = citation(2, sentence=HOSTILE, start=0, end=len(HOSTILE))
    answer = Answer(text="ignored", citations=[c1, c2], answered=True, question="q")
    out = render.answer_html(answer, turn=3)
    assert tags(out) <= ALLOWED
    assert "<script" not in out and "<img" not in out
    assert 'value="3:1"' in out and 'value="3:2"' in out
    assert "[1]" in out and "[2]" in out
    text = visible_text(out)
    assert c1.sentence in text and HOSTILE in text
    assert out.count("<bdi>") == 2  # each quote isolated


def test_no_answer_is_shown_as_such():
    answer = Answer(text="لم أجد في المقالات المفهرسة جملة تجيب عن هذا السؤال.", answered=False)
    out = render.answer_html(answer, turn=0)
    assert "msg-no-answer" in out and "cite" not in out
    assert render.LABELS["no_answer"] in visible_text(out)
    assert 'dir="rtl"' in out
    english = Answer(text="I found no sentence in the indexed articles.", answered=False)
    english_html = render.answer_html(english, turn=0)
    assert 'dir="ltr"' in english_html  # and its badge is English too
    assert render.LABELS["no_answer_en"] in english_html and render.LABELS["no_answer"] not in (
        english_html)


def test_error_message_is_escaped():
    out = render.error_html("bad <b>input</b>")
    assert "<b>" not in out and "bad <b>input</b>" in visible_text(out)


def test_highlight_uses_offsets_exactly():
    out = render.article_html(citation(), article())
    marked = re.search(r'<mark class="cited" id="cited">(.*?)</mark>', out, re.S)
    assert marked is not None
    assert html.unescape(marked.group(1)) == TEXT[START:END]
    body = re.search(r'<div class="article-text"[^>]*>(.*)</div>', out, re.S).group(1)
    assert visible_text(body) == TEXT  # before + quote + after, nothing lost or added
    assert "<script" not in out and "<img" not in out and "<b>" not in out and "<i>" not in out


def test_highlight_picks_the_cited_occurrence_not_the_first():
    sentence = "تكررت الجملة."
    text = f"{sentence} بينهما كلام. {sentence}"
    second = text.rindex(sentence)
    c = citation(sentence=sentence, start=second, end=second + len(sentence))
    out = render.article_html(c, article(text=text))
    before = out.split('<mark class="cited"')[0]
    assert visible_text(before.split('dir="rtl">')[-1]) == text[:second]


def test_changed_or_missing_article_falls_back_to_the_quote():
    changed = render.article_html(citation(), article(text="نص آخر تماما"))
    assert render.LABELS["article_changed"] in visible_text(changed)
    assert citation().sentence in visible_text(changed)
    missing = render.article_html(citation(), None)
    assert render.LABELS["article_missing"] in visible_text(missing)


def test_bidi_controls_are_made_visible():
    spoof = "السعر \u202e0001\u202c دولار \u2066x\u2069"
    out = render.esc(spoof)
    assert not render.BIDI_CONTROLS.search(out)
    assert "⟨U+202E⟩" in out and "⟨U+2066⟩" in out
    # Neutralised per part, so the highlight offsets still hold for a spoofed article.
    text = f"مقدمة \u202eمقلوب\u202c. {TEXT}"
    shift = len(text) - len(TEXT)
    c = citation(start=START + shift, end=END + shift)
    out = render.article_html(c, article(text=text))
    assert not render.BIDI_CONTROLS.search(out)
    marked = re.search(r'<mark class="cited" id="cited">(.*?)</mark>', out, re.S)
    assert html.unescape(marked.group(1)) == TEXT[START:END]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("كم عدد الجنود غير الأمريكيين في العراق؟", "rtl"),
        ("How many soldiers are in Iraq?", "ltr"),
        ("ما هو موقف NATO من الانسحاب؟", "rtl"),  # mixed, mostly Arabic
        ("«NATO» قال إن الانسحاب سيبدأ قريبا", "rtl"),  # starts with Latin, still Arabic
        ("What did الحشد الشعبي say about the withdrawal?", "ltr"),  # mixed, mostly English
        ("2400", "auto"),
        ("؟!", "auto"),
        ("שלום", "rtl"),
    ],
)
def test_text_direction(text, expected):
    assert render.text_direction(text) == expected


def test_messages_carry_their_own_direction():
    assert 'dir="rtl"' in render.question_html("ومتى حدث ذلك؟")
    assert 'dir="ltr"' in render.question_html("When did it happen?")


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://example.com/news/1", True),
        ("http://example.com", True),
        ("javascript:window.__pwned=1", False),
        ("JavaScript:alert(1)", False),
        ("data:text/html,<script>alert(1)</script>", False),
        ("//example.com/x", False),
        ("https://exa mple.com", False),
        ('https://example.com/" onmouseover="x', False),
        ("https://example.com/\u202egnp.exe", False),
        ("", False),
    ],
)
def test_safe_url(url, ok):
    assert (render.safe_url(url) is not None) == ok


def test_links_only_for_web_urls_and_escaped():
    good = render.article_html(citation(), article(url="https://example.com/a?x=1&y=2"))
    assert 'href="https://example.com/a?x=1&amp;y=2"' in good
    assert 'rel="noopener noreferrer nofollow"' in good
    bad = render.article_html(citation(), article(url="javascript:window.__pwned=1"))
    assert "href" not in bad and "javascript:window.__pwned=1" in visible_text(bad)


def test_panel_lists_sources_and_marks_the_active_one():
    cites = [citation(1), citation(2, title="عنوان ثان")]
    out = render.panel_html(4, cites, active=2)
    assert out.count('class="source-card cite') == 2
    assert 'class="source-card cite active" value="4:2"' in out
    assert render.LABELS["pick_source"] in visible_text(out)
    assert "<b>" not in out and "<i>" not in out
    assert render.LABELS["no_sources"] in visible_text(render.panel_html(0, []))
    assert render.LABELS["empty_panel"] in visible_text(render.panel_html())


def test_chat_messages_pair_each_question_with_its_reply():
    answered = Answer(text="x", citations=[citation(1)], answered=True, question="س1")
    turns = [render.Turn("س1", answer=answered), render.Turn("<b>س2</b>", error="خطأ <i>ما</i>")]
    messages = render.chat_messages(turns, pending="How about now?")
    assert [m["role"] for m in messages] == ["user", "assistant"] * 3
    assert 'value="0:1"' in messages[1]["content"]  # markers name their turn
    assert "msg-error" in messages[3]["content"] and "<i>" not in messages[3]["content"]
    assert "<b>" not in messages[2]["content"]
    assert 'dir="ltr"' in messages[4]["content"] and "msg-pending" in messages[5]["content"]


# -- the reader's answer phrase and the related sentences ---------------------------------------
PHRASE_START = TEXT.index("ألفا شخص")
PHRASE_END = PHRASE_START + len("ألفا شخص")


def test_answer_phrase_leads_and_is_marked_inside_the_quote() -> None:
    c = citation(answer_start=PHRASE_START, answer_end=PHRASE_END)
    ans = Answer(text="…", citations=[c], answered=True)
    assert c.answer == "ألفا شخص"
    markup = render.answer_html(ans, 0)
    assert SCRIPT not in markup and IMG not in markup  # still escaped around the mark
    lead = re.search(r'<div class="answer-lead"><strong><bdi>(.*?)</bdi>', markup).group(1)
    assert lead == "ألفا شخص"
    marked = re.search(r'<strong class="answer-phrase">(.*?)</strong>', markup).group(1)
    assert marked == "ألفا شخص"
    assert TEXT[START:END] in visible_text(markup)  # the quote is whole, text unchanged


def test_answer_phrase_is_marked_in_the_source_panel() -> None:
    c = citation(answer_start=PHRASE_START, answer_end=PHRASE_END)
    markup = render.article_html(c, article())
    assert visible_text(markup).endswith(TEXT)
    cited = re.search(r'<mark class="cited" id="cited">(.*?)</mark>', markup).group(1)
    assert visible_text(cited) == TEXT[START:END]
    assert re.search(r'<strong class="answer-phrase">ألفا شخص</strong>', cited)


@pytest.mark.parametrize("span", [(None, None), (START - 1, START + 3), (END - 2, END + 1),
                                  (START + 5, START + 5)])
def test_a_phrase_outside_the_quote_is_never_marked(span) -> None:
    c = citation(answer_start=span[0], answer_end=span[1])
    assert render.marked(c.sentence, c.start, *span) == render.esc(c.sentence)


def test_declined_answer_lists_related_sentences_collapsed() -> None:
    hostile = citation(sentence="جملة عربية <b>مهمة</b> في الخبر")
    ans = Answer(text="لم أجد", answered=False,
                 related=[hostile, citation(sentence="An English sentence.")])
    markup = render.answer_html(ans, 0)
    assert '<details class="related">' in markup and " open" not in markup
    assert "غير متحقَّق" in visible_text(markup)
    assert markup.count("<li ") == 2
    assert '<li dir="rtl">' in markup and '<li dir="ltr">' in markup
    assert "<b>" not in markup and "&lt;b&gt;مهمة&lt;/b&gt;" in markup
    assert render.answer_html(Answer(text="لم أجد"), 0).count("<details") == 0


@pytest.mark.parametrize(("raw", "shown"), [
    ("Fri, 06 Apr 2018 16:20:45 +0400", "6 أبريل 2018"),
    ("Sun, 18 Feb 2018 17:21:49 GMT", "18 فبراير 2018"),
    ("2018-12-31T23:30:00+04:00", "31 ديسمبر 2018"),  # the article's own day, not UTC's
    ("2018-10-02", "2 أكتوبر 2018"),
    ("الأسبوع الماضي", "الأسبوع الماضي"),  # not a date we read: shown as written
])
def test_dates_are_shown_in_arabic(raw: str, shown: str) -> None:
    assert render.arabic_date(raw) == shown


def test_outlet_codes_are_shown_by_name_and_unknown_ones_as_written() -> None:
    assert render.outlet_name("alarabia") == "العربية"
    assert render.outlet_name("BBC") == "بي بي سي عربي"
    assert render.outlet_name("skynews") == "سكاي نيوز عربية"
    assert render.outlet_name("<b>local-paper</b>") == "<b>local-paper</b>"
    html_out = render.source_cards(0, [citation(source="france24",
                                                date="Sun, 18 Feb 2018 15:38:57 GMT")])
    assert "فرانس 24" in html_out and "18 فبراير 2018" in html_out and "france24" not in html_out


def test_a_partial_answer_says_so_in_the_question_language() -> None:
    full = Answer(text="ignored", citations=[citation(1)], answered=True, question="متى؟")
    assert "partial" not in render.answer_html(full, turn=0)
    partial = Answer(text="ignored", citations=[citation(1)], answered=True, question="متى؟",
                     partial=True)
    out = render.answer_html(partial, turn=0)
    assert tags(out) <= ALLOWED and render.LABELS["partial"] in visible_text(out)
    declined = Answer(text="I found no sentence in the indexed articles.", answered=False,
                      question="When did it open?", partial=True)
    text = visible_text(render.answer_html(declined, turn=0))
    assert render.LABELS["partial_en"] in text and render.LABELS["partial"] not in text
