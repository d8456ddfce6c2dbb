"""A sharded index answers as the unsharded one: same candidates, scores, ranking, filters and
follow-ups; a missing shard makes a partial answer; shards reload and check their model alone."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from index import shards, store
from index.build import build_index
from qa.assistant import Assistant
from qa.records import Answer
from qa.shards import Fanout, LocalShards
from tests.conftest import QUESTIONS, REPO, FakeEncoder, write_corpus
from tests.conftest import fake_assistant as bot


def listing(hits) -> list[tuple[str, int, int]]:
    return [(h.article_id, h.start, h.end) for h in hits]


@pytest.mark.parametrize("n", [2, 3])
def test_sharded_search_equals_the_unsharded_index(indexes, n) -> None:
    one, split = bot(indexes / "one"), bot(indexes / f"split{n}")
    assert split.sharded and not one.sharded
    # The unsharded index is exact here (a flat FAISS index): brute force over its vectors.
    data = one.data
    qvec = FakeEncoder().encode_queries([QUESTIONS[0]])[0]
    _, rows = data.dense.search(qvec[None], 5)
    assert rows[0].tolist() == np.argsort(-(np.asarray(data.vectors) @ qvec),
                                          kind="stable")[:5].tolist()
    for q in QUESTIONS:
        expected, got = one.search(q, k=10), split.search(q, k=10)
        assert listing(got) == listing(expected), q
        np.testing.assert_allclose([h.score for h in got], [h.score for h in expected], rtol=1e-5)
    # Every candidate, not only the top (k above the pool returns all): the same set, but for
    # rows tied with the last one taken by score (which of equal scores FAISS or BM25's
    # partition keeps is arbitrary in both).
    retriever, depth = one._current(), one.settings.candidates
    for q in QUESTIONS:
        (mine,), (theirs,) = split._fanout.ranked([q], 1000), retriever.ranked([q], 1000)
        a = {(s.hit.article_id, s.hit.start): s for s in mine}
        b = {(retriever.to_hit(s).article_id, retriever.to_hit(s).start): s for s in theirs}
        dense_cut = sorted((s.dense for s in b.values()), reverse=True)[depth - 1]
        lexical_cut = sorted((s.lexical for s in b.values()), reverse=True)[depth - 1]
        assert len(a) == len(b) and len(set(a) ^ set(b)) <= len(a) // 10
        for key in set(a) ^ set(b):
            s = a.get(key) or b[key]
            assert s.dense <= dense_cut and s.lexical == pytest.approx(lexical_cut), key


def test_filters_follow_ups_and_facets_equal_the_unsharded_index(indexes) -> None:
    one, split = bot(indexes / "one"), bot(indexes / "split3")
    for q in QUESTIONS[:4]:
        kw = {"sources": ["cnn"], "since": "2018-02-01", "until": "2018-07-31"}
        got = split.search(q, k=5, **kw)
        assert listing(got) == listing(one.search(q, k=5, **kw))
        assert got and all(h.source == "cnn" and "2018-02" <= h.date <= "2018-07-31" for h in got)
    first = one.ask(QUESTIONS[0])
    assert first.citations
    for asked in ("ومتى يبدأ؟", "وكم شركة تشارك؟"):
        a, b = one.ask(asked, history=[first]), split.ask(asked, history=[first])
        assert listing(b.citations or b.related) == listing(a.citations or a.related)
        assert a.query == b.query != asked  # read as a follow-up of the first question
    assert split.facets() == one.facets()
    some = one.data.articles[5]
    assert split.article(some.id) == some and split.article("no-such-id") is None


class OneShardDown(LocalShards):
    """Shard ``down`` gives no answer, as a dead or restarting Ray actor does."""

    def __init__(self, searchers, down: int) -> None:
        super().__init__(searchers)
        self.down = down

    def call(self, method, *args):
        out = super().call(method, *args)
        out[self.down] = None
        return out


def test_a_missing_shard_makes_answers_partial_and_leaves_its_articles_out(indexes) -> None:
    split = bot(indexes / "split2")
    full = split.ask(QUESTIONS[0])
    assert isinstance(full, Answer) and not full.partial
    assert full.to_dict()["partial"] is False
    group = split._fanout.shards
    split._fanout = Fanout(OneShardDown(group.searchers, 1), split.encoder.encode_queries,
                           split.settings)
    partial = split.ask(QUESTIONS[0])
    assert partial.partial and partial.to_dict()["partial"] is True
    hits = split.search(QUESTIONS[0], k=10)
    assert hits and all(shards.shard_of(h.article_id, 2) == 0 for h in hits)
    alone = bot(indexes / "split2" / "shard-0").search(QUESTIONS[0], k=10)
    assert {h.article_id for h in hits} <= {h.article_id for h in alone} | {
        h.article_id for h in split.search(QUESTIONS[0], k=100)}
    assert split.facets().articles == len(store.load(indexes / "split2" / "shard-0").articles)


def test_shards_reload_on_their_own_and_refuse_another_model(indexes, tmp_path) -> None:
    src = tmp_path / "one"
    shutil.copytree(indexes / "one", src)
    shards.split(src, tmp_path / "split", 2)
    served = Assistant(tmp_path / "split", FakeEncoder(), check_every=0.0)
    before = {d.name: store.current_generation(d).name
              for d in shards.shard_dirs(tmp_path / "split")}
    write_corpus(tmp_path / "more.jsonl", n=4, prefix="m")
    build_index([indexes / "news.jsonl", tmp_path / "more.jsonl"], src, encoder=FakeEncoder())
    shards.split(src, tmp_path / "split", 2)  # a new generation in each shard
    after = {d.name: store.current_generation(d).name
             for d in shards.shard_dirs(tmp_path / "split")}
    assert all(before[k] != after[k] for k in before)
    assert served.article("m001") is None
    assert served.reload()
    assert served.article("m001") is not None and served.facets().articles == 34
    with pytest.raises(shards.ShardLayoutError, match="already holds 2 shards"):
        shards.split(src, tmp_path / "split", 3)
    with pytest.raises(store.IndexModelMismatchError, match="fingerprint"):
        Assistant(tmp_path / "split", FakeEncoder("another-model"), watch=False)


def test_ray_shard_actors_answer_as_in_process_and_a_killed_one_comes_back(indexes, tmp_path):
    pytest.importorskip("ray", reason='Ray is an extra: pip install -e ".[cluster]"')
    run = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "loopback_only.py"), sys.executable, "-m",
         "tests.qa.shard_cases", str(indexes / "split2"), str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    if run.returncode and "cannot make a network namespace" in run.stderr:
        pytest.skip(run.stderr.strip())
    assert run.returncode == 0, run.stderr[-4000:]
    got = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    local = bot(indexes / "split2")._fanout.ranked(QUESTIONS, 10)
    expected = [[[s.hit.article_id, s.hit.start, s.hit.end] for s in r] for r in local]
    assert got["before"] == expected and got["missing_before"] == []
    assert not got["errors"]  # no request failed while the shard was down
    assert [0] in got["outage"]  # partial answers, from the other shard, while it was down
    assert got["outage"][-1] == [] and got["after"] == expected and got["missing_after"] == []
    assert got["pids_after"][0] != got["pids"][0]  # Ray restarted it in a new process
