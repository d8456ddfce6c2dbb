"""Hostile and broken input through the whole build: every file gets a defined outcome."""

from __future__ import annotations

import codecs

from index import store
from index.build import build_index
from tests.conftest import FakeEncoder


def test_hostile_corpus_builds_and_reports_every_skip(tmp_path) -> None:
    c = tmp_path / "corpus"
    c.mkdir()
    (c / "bad-utf8.txt").write_bytes(b"broken \xff\xfa \x80\x81 bytes \xc3\x28 more")
    utf16 = "عنوان\nنص عربي بترميز آخر.".encode("utf-16-le")
    (c / "utf16.txt").write_bytes(codecs.BOM_UTF16_LE + utf16)
    (c / "empty.txt").write_text("")
    (c / "binary.txt").write_bytes(bytes(range(256)) * 20)
    (c / "html.txt").write_text(
        "خبر فيه وسوم\n<script>alert(1)</script> <img src=x onerror=alert(2)> نص.", "utf-8"
    )
    (c / "controls.txt").write_text("عنوان\u202e مقلوب\nنص\x07 فيه \u200f تحكم.", "utf-8")
    (c / "long-line.txt").write_text("سطر طويل " * 12_000, "utf-8")
    (c / "big.txt").write_text(("جملة عادية في مقال كبير جدا. " * 180_000), "utf-8")
    (c / "broken.jsonl").write_text('{"id": "ok", "text": "نص سليم."}\n{"id": oops\n', "utf-8")
    report = build_index([c], tmp_path / "idx", encoder=FakeEncoder())
    skipped = {s.path.split("/")[-1].split(":")[0]: s.reason for s in report.skipped}
    assert set(skipped) == {"bad-utf8.txt", "empty.txt", "binary.txt", "broken.jsonl"}
    assert all(reason for reason in skipped.values())
    data = store.load(tmp_path / "idx")
    ids = {a.id for a in data.articles}
    assert {"utf16", "html", "controls", "long-line", "big", "ok"} <= ids
    assert any("UTF-16" in w for w in report.warnings)
    for row in range(len(data.sentences)):
        a, s, e = data.sentences.span(row)
        assert data.articles[a].text[s:e] == data.sentence_text(row)
        assert 0 < e - s <= 600
