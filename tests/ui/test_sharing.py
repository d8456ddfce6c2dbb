"""Sharing the chat: a login guards the page and the API, programs call the two documented
endpoints with gradio_client, and the filter row limits answers to an outlet. The server is
real (127.0.0.1, free port); the encoder and reader are the fast fakes, since what is checked
here is access and plumbing, not answer quality."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from index.build import build_index
from qa import Assistant
from tests.conftest import FakeEncoder, FakeReader
from ui.app import build_app
from ui.auth import Logins, add_user
from ui.server import LOGIN_MESSAGE

pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")

NEWS = [
    {"id": "bbc-1", "src": "bbc", "time": "2018-04-06", "title": "أسعار النفط ترتفع",
     "text": "ارتفعت أسعار النفط اليوم بنسبة ثلاثة في المئة. وقال محللون إن الطلب زاد."},
    {"id": "cnn-1", "src": "cnn", "time": "2018-05-02", "title": "أسعار النفط تتراجع",
     "text": "تراجعت أسعار النفط في مايو بنسبة اثنين في المئة. وتوقع خبراء استقرار السوق."},
]
USER, PASSWORD = "mona", "kalimat-sirr-1"
QUESTION = "كم تغيرت أسعار النفط؟"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sharing")
    (root / "news.jsonl").write_text(
        "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in NEWS), encoding="utf-8")
    build_index([root / "news.jsonl"], root / "index", encoder=FakeEncoder())
    add_user(root / "users", USER, PASSWORD)
    return root


@contextmanager
def serving(site: Path) -> Iterator[str]:
    bot = Assistant(site / "index", FakeEncoder(), reader=FakeReader(), watch=False)
    demo = build_app(bot, feedback_path=site / "feedback.jsonl")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.launch(server_port=port, prevent_thread_lock=True, quiet=True,
                auth=Logins(site / "users"), auth_message=LOGIN_MESSAGE)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def _get(url: str, data: bytes | None = None) -> tuple[int, str]:
    headers = {"Content-Type": "application/json"} if data else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data, headers), timeout=30) as r:
            return r.status, r.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8")


def test_anonymous_requests_are_refused_and_a_logged_in_client_is_served(site) -> None:
    from gradio_client import Client

    with serving(site) as url:
        status, page = _get(url)
        assert "daleel-input" not in page  # the login page, not the chat
        for path, body in (("config", None), ("gradio_api/info", None),
                           ("gradio_api/call/ask", json.dumps({"data": [QUESTION]}).encode())):
            status, text = _get(url + path, body)
            assert status == 401 and "Not authenticated" in text, path
        with pytest.raises(Exception, match="credentials"):
            Client(url, verbose=False)
        with pytest.raises(Exception):  # noqa: B017 - gradio_client's own error type
            Client(url, auth=(USER, "wrong-password"), verbose=False)

        client = Client(url, auth=(USER, PASSWORD), verbose=False)
        endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
        assert set(endpoints) == {"/ask", "/search"}  # the page's own events are private
        answer = client.predict(QUESTION, ["cnn"], None, None, api_name="/ask")
        assert answer["answered"] and {c["source"] for c in answer["citations"]} == {"cnn"}
        hits = client.predict(QUESTION, 3, None, None, "2018-04-30", api_name="/search")
        assert hits and {h["article_id"] for h in hits} == {"bbc-1"}
        text = {a["id"]: a["text"] for a in NEWS}
        for h in hits + answer["citations"]:
            assert text[h["article_id"]][h["start"]:h["end"]] == h["sentence"]
        with pytest.raises(Exception, match="year-month-day"):
            client.predict(QUESTION, 3, None, "أمس", None, api_name="/search")


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed")
@pytest.mark.parametrize("viewport", [(1366, 900), (390, 844)], ids=["desktop", "phone"])
def test_login_then_ask_with_an_outlet_filter_and_rate(site, viewport, browser) -> None:
    shots = Path(__file__).resolve().parent / "screenshots"
    width, height = viewport
    with serving(site) as url:
        context = browser.new_context(viewport={"width": width, "height": height}, locale="ar",
                                      is_mobile=width < 600, has_touch=width < 600)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(url)
        assert page.locator("#daleel-input").count() == 0  # nothing of the chat before login
        page.get_by_text(LOGIN_MESSAGE).wait_for()

        def log_in(password: str) -> None:
            page.locator("input[type=text]").first.fill(USER)
            page.locator("input[type=password]").fill(password)
            page.get_by_role("button", name="تسجيل الدخول").click()  # Gradio's page, in Arabic

        log_in("wrong-password")
        page.wait_for_timeout(1500)
        assert page.locator("#daleel-input").count() == 0  # a wrong password stays out
        assert page.locator("input[type=password]").count() == 1
        log_in(PASSWORD)
        page.wait_for_selector("#daleel-input textarea")

        page.locator("#daleel-filters").click()  # open the filter row
        page.locator("#daleel-sources input").click()
        page.get_by_role("option", name="بي بي سي عربي (1)").click()
        page.keyboard.press("Escape")
        page.fill("#daleel-input textarea", QUESTION)
        page.click("#daleel-send")
        answer = page.locator("#daleel-chat .msg-answer, #daleel-chat .msg-no-answer").first
        answer.wait_for()
        assert "ارتفعت أسعار النفط" in answer.text_content()  # the BBC sentence, not CNN's
        assert "تراجعت" not in answer.text_content()
        shots.mkdir(exist_ok=True)
        page.screenshot(path=str(shots / f"filter-row-{width}.png"))
        answer.scroll_into_view_if_needed()
        page.screenshot(path=str(shots / f"filtered-answer-{width}.png"))
        page.locator('#daleel-chat button[aria-label="إعجاب"]').first.click()
        page.locator("#daleel-feedback-status .feedback-note").wait_for()
        record = json.loads((site / "feedback.jsonl").read_text(
            encoding="utf-8").splitlines()[-1])
        assert record["user"] == USER and record["question"] == QUESTION
        context.close()
