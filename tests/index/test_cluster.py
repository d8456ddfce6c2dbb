"""Builds on a Ray cluster equal single-process builds, survive a killed worker, resume.

The Ray builds run in one subprocess (tests/index/cluster_cases.py) on a local two-CPU
cluster inside a loopback-only network namespace; this module compares what they wrote with
single-process builds of the same corpus.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from index import build, cluster
from index.build import build_index
from tests.conftest import REPO, FakeEncoder
from tests.index.test_build import assert_same_index, write_corpus

ray = pytest.importorskip("ray", reason='Ray is an extra: pip install -e ".[cluster]"')


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster")
    corpus, extra, out = root / "corpus", root / "extra", root / "out"
    write_corpus(corpus, n=6)
    shutil.copy(REPO / "seeds" / next(p.name for p in (REPO / "seeds").iterdir()), corpus)
    write_corpus(extra, n=2, prefix="x")
    out.mkdir()
    local = root / "local"
    for name, paths in (("plain", [corpus]), ("both", [corpus, extra])):
        build_index(paths, local / name, encoder=FakeEncoder())
    run = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "loopback_only.py"), sys.executable, "-m",
         "tests.index.cluster_cases", str(corpus), str(extra), str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    if run.returncode and "cannot make a network namespace" in run.stderr:
        pytest.skip(run.stderr.strip())
    assert run.returncode == 0, run.stderr[-4000:]
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    # What the last case did to the corpus, done on one machine: edit, then update.
    shutil.copytree(local / "plain", local / "updated")
    local_update = build_index([corpus], local / "updated", encoder=FakeEncoder())
    return results, out, local, local_update


def test_a_cluster_build_equals_the_single_process_build(cases) -> None:
    results, out, local, _ = cases
    assert results["plain"]["workers"] == 2 and results["plain"]["lost"] == 0
    assert_same_index(out / "plain", local / "plain")  # articles, offsets, texts, vectors


def test_a_worker_killed_mid_build_costs_a_retry_not_a_sentence(cases) -> None:
    results, out, local, _ = cases
    killed = results["killed"]
    assert killed["lost"] >= 1 and killed["resent"] >= 1  # kill -9 of a worker process happened
    assert_same_index(out / "killed", local / "plain")  # nothing lost, nothing doubled
    assert killed["sentences"] == results["plain"]["sentences"]


def test_an_update_on_the_cluster_embeds_only_the_change(cases) -> None:
    results, out, local, local_update = cases
    updated = results["updated"]
    assert updated["changed"] == 1 and updated["added"] == 0
    assert updated["embedded"] == local_update.embedded == 1  # the one new sentence
    assert_same_index(out / "updated", local / "updated")


def test_a_failed_cluster_build_leaves_the_index_live_and_the_rerun_resumes(cases) -> None:
    results, out, local, _ = cases
    failed, resumed = results["failed"], results["resumed"]
    assert failed["error"] and "Embedding failed on a worker" in failed["error"]
    assert failed["live"] == failed["before"]  # the previous generation stayed live
    assert failed["checkpoints"] >= 1
    # Each checkpoint holds at least one text that the rerun did not embed again.
    assert resumed["reused"] >= failed["checkpoints"] and resumed["embedded"] >= 1
    assert_same_index(out / "resumed", local / "both")
    assert not (out / "resumed" / build.CHECKPOINT_DIR).exists()


def test_without_ray_the_message_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(cluster.ClusterError, match=r"\.\[cluster\]"):
        cluster.RayCluster("auto")


def test_cli_without_ray_exits_with_the_install_hint(monkeypatch, tmp_path, capsys) -> None:
    from daleel_cli.main import main

    monkeypatch.setitem(sys.modules, "ray", None)
    write_corpus(tmp_path / "c", n=1)
    assert main(["build", str(tmp_path / "c"), "--index", str(tmp_path / "i"),
                 "--ray", "auto"]) == 2
    assert '.[cluster]' in capsys.readouterr().err
    assert not (tmp_path / "i").exists()
