"""The daleel web chat (Gradio): ask in Arabic or English, read the quoted sentence, open its
source with the sentence highlighted. The page adds no retrieval logic; it calls
:meth:`qa.Assistant.ask` with the conversation so far.

Safe by default: all question and article text is escaped by :mod:`ui.render` and the chat
renders it as HTML without Markdown; the server binds 127.0.0.1; analytics are off and the
page loads nothing from other hosts (the Arabic font is served from the local fontpkg package).
"""

from __future__ import annotations

import logging
import re
from importlib import util as importlib_util
from pathlib import Path
from typing import Any
from urllib.parse import quote

import gradio as gr

from qa import Assistant, QuestionError
from qa.answer import MAX_QUESTION_CHARS, mostly_latin
from qa.filters import FilterError
from ui import api, render
from ui.feedback import FeedbackLog, Verdict, default_feedback_path
from ui.render import Turn, chat_messages

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
FONT_FAMILY = "Noto Sans Arabic"
EXAMPLES = [
    "كم عدد الجنود غير الأمريكيين في العراق؟",
    "متى اتفقت بغداد وواشنطن على سحب القوات الأمريكية المقاتلة؟",
    "ما الإطار الزمني الذي طالبت به الولايات المتحدة للانسحاب؟",
    "How many non-American soldiers are in Iraq?",
]
ERROR_MESSAGE = "تعذّر الحصول على إجابة بسبب خطأ في الخادم. حاول مرة أخرى بعد قليل."
THANKS = "شكرًا، سُجّل تقييمك للإجابة عن «{question}»."
_CITE_KEY = re.compile(r"^(\d{1,6}):(\d{1,3})$")


def font_file() -> Path | None:
    """The Noto Sans Arabic font shipped by ``fontpkg-noto-sans-arabic``, if installed."""
    spec = importlib_util.find_spec("fontpkg_noto_sans_arabic")
    if spec is None or not spec.submodule_search_locations:
        return None
    fonts = sorted(Path(next(iter(spec.submodule_search_locations))).glob("files/*.[ot]tf"))
    return fonts[0] if fonts else None


def page_css(font: Path | None) -> str:
    css = (STATIC / "daleel.css").read_text(encoding="utf-8")
    if font is None:
        logger.warning("fontpkg-noto-sans-arabic is not installed; using system Arabic fonts")
        return css
    # A relative URL, so the page also works under a root path; quote() keeps "[" and ","
    # of the variable font's file name from breaking the URL.
    url = "gradio_api/file=" + quote(str(font))
    face = (
        f'@font-face {{ font-family: "{FONT_FAMILY}"; src: url("{url}") format("truetype");'
        " font-weight: 100 900; font-stretch: 62.5% 100%; font-display: swap; }\n"
    )
    return face + css


class DaleelBlocks(gr.Blocks):
    """Blocks whose ``launch()`` defaults to daleel's page (theme, CSS, local font, RTL) and
    to private settings: 127.0.0.1, no share link, no footer links, no run history."""

    def launch(self, *args: Any, **kwargs: Any) -> Any:
        font = font_file()
        allowed = list(kwargs.pop("allowed_paths", None) or [])
        if font is not None:
            allowed.append(str(font))
        theme = gr.themes.Soft(
            primary_hue="teal",
            font=[gr.themes.Font(FONT_FAMILY), "ui-sans-serif", "system-ui", "sans-serif"],
            font_mono=["ui-monospace", "monospace"],
        )
        defaults: dict[str, Any] = {
            "server_name": "127.0.0.1",
            "share": False,
            "theme": theme,
            "css": page_css(font),
            "js": (STATIC / "page.js").read_text(encoding="utf-8"),
            "footer_links": [],
            "run_history": False,
            "enable_monitoring": False,
            "mcp_server": False,
            "ssr_mode": False,
        }
        return super().launch(*args, allowed_paths=allowed, **{**defaults, **kwargs})


def build_app(
    assistant: Assistant,
    *,
    feedback_path: Path | None = None,
    examples: list[str] | None = None,
    concurrency: int = 8,
) -> DaleelBlocks:
    """The chat page over ``assistant``. Feedback goes to ``feedback_path``, by default
    ``~/.local/share/daleel/feedback.jsonl`` (``$XDG_DATA_HOME/daleel/feedback.jsonl``).
    ``concurrency`` questions are answered at once; more wait in the queue."""
    feedback = FeedbackLog(feedback_path or default_feedback_path())

    def hold(question: str, turns: list[Turn]):
        """Show the question and a waiting bubble at once (outside the queue: a question that
        waits behind others shows a sign of life within a fraction of a second)."""
        question = (question or "").strip()
        if not question:
            return gr.skip(), gr.skip(), gr.skip(), ""
        busy = gr.update(interactive=False)
        return (chat_messages(turns, pending=question), gr.update(value="", interactive=False),
                busy, question)

    def respond(question: str, turns: list[Turn], sources: list[str] | None, since: str | None,
            until: str | None):
        if not question:
            return (gr.skip(),) * 5
        history = [t.answer for t in turns if t.answer is not None]
        keep = ""  # a rejected question goes back into the box, to be fixed
        try:
            answer = assistant.ask(question, history=history, sources=sources or None,
                                   since=_day(since), until=_day(until))
            turn = Turn(question, answer=answer)
        except (QuestionError, FilterError) as exc:
            turn = Turn(question, error=exc.english if mostly_latin(question) else exc.arabic)
            keep = question
        except Exception:
            logger.exception("Failed to answer %r", question)
            turn = Turn(question, error=ERROR_MESSAGE)
        turns = [*turns, turn]
        index = len(turns) - 1
        panel = (
            render.panel_html(index, turn.answer.citations)
            if turn.answer is not None
            else render.panel_html()
        )
        return (
            chat_messages(turns),
            gr.update(value=keep, interactive=True),
            gr.update(interactive=True),
            panel,
            turns,
        )

    def open_citation(turns: list[Turn], evt: gr.SelectData):
        match = _CITE_KEY.match(str(evt.value))
        if not match:
            return gr.skip()
        index, number = int(match[1]), int(match[2])
        if index >= len(turns) or turns[index].answer is None:
            return gr.skip()
        citations = turns[index].answer.citations
        cited = next((c for c in citations if c.number == number), None)
        if cited is None:
            return gr.skip()
        # the index served now, also after a hot reload
        body = render.article_html(cited, assistant.article(cited.article_id))
        return render.panel_html(index, citations, active=number, article=body)

    def rate(turns: list[Turn], liked: gr.LikeData, request: gr.Request) -> str:
        """The thumbs under an answer rate that answer (each message has its own); the
        record names the user when the chat has logins."""
        index = liked.index[0] if isinstance(liked.index, tuple | list) else liked.index
        turn = turns[index // 2] if 0 <= index // 2 < len(turns) else None  # 2 messages a turn
        verdict: Verdict | None = {True: "useful", False: "not_useful"}.get(liked.liked)
        if turn is None or turn.answer is None or verdict is None:
            return gr.skip()  # an error message, or a rating taken back
        try:
            feedback.record(turn.answer, verdict, user=getattr(request, "username", None))
            note = THANKS.format(question=turn.question)
        except OSError:
            logger.exception("Could not write feedback to %s", feedback.path)
            note = "تعذّر حفظ التقييم."
        return f'<p class="feedback-note" dir="rtl">{render.esc(note)}</p>'

    with DaleelBlocks(title="دليل · أسئلة الأخبار", analytics_enabled=False) as demo:
        turns = gr.State([])
        asked = gr.State("")  # the question being answered (the box is emptied meanwhile)
        gr.HTML(
            '<div dir="rtl"><h1>دليل</h1><p>اسأل عن الأخبار المفهرسة: تأتيك الجملة التي '
            "تجيب عن سؤالك كما وردت في المقال، مع رقم يفتح مصدرها.</p></div>",
            elem_id="daleel-header",
        )
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=360):
                chat = gr.Chatbot(
                    label="المحادثة",
                    show_label=False,  # its floating label covered the first message
                    elem_id="daleel-chat",
                    height=520,
                    layout="bubble",
                    rtl=True,
                    render_markdown=False,  # text is pre-escaped HTML from ui.render
                    sanitize_html=True,  # and the browser sanitizes it again
                    latex_delimiters=[],
                    feedback_options=("Like", "Dislike"),  # under each answer: rate()
                    buttons=[],
                    placeholder="<p dir='rtl'>اكتب سؤالًا عن الأخبار، أو اختر مثالًا من الأسفل.</p>",
                )
                with gr.Row(equal_height=True):
                    box = gr.Textbox(
                        show_label=False,
                        placeholder="اكتب سؤالك هنا…",
                        rtl=True,
                        elem_id="daleel-input",
                        lines=1,
                        max_lines=4,
                        max_length=MAX_QUESTION_CHARS,
                        scale=6,
                        autofocus=True,
                    )
                    send = gr.Button(
                        "اسأل", variant="primary", scale=1, min_width=90, elem_id="daleel-send"
                    )
                with gr.Accordion("تصفية حسب المصدر والتاريخ", open=False,
                                  elem_id="daleel-filters"), gr.Row(equal_height=True):
                    outlets = gr.Dropdown(
                        choices=outlet_choices(assistant), value=[], multiselect=True,
                        label="المصادر (الكل إن تُركت فارغة)", elem_id="daleel-sources",
                        scale=2, min_width=200)
                    since = gr.DateTime(include_time=False, type="string", label="من تاريخ",
                                        elem_id="daleel-since", min_width=150)
                    until = gr.DateTime(include_time=False, type="string", label="إلى تاريخ",
                                        elem_id="daleel-until", min_width=150)
                status = gr.HTML("", elem_id="daleel-feedback-status")
                new = gr.Button("محادثة جديدة", variant="secondary", elem_id="daleel-new",
                                size="sm")
                picked = gr.Examples(examples or EXAMPLES, inputs=box, label="أمثلة على أسئلة")
            with gr.Column(scale=2, min_width=320):
                panel = gr.HTML(
                    render.panel_html(),
                    elem_id="daleel-panel",
                    js_on_load=(STATIC / "cite.js").read_text(encoding="utf-8"),
                )

        # Asking: `hold` shows the question at once (outside the queue), `respond` answers it in
        # the queue, then the focus goes back to the input (it was disabled meanwhile).
        held = {"fn": hold, "inputs": [box, turns], "queue": False, "show_progress": "hidden",
                "outputs": [chat, box, send, asked], "api_visibility": "private"}
        for start in (gr.on([box.submit, send.click], **held),
                      picked.load_input_event.then(**held)):  # an example is asked at once
            start.then(
                respond, inputs=[asked, turns, outlets, since, until], show_progress="hidden",
                outputs=[chat, box, send, panel, turns], api_visibility="private",
            ).then(
                lambda: "", outputs=status, show_progress="hidden", api_visibility="private",
                js="() => { document.querySelector('#daleel-input textarea')?.focus(); }",
            )
        panel.select(open_citation, inputs=turns, outputs=panel, show_progress="hidden",
                     api_visibility="private")
        chat.like(rate, inputs=turns, outputs=status, show_progress="hidden",
                  api_visibility="private")
        reset = {
            "fn": lambda: ([], [], render.panel_html(), ""),
            "outputs": [turns, chat, panel, status], "api_visibility": "private",
        }
        new.click(**reset)
        chat.clear(**reset)  # the chat's own clear button must forget the conversation too
        # outlets as the index served now has them (it may have been rebuilt since start)
        demo.load(lambda: gr.update(choices=outlet_choices(assistant)), outputs=outlets,
                  queue=False, show_progress="hidden", api_visibility="private")
        api.add_endpoints(assistant)
    demo.queue(default_concurrency_limit=concurrency, max_size=256)
    return demo


def outlet_choices(assistant: Assistant) -> list[tuple[str, str]]:
    """(shown name, source code) of every outlet in the index, most articles first."""
    return [(f"{render.outlet_name(code)} ({count:,})", code)
            for code, count in assistant.facets().sources.items() if code]


def _day(value: Any) -> str | None:
    """A DateTime field's value as an ISO day ('' and None: no bound)."""
    if value in (None, ""):
        return None
    return str(value).strip()[:10] if re.match(r"^\d{4}-\d{2}-\d{2}", str(value)) else str(value)
