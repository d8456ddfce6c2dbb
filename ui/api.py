"""The chat server's endpoints for other programs (gradio_client), stable by name.

``/ask`` (question, sources, since, until) returns :meth:`qa.Answer.to_dict`; ``/search``
(question, k, sources, since, until) returns a list of :meth:`qa.Hit.to_dict`. The chat page's
own events are private, so these two are the whole documented API (``/gradio_api/info``).
"""

from __future__ import annotations

import gradio as gr

from qa import Assistant, QuestionError
from qa.filters import FilterError


def add_endpoints(assistant: Assistant) -> None:
    """Add ``/ask`` and ``/search`` to the Blocks being built."""

    def api_ask(question: str, sources: list[str] | None = None, since: str | None = None,
                until: str | None = None) -> dict:
        """Answer by quoting the indexed articles (or decline); filters as in daleel ask."""
        try:
            return assistant.ask(question, sources=sources or None, since=since or None,
                                 until=until or None).to_dict()
        except (QuestionError, FilterError) as exc:
            raise gr.Error(exc.english) from None

    def api_search(question: str, k: int = 5, sources: list[str] | None = None,
                   since: str | None = None, until: str | None = None) -> list[dict]:
        """The k sentences most likely to answer the question, best first."""
        try:
            hits = assistant.search(question, int(k), sources=sources or None,
                                    since=since or None, until=until or None)
        except ValueError as exc:  # QuestionError, FilterError, or a bad k
            raise gr.Error(getattr(exc, "english", str(exc))) from None
        return [h.to_dict() for h in hits]

    gr.api(api_ask, api_name="ask")
    gr.api(api_search, api_name="search")
