"""Exports (index/encoder/export.py): made once, complete or absent, never half-used."""

from __future__ import annotations

from pathlib import Path

import pytest

from index.encoder import OPENVINO_INT8, backends, export


class _FakeBackend:
    settings: dict = {}

    def __init__(self, exporter) -> None:
        self.export = exporter


def _export_with(monkeypatch, exporter) -> None:
    monkeypatch.setattr(backends, "implementation", lambda backend: _FakeBackend(exporter))
    monkeypatch.setattr(export, "_versions", lambda backend: {})


def test_interrupted_export_is_never_used(tmp_path: Path, monkeypatch) -> None:
    model = tmp_path / "some-model"
    model.mkdir()
    calls = []

    def exporter(st, out):
        calls.append(out)
        (out / "model.xml").write_text("<net/>")
        return ["input_ids"]

    _export_with(monkeypatch, exporter)
    stale = export.export_dir("f" * 32, OPENVINO_INT8, model, "some-model")
    stale.mkdir()
    (stale / "model.xml").write_text("half")  # no stamp: left by a crash
    folder = export.ensure_export(None, OPENVINO_INT8, source_id="f" * 32, model_path=model)
    assert folder == stale and len(calls) == 1
    assert (folder / "model.xml").read_text() == "<net/>"
    assert export.ensure_export(None, OPENVINO_INT8, source_id="f" * 32, model_path=model)
    assert len(calls) == 1  # reused
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([model.name, folder.name])


def test_failed_export_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    model = tmp_path / "some-model"
    model.mkdir()

    def exporter(st, out):
        (out / "model.xml").write_text("partial")
        raise RuntimeError("disk full")

    _export_with(monkeypatch, exporter)
    with pytest.raises(RuntimeError, match="disk full"):
        export.ensure_export(None, OPENVINO_INT8, source_id="e" * 32, model_path=model)
    assert [p.name for p in tmp_path.iterdir()] == [model.name]
