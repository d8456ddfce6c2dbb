"""The daleel command: build with progress and summary, ask (text and JSON), clean errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from daleel_cli import main
from tests.conftest import REPO, SEED_ID, SEEDS

pytestmark = pytest.mark.slow


def test_build_then_ask_json(tmp_path, capsys) -> None:
    index_dir = tmp_path / "idx"
    (tmp_path / "broken.txt").write_bytes(b"\x00\x01\x02binary")
    (tmp_path / "bad.jsonl").write_text("{not json\n", encoding="utf-8")
    inputs = [str(SEEDS), str(tmp_path / "broken.txt"), str(tmp_path / "bad.jsonl")]
    assert main(["build", *inputs, "--index", str(index_dir)]) == 0
    out, err = capsys.readouterr()
    assert "articles 1" in out and "sentences 20" in out
    # skipped inputs are listed with their place (file, or file:line) once, then the reason
    assert f"{tmp_path / 'broken.txt'}: " in out and "binary" in out
    assert out.count(f"{tmp_path / 'bad.jsonl'}:1") == 1 and "invalid JSON" in out
    assert "embedding" in err  # the progress bar
    assert main(["ask", "كم عدد الجنود غير الأمريكيين في العراق؟", "--index", str(index_dir),
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["answered"] is True
    cite = result["citations"][0]
    text = (SEEDS / f"{SEED_ID}.txt").read_text(encoding="utf-8")
    assert cite["article_id"] == SEED_ID and text[cite["start"] : cite["end"]] == cite["sentence"]
    assert "2400" in cite["sentence"]


def test_errors_are_one_line_with_exit_code(tmp_path, capsys) -> None:
    assert main(["ask", "سؤال", "--index", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("daleel: error: No index at") and "daleel build" in err
    assert main(["build", str(tmp_path / "missing-folder"), "--index", str(tmp_path / "i")]) == 2
    assert "missing-folder" in capsys.readouterr().err


def test_python_dash_m_runs_the_cli() -> None:
    done = subprocess.run([sys.executable, "-m", "qa", "--help"], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0
    for command in ("build", "ask", "serve", "eval"):
        assert command in done.stdout


def test_a_build_prints_no_library_debug_lines(tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "qa", "build", str(SEEDS), "--index", str(tmp_path / "idx"),
         "--backend", "torch"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "articles 1" in done.stdout
    assert "DEBUG" not in done.stderr  # no library's debug lines


def test_an_undecodable_question_is_a_clear_error(tmp_path) -> None:
    done = subprocess.run([sys.executable, "-m", "qa", "ask", b"\xff", "--index",
                           str(tmp_path / "none")], cwd=REPO, capture_output=True, timeout=60)
    err = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 2 and "Traceback" not in err
    assert err.startswith("daleel: error: The question holds a character that is not valid text")


def test_verify_reports_intact_and_damaged_indexes(tmp_path, capsys) -> None:
    from index import store
    from index.build import build_index
    from tests.conftest import FakeEncoder

    index_dir = tmp_path / "idx"
    build_index([SEEDS], index_dir, encoder=FakeEncoder())
    assert main(["verify", "--index", str(index_dir)]) == 0
    assert "is intact" in capsys.readouterr().out
    gen = store.current_generation(index_dir)
    segment = json.loads((gen / "manifest.json").read_text())["segments"][0]["name"]
    with open(index_dir / "segments" / segment / "dense.faiss", "r+b") as fh:
        fh.seek(200)
        fh.write(b"\x00\x11\x22")
    assert main(["verify", "--index", str(index_dir)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("daleel: damaged:") and "dense.faiss does not match" in err


def test_search_info_and_filters_from_the_command_line(tmp_path, capsys) -> None:
    news = [
        {"id": "b1", "src": "bbc", "time": "Fri, 06 Apr 2018 16:20:45 +0400", "title": "النفط",
         "text": "ارتفعت أسعار النفط اليوم. وقال محللون إن الطلب زاد."},
        {"id": "c1", "src": "cnn", "time": "2018-05-02", "title": "النفط في مايو",
         "text": "تراجعت أسعار النفط في مايو. وتوقع خبراء استقرار السوق."},
    ]
    (tmp_path / "news.jsonl").write_text(
        "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in news), encoding="utf-8")
    index = ["--index", str(tmp_path / "idx")]
    assert main(["build", str(tmp_path / "news.jsonl"), *index]) == 0
    capsys.readouterr()
    assert main(["info", *index, "--json"]) == 0
    facets = json.loads(capsys.readouterr().out)
    assert facets["sources"] == {"bbc": 1, "cnn": 1} and facets["articles"] == 2
    assert (facets["first_day"], facets["last_day"]) == ("2018-04-06", "2018-05-02")
    assert main(["search", "أسعار النفط", *index, "-k", "3", "--json", "--source", "cnn"]) == 0
    hits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(hits) == 2 and {h["article_id"] for h in hits} == {"c1"}
    assert main(["search", "أسعار النفط", *index, "--json", "--until", "2018-04-30"]) == 0
    assert {json.loads(x)["article_id"] for x in capsys.readouterr().out.splitlines()} == {"b1"}
    assert main(["ask", "ماذا حدث لأسعار النفط؟", *index, "--since", "أمس"]) == 2
    assert "year-month-day" in capsys.readouterr().err
    # The same index in two shards answers the same, and says what each shard holds.
    sharded = ["--index", str(tmp_path / "sharded")]
    assert main(["shard", str(tmp_path / "idx"), "--shards", "2", "--out", sharded[1]]) == 0
    assert "nothing embedded" in capsys.readouterr().out
    assert main(["verify", *sharded]) == 0
    assert capsys.readouterr().out.count("is intact") == 2
    assert main(["info", *sharded, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["sources"] == facets["sources"]
    found = []
    for where in (index, sharded):
        assert main(["search", "أسعار النفط", *where, "-k", "4", "--json"]) == 0
        found.append([(h["article_id"], h["start"]) for h in map(
            json.loads, capsys.readouterr().out.splitlines())])
    assert len(found[0]) == 4 and found[0] == found[1]
