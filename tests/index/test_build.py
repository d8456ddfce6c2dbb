"""Incremental, resumable, crash-safe builds (with a fake encoder: fast and deterministic)."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

import numpy as np
import pytest

from index import build, dense, store
from index.build import build_index
from qa import Assistant
from tests.conftest import REPO, FakeEncoder

TOPICS = ["الجنود", "النفط", "الانتخابات", "الكرة", "الطقس", "الاقتصاد", "المطر", "البرلمان"]


def write_corpus(folder: Path, n: int = 8, *, edit: str = "", prefix: str = "a") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        body = "\n".join(
            f"الجملة رقم {j} عن {topic} في المقال {prefix}{i}{edit if (i, j) == (2, 1) else ''}."
            for j in range(12)
        )
        boiler = "تابعونا على وسائل التواصل الاجتماعي."
        (folder / f"{prefix}{i:02d}.txt").write_text(f"خبر عن {topic} {i}\n{body}\n{boiler}\n",
                                                     "utf-8")


def snapshot(index_dir: Path) -> dict[str, tuple]:
    """Per article id: the article, its rows (start, end), the hashes of the texts embedded
    for them and their vectors: what a build decides, whatever the order of its segments."""
    data = store.load(index_dir)
    out = {}
    for a, art in enumerate(data.articles):
        rows = np.flatnonzero(data.sentences.article == a)
        out[art.id] = (art, data.sentences.array[rows, 1:].tolist(), data.hashes[rows].tolist(),
                       np.asarray(data.vectors[rows]))
    return out


def spans(index_dir: Path) -> dict[str, list]:
    return {k: v[1] for k, v in snapshot(index_dir).items()}


def assert_same_index(a: Path, b: Path) -> None:
    """Same articles, rows, embedded texts and vectors. Article.path is left out: it says where
    an article was read first, and an unchanged article keeps it (index.changes)."""
    x, y = snapshot(a), snapshot(b)
    assert sorted(x) == sorted(y)
    for key in x:
        assert dataclasses.replace(x[key][0], path="") == dataclasses.replace(y[key][0], path="")
        assert x[key][1:3] == y[key][1:3], key
        np.testing.assert_array_equal(x[key][3], y[key][3])


def test_incremental_rebuild_equals_full_rebuild(tmp_path) -> None:
    corpus, enc = tmp_path / "corpus", FakeEncoder()
    write_corpus(corpus)
    first = build_index([corpus], tmp_path / "idx", encoder=enc)
    assert first.reused == 0 and first.embedded == first.distinct_texts
    # Edit one article, add one, delete one.
    write_corpus(corpus, edit=" معدلة")
    (corpus / "a05.txt").unlink()
    (corpus / "new.txt").write_text("خبر جديد تماما\nسطر جديد عن الفضاء.\n", "utf-8")
    second = build_index([corpus], tmp_path / "idx", encoder=enc)
    assert second.embedded == 3  # the edited sentence, and the new article's two sentences
    build_index([corpus], tmp_path / "full", encoder=FakeEncoder())
    assert_same_index(tmp_path / "idx", tmp_path / "full")
    assert not (tmp_path / "idx" / build.CHECKPOINT_DIR).exists()


def test_boilerplate_is_embedded_once(tmp_path) -> None:
    corpus, enc = tmp_path / "corpus", FakeEncoder()
    write_corpus(corpus)
    report = build_index([corpus], tmp_path / "idx", encoder=enc)
    assert report.sentences == 8 * 14
    assert report.distinct_texts == 8 * 13 + 1
    assert sum(enc.calls) == report.distinct_texts


def test_unchanged_rebuild_embeds_nothing_and_other_model_reembeds(tmp_path) -> None:
    corpus = tmp_path / "corpus"
    write_corpus(corpus)
    build_index([corpus], tmp_path / "idx", encoder=FakeEncoder())
    again = build_index([corpus], tmp_path / "idx", encoder=FakeEncoder())
    assert again.embedded == 0
    other = build_index([corpus], tmp_path / "idx", encoder=FakeEncoder("another-model"))
    assert other.embedded == other.distinct_texts


def test_an_encoder_the_build_makes_is_freed_before_the_dense_build(tmp_path, monkeypatch) -> None:
    corpus, made = tmp_path / "corpus", []
    write_corpus(corpus)

    def make() -> FakeEncoder:
        made.append(weakref.ref(enc := FakeEncoder()))
        return enc

    alive_at_dense = []
    real_make = dense.make
    monkeypatch.setattr(
        dense, "make",
        lambda v, kind: alive_at_dense.append(made[0]() is not None) or real_make(v, kind))
    report = build_index([corpus], tmp_path / "idx", encoder=make)
    assert report.embedded == report.distinct_texts and alive_at_dense == [False]


class InterruptingEncoder(FakeEncoder):
    def __init__(self, after_batches: int) -> None:
        super().__init__()
        self.after = after_batches

    def encode_passages(self, texts):
        if len(self.calls) == self.after:
            raise KeyboardInterrupt
        return super().encode_passages(texts)


def test_interrupted_build_resumes_from_checkpoints(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(build, "CHECKPOINT_EVERY", 10)
    corpus = tmp_path / "corpus"
    write_corpus(corpus)
    build_index([corpus], tmp_path / "idx", encoder=FakeEncoder())
    old = snapshot(tmp_path / "idx")
    write_corpus(corpus, n=16)
    with pytest.raises(KeyboardInterrupt):
        build_index([corpus], tmp_path / "idx", encoder=InterruptingEncoder(after_batches=3))
    assert spans(tmp_path / "idx") == {k: v[1] for k, v in old.items()}  # old index still live
    resumed = build_index([corpus], tmp_path / "idx", encoder=FakeEncoder())
    new_texts = 8 * 13  # articles 8..15, boilerplate already known
    assert resumed.embedded == new_texts - 30  # three checkpointed batches of 10 kept
    build_index([corpus], tmp_path / "full", encoder=FakeEncoder())
    assert_same_index(tmp_path / "idx", tmp_path / "full")


@pytest.mark.parametrize("delay", [0.0, 0.3, 0.6, 0.9, 1.2, 1.6])
def test_sigkill_at_any_moment_leaves_a_loadable_correct_index(tmp_path, delay) -> None:
    small, big = tmp_path / "small", tmp_path / "big"
    write_corpus(small, n=2)
    write_corpus(big, n=40, prefix="b")
    index_dir = tmp_path / "idx"
    build_index([small], index_dir, encoder=FakeEncoder())
    expected = {"small": spans(index_dir)}
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.index.slow_build", str(big), str(index_dir)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    loaded = spans(index_dir)
    # An update of `big` adds to what `small` holds (another source): both, as a full build.
    build_index([small, big], tmp_path / "both", encoder=FakeEncoder())
    expected["both"] = spans(tmp_path / "both")
    assert loaded in (expected["small"], expected["both"])
    bot = Assistant(index_dir, FakeEncoder(), watch=False)
    assert bot.search("الجنود في المقال", k=3)
    # And the next build completes, reusing whatever the killed one checkpointed.
    build_index([big], index_dir, encoder=FakeEncoder())
    assert_same_index(index_dir, tmp_path / "both")


def live_segment(index_dir: Path) -> Path:
    manifest = json.loads((store.current_generation(index_dir) / "manifest.json").read_text())
    return index_dir / "segments" / manifest["segments"][-1]["name"]


def test_corrupt_and_foreign_indexes_give_clear_errors(tmp_path) -> None:
    corpus = tmp_path / "corpus"
    write_corpus(corpus, n=2)
    index_dir = tmp_path / "idx"
    with pytest.raises(store.IndexMissingError, match="daleel build"):
        store.load(index_dir)
    build_index([corpus], index_dir, encoder=FakeEncoder())
    gen = store.current_generation(index_dir)
    manifest = json.loads((gen / "manifest.json").read_text())
    manifest["format_version"] = 999
    (gen / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(store.IndexFormatError, match="format version 999.*daleel build"):
        store.load(index_dir)
    report = build_index([corpus], index_dir, encoder=FakeEncoder())
    assert any("format version 999" in w and "anew" in w for w in report.warnings)
    with open(live_segment(index_dir) / "vectors.npy", "r+b") as fh:
        fh.truncate(100)
    with pytest.raises(store.IndexCorruptError, match="missing or truncated.*daleel build"):
        store.load(index_dir)
    # Rebuilding, as the message says, replaces the damaged segment.
    build_index([corpus], index_dir, encoder=FakeEncoder())
    assert len(store.load(index_dir).articles) == 2
    faiss_file = live_segment(index_dir) / "dense.faiss"
    faiss_file.write_bytes(b"\0" * faiss_file.stat().st_size)
    with pytest.raises(store.IndexCorruptError, match="damaged"):
        store.load(index_dir)
    with pytest.raises(store.IndexCorruptError, match="dense.faiss"):
        store.verify(index_dir)
    (store.current_generation(index_dir) / "manifest.json").write_text("{not json")
    with pytest.raises(store.IndexCorruptError, match="manifest"):
        store.load(index_dir)


def test_hot_reload_without_failing_requests(tmp_path) -> None:
    corpus = tmp_path / "corpus"
    write_corpus(corpus, n=2)
    index_dir = tmp_path / "idx"
    build_index([corpus], index_dir, encoder=FakeEncoder())
    bot = Assistant(index_dir, FakeEncoder(), check_every=0.0)
    before = bot.data.generation
    errors: list[Exception] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            try:
                assert bot.search("الجنود", k=3)
            except Exception as exc:  # noqa: BLE001 - any failure fails the test
                errors.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    write_corpus(corpus, n=6)
    build_index([corpus], index_dir, encoder=FakeEncoder())
    deadline = time.monotonic() + 10
    while bot.data.generation == before and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join()
    assert not errors
    assert bot.data.generation != before
    assert len(bot.data.articles) == 6



# --- one build at a time; a full disk (issue 15) -----------------------------------------

HOLD_LOCK = """
import sys
from pathlib import Path
from index import store
with store.build_lock(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.read()
"""


def hold_lock(index_dir: Path) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(index_dir)], cwd=REPO,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_build_fails_at_once_or_waits(tmp_path) -> None:
    corpus, index_dir = tmp_path / "corpus", tmp_path / "idx"
    write_corpus(corpus, n=3)
    holder = hold_lock(index_dir)
    try:
        started = time.monotonic()
        with pytest.raises(store.IndexBusyError, match=rf"pid {holder.pid}\).*--wait"):
            build_index([corpus], index_dir, encoder=FakeEncoder())
        assert time.monotonic() - started < 5
        assert not (index_dir / build.CHECKPOINT_DIR).exists()  # it touched nothing
        done: list = []
        waiting = threading.Thread(target=lambda: done.append(
            build_index([corpus], index_dir, encoder=FakeEncoder(), wait=True)))
        waiting.start()
        time.sleep(1.0)
        assert waiting.is_alive() and not done  # waiting for the holder
    finally:
        holder.stdin.close()
        holder.wait(10)
    waiting.join(60)
    assert done and store.load(index_dir).generation == done[0].generation


def test_a_killed_builds_lock_does_not_block(tmp_path) -> None:
    corpus, index_dir = tmp_path / "corpus", tmp_path / "idx"
    write_corpus(corpus, n=2)
    holder = hold_lock(index_dir)
    holder.kill()
    holder.wait(10)
    assert (index_dir / store.LOCK).read_text().strip() == str(holder.pid)  # stale pid left
    report = build_index([corpus], index_dir, encoder=FakeEncoder())
    assert report.articles == 2


def test_concurrent_builds_both_finish_and_one_is_live(tmp_path) -> None:
    """Two builds started together: one waits for the other; no work of either is pruned."""
    a, b, index_dir = tmp_path / "a", tmp_path / "b", tmp_path / "idx"
    write_corpus(a, n=4)
    write_corpus(b, n=6, prefix="b")
    reports: dict[str, build.BuildReport] = {}
    threads = [threading.Thread(target=lambda p=p: reports.__setitem__(p.name, build_index(
        [p], index_dir, encoder=FakeEncoder(), wait=True))) for p in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert set(reports) == {"a", "b"}
    live = store.load(index_dir)
    last = max(reports.values(), key=lambda r: r.articles)
    assert live.generation == last.generation and len(live.articles) == last.articles == 10
    assert not (index_dir / build.CHECKPOINT_DIR).exists()


def test_out_of_space_while_embedding_removes_the_checkpoints(tmp_path, monkeypatch) -> None:
    import errno

    corpus, index_dir = tmp_path / "corpus", tmp_path / "idx"
    write_corpus(corpus, n=2)
    build_index([corpus], index_dir, encoder=FakeEncoder())
    live = store.current_generation(index_dir)
    write_corpus(corpus, n=8)
    calls = []

    def savez(*args, **kwargs):
        calls.append(1)
        if len(calls) > 1:  # the first checkpoint is written, the second finds the disk full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_savez(*args, **kwargs)

    real_savez = np.savez
    monkeypatch.setattr(build, "CHECKPOINT_EVERY", 16)
    monkeypatch.setattr(np, "savez", savez)
    with pytest.raises(store.IndexSpaceError, match="needs about"):
        build_index([corpus], index_dir, encoder=FakeEncoder())
    assert not (index_dir / build.CHECKPOINT_DIR).exists()
    assert not [p for p in index_dir.iterdir() if p.name.endswith(".tmp")]
    assert store.current_generation(index_dir) == live


def test_a_compact_index_keeps_its_tier_and_finds_what_a_flat_one_finds(tmp_path,
                                                                         monkeypatch) -> None:
    import faiss

    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)  # FAISS's OpenMP threads crawl when other tests hold the cores
    monkeypatch.setattr(dense, "COMPACT_MIN", 300)
    corpus, index_dir = tmp_path / "corpus", tmp_path / "compact"
    write_corpus(corpus, n=30)
    try:
        build_index([corpus], index_dir, encoder=FakeEncoder(), dense="compact")
        build_index([corpus], tmp_path / "flat", encoder=FakeEncoder())

        def tier(path: Path) -> tuple[str, type]:
            seg = live_segment(path)
            manifest = json.loads((seg / "manifest.json").read_text())
            return manifest["settings"]["dense"], np.load(seg / "vectors.npy", mmap_mode="r").dtype

        assert tier(index_dir) == ("compact", np.float16) and tier(tmp_path / "flat")[0] == "flat"
        questions = [f"الجملة رقم {j} عن {TOPICS[i % 8]} في المقال a{i}" for i in range(0, 30, 3)
                     for j in (1, 7)]
        top = {name: [[(h.article_id, h.start) for h in hits] for hits in
                      Assistant(tmp_path / name, FakeEncoder(), watch=False).search_batch(
                          questions, k=1)] for name in ("compact", "flat")}
        assert top["compact"] == top["flat"]
        (corpus / "new.txt").write_text("خبر جديد تماما\nسطر جديد عن الفضاء.\n", "utf-8")
        update = build_index([corpus], index_dir, encoder=FakeEncoder())  # keeps its tier
        assert (update.added, update.rewritten, update.embedded) == (1, 0, 2)
        assert tier(index_dir)[0] == "flat"  # the new two-sentence segment: too small for codes
        build_index([], index_dir, merge_all=True)
        assert tier(index_dir) == ("compact", np.float16)
        # Back to "auto": every article written again into the flat tier, nothing embedded.
        back = build_index([corpus], index_dir, encoder=FakeEncoder(), dense="auto")
        assert back.embedded == 0 and back.articles == 31
        assert tier(index_dir) == ("flat", np.float32)
        with pytest.raises(ValueError, match="dense tier 'tiny'"):
            build_index([corpus], index_dir, encoder=FakeEncoder(), dense="tiny")
    finally:
        faiss.omp_set_num_threads(threads)
