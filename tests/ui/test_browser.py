"""End to end: the real chat page in headless Debian Chromium (never a downloaded browser).

One small index is built per session from ``seeds/`` and one from a hostile article; each test
serves the real app on 127.0.0.1 (free port, background thread) and drives it with Playwright.
Screenshots go to ``tests/ui/screenshots/``; the citation view is copied to
``docs/screenshot-chat.png`` for the README when DALEEL_UPDATE_SCREENSHOT=1 is set.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        "Debian chromium is not installed at /usr/bin/chromium (apt-get install chromium); "
        "these tests never download a browser",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")

from index.build import build_index  # noqa: E402
from index.encoder import Encoder  # noqa: E402
from qa import Assistant  # noqa: E402
from qa.answer import MAX_QUESTION_CHARS  # noqa: E402
from qa.reader import Reader  # noqa: E402
from ui.app import ERROR_MESSAGE, build_app  # noqa: E402

pytestmark = [
    pytest.mark.browser,
    # gradio 6.31's queue statistics use pandas options that pandas 3 deprecates
    pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*"),
]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(__file__).resolve().parent / "screenshots"
DOCS_SHOT = ROOT / "docs" / "screenshot-chat.png"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
TIMEOUT_MS = 30_000

QUESTION = "كم عدد الجنود غير الأمريكيين في العراق؟"
FOLLOW_UP = "ومتى اتفقت بغداد وواشنطن على سحب القوات؟"
ENGLISH = "How many non-American soldiers are in Iraq?"

SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=1">'
LINK = "[click](javascript:window.__pwned=1)"
HOSTILE_SENTENCE = (
    f"افتتحت بلدية الزرقاء حديقة النخيل الكبرى يوم الأحد بحضور ثلاثة آلاف زائر {SCRIPT} "
    f"وقدمت فرقة محلية عرضا {IMG} وأطلقت رابطا {LINK} للتسجيل في \u202eالمكتبة\u202c العامة."
)
HOSTILE_ARTICLE = (
    f"حديقة <b>النخيل</b> {IMG} في الزرقاء\n"
    f"{HOSTILE_SENTENCE}\n"
    "وقال رئيس البلدية إن الحديقة تضم ملعبا للأطفال ومسارا للدراجات. "
    "وأضاف أن كلفة المشروع بلغت مليوني دينار.\n"
)
HOSTILE_QUESTION = "كم عدد الزوار الذين حضروا افتتاح حديقة النخيل في الزرقاء؟"

BOX = "#daleel-input textarea"
DESKTOP, PHONE = (1366, 900), (390, 844)
LIKE, DISLIKE = ('#daleel-chat button[aria-label="إعجاب"]',  # Gradio's own Arabic labels
                 '#daleel-chat button[aria-label="عدم الإعجاب"]')
ANSWERS = "#daleel-chat .msg-answer, #daleel-chat .msg-no-answer, #daleel-chat .msg-error"


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    return Encoder()  # honours DALEEL_MODEL_CACHE, like the CLI


@pytest.fixture(scope="session")
def reader(encoder) -> Reader:
    return Reader.load(encoder)  # the committed reader, on its int8 path as served


@pytest.fixture(scope="session")
def seeds_index(tmp_path_factory, encoder) -> Path:
    index_dir = tmp_path_factory.mktemp("ui") / "seeds-index"
    build_index([ROOT / "seeds"], index_dir, encoder=encoder)
    return index_dir


@pytest.fixture(scope="session")
def hostile_index(tmp_path_factory, encoder) -> Path:
    corpus = tmp_path_factory.mktemp("hostile-corpus")
    (corpus / "hostile.txt").write_text(HOSTILE_ARTICLE, encoding="utf-8")
    index_dir = tmp_path_factory.mktemp("ui") / "hostile-index"
    build_index([corpus], index_dir, encoder=encoder)
    return index_dir




@contextmanager
def serving(assistant: Assistant, feedback: Path) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo = build_app(assistant, feedback_path=feedback)
    demo.launch(server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@contextmanager
def open_page(browser, url: str, viewport: tuple[int, int] = DESKTOP
              ) -> Iterator[tuple[object, list[str]]]:
    width, height = viewport
    context = browser.new_context(viewport={"width": width, "height": height}, locale="ar",
                                  is_mobile=width < 600, has_touch=width < 600)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(url)
    page.wait_for_selector("#daleel-input textarea")
    try:
        yield page, requests
    finally:
        context.close()


def ask(page, question: str) -> object:
    """Type and send a question; return the locator of the new assistant message."""
    before = page.locator(ANSWERS).count()
    page.fill("#daleel-input textarea", question)
    page.click("#daleel-send")
    page.wait_for_function(
        "([sel, n]) => document.querySelectorAll(sel).length > n", arg=[ANSWERS, before]
    )
    return page.locator(ANSWERS).nth(before)


def direction(locator) -> str:
    return locator.evaluate("el => getComputedStyle(el).direction")


def external(requests: list[str]) -> list[str]:
    return [
        u
        for u in requests
        if urlsplit(u).scheme not in ("data", "blob") and urlsplit(u).hostname not in LOCAL_HOSTS
    ]


def test_chat_answers_with_citation_highlight_and_follow_up(
    browser, seeds_index, encoder, reader, tmp_path
):
    assistant = Assistant(seeds_index, encoder, reader=reader)
    expected = assistant.ask(QUESTION).citations[0]
    article = assistant.article(expected.article_id)
    assert "2400" in expected.sentence and "2400" in expected.answer
    assert article.text[expected.start : expected.end] == expected.sentence
    feedback = tmp_path / "feedback.jsonl"
    SHOTS.mkdir(exist_ok=True)

    with serving(assistant, feedback) as url, open_page(browser, url) as (page, requests):
        answer = ask(page, QUESTION)
        assert "msg-answer" in answer.get_attribute("class")
        # Focus came back to the input after the answer: the next question needs no click.
        page.wait_for_function(f"() => document.activeElement === document.querySelector({BOX!r})")
        assert page.input_value(BOX) == ""
        assert expected.sentence in answer.text_content()
        # The answer phrase first, in bold, then marked inside its quote.
        assert answer.locator(".answer-lead strong").text_content() == expected.answer
        assert answer.locator(".quote .answer-phrase").text_content() == expected.answer
        marker = answer.locator("button.cite")
        assert marker.count() == 1 and marker.text_content() == "[1]"
        question_msg = page.locator("#daleel-chat .msg-question").first
        assert direction(question_msg) == "rtl" and direction(answer) == "rtl"
        uses_noto = "Noto Sans Arabic" in answer.evaluate("el => getComputedStyle(el).fontFamily")
        noto_loaded = page.evaluate(
            "() => [...document.fonts].some(f => f.family.replace(/[\"']/g, '') === "
            "'Noto Sans Arabic' && f.status === 'loaded')"
        )
        assert uses_noto and noto_loaded
        page.screenshot(path=str(SHOTS / "chat-answer.png"))

        assert page.locator("#daleel-panel mark.cited").count() == 0
        marker.click()
        mark = page.locator("#daleel-panel mark.cited")
        mark.wait_for()
        assert mark.text_content() == expected.sentence
        assert mark.count() == 1
        assert mark.locator(".answer-phrase").text_content() == expected.answer
        panel_text = page.locator("#daleel-panel .article-text").text_content()
        assert panel_text == article.text  # the whole article, the quote at its offsets
        assert direction(mark) == "rtl"
        page.wait_for_timeout(300)  # let the smooth layout settle before the screenshot
        page.screenshot(path=str(SHOTS / "citation.png"))

        page.locator(LIKE).first.click()  # the thumbs under this answer
        page.locator("#daleel-feedback-status .feedback-note").wait_for()
        assert "شكرًا" in page.locator("#daleel-feedback-status").text_content()
        record = json.loads(feedback.read_text(encoding="utf-8").splitlines()[-1])
        assert record["question"] == QUESTION and record["feedback"] == "useful"
        assert record["citations"][0]["sentence"] == expected.sentence

        follow = ask(page, FOLLOW_UP)
        assert "msg-answer" in follow.get_attribute("class")
        assert "اتفقت بغداد وواشنطن على سحب القوات" in follow.text_content()
        assert follow.locator("button.cite").count() >= 1
        # An older answer keeps its own thumbs: rating it rates it, not the latest one.
        page.locator(DISLIKE).first.click()
        page.locator("#daleel-feedback-status .feedback-note").wait_for()
        record = json.loads(feedback.read_text(encoding="utf-8").splitlines()[-1])
        assert record["question"] == QUESTION and record["feedback"] == "not_useful"

        english = ask(page, ENGLISH)
        english_question = page.locator("#daleel-chat .msg-question").last
        assert english_question.text_content() == ENGLISH
        assert direction(english_question) == "ltr"
        assert english.text_content()

        assert external(requests) == [], "the page must not contact other hosts"
    if os.environ.get("DALEEL_UPDATE_SCREENSHOT"):  # refresh the README's picture on request
        DOCS_SHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(SHOTS / "citation.png", DOCS_SHOT)


def test_unanswerable_question_says_so(browser, seeds_index, encoder, reader, tmp_path):
    assistant = Assistant(seeds_index, encoder, reader=reader)
    with serving(assistant, tmp_path / "f.jsonl") as url, open_page(browser, url) as (page, _):
        reply = ask(page, "ما هي عاصمة اليابان؟")
        assert "msg-no-answer" in reply.get_attribute("class")
        assert reply.locator("button.cite").count() == 0
        assert "لا إجابة" in reply.text_content()
        # The closest sentences are offered, collapsed and labelled as unverified.
        related = reply.locator("details.related")
        assert related.count() == 1 and related.get_attribute("open") is None
        assert "غير متحقَّق" in related.locator("summary").text_content()
        assert not related.locator("li").first.is_visible()
        related.locator("summary").click()
        items = related.locator("li")
        assert items.count() == 3 and items.first.is_visible()
        assert direction(items.first) == "rtl"
        page.screenshot(path=str(SHOTS / "declined-related.png"))

        page.locator("#daleel-chat ~ * button, .gallery button, button.gallery-item").filter(
            has_text=QUESTION).first.click()  # an example is asked, not only typed in
        page.wait_for_function(
            "([sel, n]) => document.querySelectorAll(sel).length > n", arg=[ANSWERS, 1])
        assert page.locator("#daleel-chat .msg-question").last.text_content() == QUESTION


class SlowFlakyAssistant:
    """Stands in for Assistant: answers after a delay, and fails on questions saying "boom"."""

    def __init__(self, real: Assistant, delay: float) -> None:
        self.real, self.delay = real, delay

    @property
    def data(self):
        return self.real.data

    def article(self, article_id):
        return self.real.article(article_id)

    def facets(self):
        return self.real.facets()

    def ask(self, question, history=None, **filters):
        time.sleep(self.delay)
        if "boom" in question:
            raise RuntimeError("index exploded: details for the server log only")
        return self.real.ask(question, history=history, **filters)


def test_busy_state_and_errors(browser, seeds_index, encoder, tmp_path, caplog):
    assistant = SlowFlakyAssistant(Assistant(seeds_index, encoder), delay=1.5)
    caplog.set_level(logging.ERROR, logger="ui.app")
    with serving(assistant, tmp_path / "f.jsonl") as url, open_page(browser, url) as (page, _):
        page.fill("#daleel-input textarea", "boom: ما آخر الأخبار؟")
        page.click("#daleel-send")
        page.locator("#daleel-chat .msg-pending").wait_for()  # visible busy state
        assert page.locator("#daleel-input textarea").is_disabled()
        assert page.locator("#daleel-send").is_disabled()
        page.locator("#daleel-chat .msg-error").wait_for()
        error = page.locator("#daleel-chat .msg-error").last.text_content()
        assert ERROR_MESSAGE in error and "exploded" not in error
        assert "index exploded" in caplog.text  # the details went to the server log
        assert page.locator("#daleel-input textarea").is_enabled()

        invalid = ask(page, "؟؟؟ !!!")  # the API's QuestionError, shown as a message
        assert "msg-error" in invalid.get_attribute("class")
        assert "علامات ترقيم" in invalid.text_content()  # in the page's language
        # The rejected question stays in the box to be fixed, and the box has the focus.
        page.wait_for_function(f"() => document.activeElement === document.querySelector({BOX!r})")
        assert page.input_value(BOX) == "؟؟؟ !!!"
        assert page.get_attribute(BOX, "maxlength") == str(MAX_QUESTION_CHARS)

        count = page.locator("#daleel-chat .msg").count()
        page.fill("#daleel-input textarea", "   ")
        page.click("#daleel-send")
        page.wait_for_timeout(500)
        assert page.locator("#daleel-chat .msg").count() == count  # blank: nothing sent


def test_hostile_article_renders_inert(browser, hostile_index, encoder, tmp_path):
    assistant = Assistant(hostile_index, encoder)
    with serving(assistant, tmp_path / "f.jsonl") as url, open_page(browser, url) as (page, reqs):
        ask(page, f"{IMG} {SCRIPT} {LINK} ماذا قدمت الفرقة المحلية؟")  # a hostile question
        answer = ask(page, HOSTILE_QUESTION)
        assert "msg-answer" in answer.get_attribute("class")
        answer.locator("button.cite").first.click()
        page.locator("#daleel-panel mark.cited").wait_for()

        assert page.evaluate("() => typeof window.__pwned") == "undefined"
        for where in ("#daleel-chat", "#daleel-panel"):
            assert page.locator(f"{where} script, {where} img").count() == 0
            assert page.locator(f"{where} a[href^='javascript']").count() == 0
        chat_text = page.locator("#daleel-chat").inner_text()
        panel_text = page.locator("#daleel-panel").inner_text()
        for literal in (SCRIPT, IMG, LINK):
            assert literal in chat_text  # quoted in the answer and echoed in the question
            assert literal in panel_text  # in the opened article
        assert page.get_by_text(SCRIPT).first.is_visible()
        assert "<b>النخيل</b>" in panel_text  # the headline's markup is text too
        # Bidi overrides are shown as code points, never applied.
        assert "⟨U+202E⟩" in panel_text and "\u202e" not in panel_text
        page.screenshot(path=str(SHOTS / "hostile.png"))
        assert page.evaluate("() => typeof window.__pwned") == "undefined"
        assert external(reqs) == []


def test_phone_citation_tap_shows_the_whole_highlighted_sentence(
    browser, seeds_index, encoder, reader, tmp_path
):
    assistant = Assistant(seeds_index, encoder, reader=reader)
    expected = assistant.ask(QUESTION).citations[0]
    with serving(assistant, tmp_path / "f.jsonl") as url, open_page(browser, url, PHONE) as (
        page, requests
    ):
        assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE[0]
        answer = ask(page, QUESTION)
        assert expected.sentence in answer.text_content()
        page.screenshot(path=str(SHOTS / "phone-answer.png"))
        answer.locator("button.cite").tap()
        mark = page.locator("#daleel-panel mark.cited")
        mark.wait_for()
        assert mark.text_content() == expected.sentence
        page.wait_for_function(
            "() => { const r = document.querySelector('#daleel-panel mark.cited')"
            ".getBoundingClientRect(); return r.top >= 0 && r.bottom <= window.innerHeight; }")
        page.screenshot(path=str(SHOTS / "phone-citation.png"))
        assert external(requests) == []


def test_a_queued_question_shows_it_waits_at_once(browser, seeds_index, encoder, tmp_path):
    """One question at a time (concurrency 1): the second asker sees their question and a
    waiting bubble within 300 ms of Enter, while the first is still being answered."""
    assistant = SlowFlakyAssistant(Assistant(seeds_index, encoder), delay=2.0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo = build_app(assistant, feedback_path=tmp_path / "f.jsonl", concurrency=1)
    demo.launch(server_port=port, prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        with open_page(browser, url) as (first, _), open_page(browser, url, PHONE) as (second, _):
            first.fill(BOX, QUESTION)
            first.press(BOX, "Enter")
            first.locator("#daleel-chat .msg-pending").wait_for()
            second.fill(BOX, "متى بدأ الانسحاب؟")
            second.evaluate(WATCH_PENDING)
            second.press(BOX, "Enter")
            second.wait_for_function("() => window.__pendingAfter !== undefined")
            assert second.evaluate("() => window.__pendingAfter") < 300
            assert second.locator("#daleel-chat .msg-question").last.text_content() == (
                "متى بدأ الانسحاب؟")
            assert first.locator("#daleel-chat .msg-pending").count() == 1  # still answering
            second.locator("#daleel-chat .msg-answer, #daleel-chat .msg-no-answer").wait_for()
    finally:
        demo.close()


# Milliseconds from Enter to the waiting bubble, measured in the page (no test-side polling).
WATCH_PENDING = """() => {
  const box = document.querySelector('#daleel-input textarea');
  box.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter') return;
    const t0 = performance.now();
    const seen = () => document.querySelector('#daleel-chat .msg-pending');
    const observer = new MutationObserver(() => {
      if (seen()) { window.__pendingAfter = performance.now() - t0; observer.disconnect(); }
    });
    observer.observe(document.body, { childList: true, subtree: true });
  }, { once: true });
}"""
