"""``daleel build`` and ``daleel watch`` argument handling that needs no model (fast)."""

from __future__ import annotations

import json

from daleel_cli.main import main
from index import store
from index.build import build_index
from tests.conftest import FakeEncoder


def test_merge_alone_needs_no_model_and_no_paths(tmp_path, capsys) -> None:
    index_dir = tmp_path / "idx"
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / f"{name}.txt").write_text(f"خبر {name}\nجملة عن {name}.\n", "utf-8")
        build_index([tmp_path / name], index_dir, encoder=FakeEncoder())
    assert len(json.loads((store.current_generation(index_dir) / "manifest.json").read_text())[
        "segments"]) == 2
    assert main(["build", "--merge", "--index", str(index_dir)]) == 0
    out = capsys.readouterr().out
    assert "1 segment)" in out and "merged 2 segments" in out and "articles 2" in out
    assert len(store.load(index_dir).segments) == 1


def test_build_without_paths_or_merge_says_what_to_give(tmp_path, capsys) -> None:
    assert main(["build", "--index", str(tmp_path / "idx")]) == 2
    assert "PATH" in capsys.readouterr().err and not (tmp_path / "idx").exists()


def test_merge_of_no_index_names_the_fix(tmp_path, capsys) -> None:
    assert main(["build", "--merge", "--index", str(tmp_path / "idx")]) == 2
    assert "daleel build CORPUS_PATH" in capsys.readouterr().err


def test_watch_of_a_missing_folder_fails_before_loading_a_model(tmp_path, capsys) -> None:
    assert main(["watch", str(tmp_path / "nowhere"), "--index", str(tmp_path / "idx")]) == 2
    assert "does not exist" in capsys.readouterr().err
