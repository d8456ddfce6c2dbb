"""Reader feedback on answers, appended as JSON lines to a local file."""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from qa import Answer

logger = logging.getLogger(__name__)

Verdict = Literal["useful", "not_useful"]


def default_feedback_path() -> Path:
    """``$XDG_DATA_HOME/daleel/feedback.jsonl`` (``~/.local/share/daleel/feedback.jsonl``)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "daleel" / "feedback.jsonl"


class FeedbackLog:
    """One JSON object per line: ``{time, question, answer, answered, citations, feedback}``,
    plus ``user`` when the chat has logins.

    Each record is written with a single ``write`` under a lock, so concurrent sessions never
    interleave lines. Text is stored as UTF-8 (``ensure_ascii=False``): Arabic stays readable.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def record(self, answer: Answer, feedback: Verdict, user: str | None = None) -> dict:
        """Append one rating; ``user`` is the logged-in user's name, when the chat has logins."""
        if feedback not in ("useful", "not_useful"):
            raise ValueError(f"feedback must be 'useful' or 'not_useful', got {feedback!r}")
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "question": answer.question,
            "answer": answer.text,
            "answered": answer.answered,
            "citations": [c.to_dict() for c in answer.citations],
            "feedback": feedback,
        }
        if user:
            entry["user"] = user
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(line)
        logger.info("Feedback %s recorded in %s", feedback, self.path)
        return entry
