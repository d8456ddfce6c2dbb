"""Feedback is appended as one UTF-8 JSON line per rating."""

from __future__ import annotations

import json
import threading

import pytest

from qa import Answer, Citation
from ui.feedback import FeedbackLog, default_feedback_path


def answer() -> Answer:
    c = Citation("a1", "عنوان", "جملة مقتبسة.", 10, 22, 0.9, number=1)
    return Answer(text="«جملة مقتبسة.» [1]", citations=[c], answered=True, question="سؤال؟")


def test_record_appends_json_lines(tmp_path):
    log = FeedbackLog(tmp_path / "sub" / "feedback.jsonl")
    log.record(answer(), "useful")
    log.record(Answer(text="لا إجابة", question="سؤال آخر؟"), "not_useful")
    raw = log.path.read_text(encoding="utf-8")
    assert "سؤال؟" in raw  # stored as UTF-8, not \\u escapes
    first, second = (json.loads(line) for line in raw.splitlines())
    assert set(first) == {"time", "question", "answer", "answered", "citations", "feedback"}
    assert first["feedback"] == "useful" and first["answered"] is True
    assert first["citations"][0]["sentence"] == "جملة مقتبسة."
    assert first["citations"][0]["start"] == 10 and first["citations"][0]["number"] == 1
    assert second == {**second, "answered": False, "citations": [], "feedback": "not_useful"}


def test_concurrent_records_do_not_interleave(tmp_path):
    log = FeedbackLog(tmp_path / "f.jsonl")
    threads = [threading.Thread(target=log.record, args=(answer(), "useful")) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = log.path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 20 and all(json.loads(line)["feedback"] == "useful" for line in lines)


def test_rejects_unknown_verdict(tmp_path):
    with pytest.raises(ValueError, match="useful"):
        FeedbackLog(tmp_path / "f.jsonl").record(answer(), "meh")  # type: ignore[arg-type]


def test_default_path_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_feedback_path() == tmp_path / "daleel" / "feedback.jsonl"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_feedback_path().parts[-4:] == (".local", "share", "daleel", "feedback.jsonl")
