"""Live updates (issue 17): segments, tombstones, merges, against a fresh full build.

Every test compares a segmented index with a full build of the same articles into another
directory: the same top-5 hits with the same scores, and the same BM25 score, bit for bit, of
every sentence.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from index import merge, store
from index.build import build_index
from index.merge import Sized
from index.watch import Watcher
from qa import Assistant
from tests.conftest import REPO, FakeEncoder
from tests.index.test_build import assert_same_index

BOILER = "تابعونا على وسائل التواصل الاجتماعي."
ARCHIVE = [  # (id, title, body sentences), source bbc, dated March 2018
    ("oil", "أسعار النفط", ["ارتفع سعر برميل النفط إلى 70 دولارا يوم الاثنين.",
                            "وقال وزير الطاقة إن الإنتاج سيزيد الشهر المقبل."]),
    ("cup", "نهائي الكأس", ["فاز النادي الأهلي بالمباراة النهائية بهدفين مقابل هدف.",
                            "وسجل المهاجم هدف الفوز في الدقيقة التسعين."]),
    ("rain", "طقس ممطر", ["توقعت الأرصاد أمطارا غزيرة على المناطق الساحلية.",
                          "وحذرت من سيول في الأودية مساء الخميس."]),
    ("vote", "الانتخابات", ["تبدأ الانتخابات البرلمانية في الأول من مايو.",
                            "ويتنافس فيها أكثر من ألف مرشح على مئة مقعد."]),
    ("nile", "نهر النيل", ["يبلغ طول نهر النيل 6650 كيلومترا.",
                           "ويصب النيل في البحر المتوسط شمال مصر."]),
    ("coffee", "القهوة", ["تعد البرازيل أكبر دولة منتجة للقهوة في العالم.",
                          "وتأتي فيتنام في المرتبة الثانية."]),
    ("mars", "مسبار المريخ", ["أطلقت الوكالة المسبار إلى المريخ في شهر يوليو.",
                              "ويحمل المسبار أجهزة لدراسة الغلاف الجوي."]),
    ("bank", "البنك المركزي", ["رفع البنك المركزي سعر الفائدة ربع نقطة.",
                               "وقال المحافظ إن التضخم تراجع إلى خمسة في المئة."]),
]
NEWS = [  # source cnn, dated April 2018
    ("water", "تحلية المياه", ["افتتحت محطة لتحلية المياه في مدينة العقبة.",
                               "وتنتج المحطة مئة ألف متر مكعب يوميا."]),
    ("quake", "زلزال", ["بلغت قوة الزلزال ست درجات على مقياس ريختر.",
                        "ولم ترد أنباء عن إصابات في القرى القريبة."]),
    ("games", "الألعاب الأولمبية", ["حصد المنتخب ثلاث ميداليات ذهبية في الألعاب الأولمبية.",
                                    "وكانت الميدالية الأولى في السباحة."]),
]
QUESTIONS = ["كم بلغ سعر برميل النفط؟", "من فاز بالمباراة النهائية؟",
             "متى تبدأ الانتخابات البرلمانية؟", "أين يصب نهر النيل؟",
             "ما هي أكبر دولة منتجة للقهوة؟", "متى أطلق المسبار إلى المريخ؟",
             "كم بلغت قوة الزلزال؟", "أين افتتحت محطة تحلية المياه؟", "سعر الفائدة والتضخم"]


def record(item: tuple, source: str, day: int, boiler: bool = True) -> dict:
    article_id, title, body = item
    text = "\n".join([title, *body, *([BOILER] if boiler else [])])
    month = "03" if source == "bbc" else "04"
    return {"id": article_id, "title": title, "text": text, "source": source,
            "date": f"2018-{month}-{day:02d}"}


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), "utf-8")


@pytest.fixture
def corpus(tmp_path: Path) -> tuple[Path, Path]:
    """``archive/`` (one JSONL file, bbc) and ``news/`` (one file per article, cnn)."""
    archive, news = tmp_path / "archive", tmp_path / "news"
    write_jsonl(archive / "2018-03.jsonl", [record(a, "bbc", i + 1)
                                            for i, a in enumerate(ARCHIVE)])
    for i, item in enumerate(NEWS):
        write_jsonl(news / f"{item[0]}.jsonl", [record(item, "cnn", i + 1)])
    return archive, news


def build(paths: list[Path], index_dir: Path, **kwargs):
    return build_index(paths, index_dir, encoder=FakeEncoder(), **kwargs)


def results(index_dir: Path, **filters) -> list[list[tuple]]:
    bot = Assistant(index_dir, FakeEncoder(), watch=False)
    return [[(h.article_id, h.start, h.end, h.score) for h in hits]
            for hits in bot.search_batch(QUESTIONS, k=5, **filters)]


def bm25(index_dir: Path) -> dict[tuple, np.float32]:
    """Every sentence's BM25 score for every question, by (question, article id, start)."""
    data = store.load(index_dir)
    out = {}
    for q in QUESTIONS:
        scores = data.lexical.scores(q)
        for row in np.flatnonzero(scores):
            art, start, _ = data.sentences.span(int(row))
            out[q, data.articles[art].id, start] = scores[row]
    return out


def assert_same_hits(got: list[list[tuple]], want: list[list[tuple]]) -> None:
    """The same sentences in the same order; scores equal to float32 rounding (a dense score
    is a BLAS product, whose rounding depends on the shape of the matrices multiplied)."""
    assert sentences(got) == sentences(want)
    np.testing.assert_allclose([h[3] for hits in got for h in hits],
                               [h[3] for hits in want for h in hits], rtol=0, atol=1e-4)


def sentences(found: list[list[tuple]]) -> list[list[tuple]]:
    return [[h[:3] for h in hits] for hits in found]


def assert_same_results(index_dir: Path, fresh: Path) -> None:
    assert_same_hits(results(index_dir), results(fresh))
    got, want = bm25(index_dir), bm25(fresh)
    assert got.keys() == want.keys()
    assert all(got[k] == want[k] for k in want)  # exactly: global statistics, not estimates
    assert_same_index(index_dir, fresh)


def segments_of(index_dir: Path) -> tuple[list[dict], dict]:
    gen = store.current_generation(index_dir)
    manifest = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    return manifest["segments"], json.loads((gen / "tombstones.json").read_text("utf-8"))


def edit_archive(archive: Path) -> None:
    """Change ``oil``, delete ``rain``, add ``ports`` to the archive file."""
    records = [record(a, "bbc", i + 1) for i, a in enumerate(ARCHIVE) if a[0] != "rain"]
    records[0]["text"] = records[0]["text"].replace("70 دولارا", "85 دولارا")
    records.append(record(("ports", "الموانئ", ["وصلت سفينة الحاويات إلى ميناء جدة."]),
                          "bbc", 20))
    write_jsonl(archive / "2018-03.jsonl", records)


def test_updates_write_segments_and_search_equals_a_full_build(tmp_path, corpus) -> None:
    archive, news = corpus
    index_dir = tmp_path / "idx"
    first = build([archive], index_dir)
    assert (first.added, first.segments) == (8, 1)
    second = build([news], index_dir)  # another source: the archive is kept
    assert (second.added, second.unchanged, second.removed, second.articles) == (3, 0, 0, 11)
    assert second.written == sum(len(n[2]) + 2 for n in NEWS) and second.segments == 2
    edit_archive(archive)
    third = build([archive], index_dir)
    assert (third.added, third.changed, third.removed, third.unchanged) == (1, 1, 1, 6)
    assert third.embedded == 3  # the edited sentence; the new article's headline and sentence
    segs, dead = segments_of(index_dir)
    assert len(segs) == 3 and segs[2]["articles"] == 2  # the new segment: oil (changed), ports
    assert dead == {segs[0]["name"]: [0, 2]}  # oil's and rain's old rows
    build([archive, news], tmp_path / "fresh")
    assert_same_results(index_dir, tmp_path / "fresh")
    bot = Assistant(index_dir, FakeEncoder(), watch=False)
    assert bot.article("rain") is None and "85 دولارا" in bot.article("oil").text
    assert all(h.article_id != "rain" for h in bot.search("أمطار غزيرة سيول", k=10))
    again = build([archive], index_dir)  # nothing changed: nothing written, nothing committed
    assert (again.written, again.embedded, again.generation) == (0, 0, bot.data.generation)


def test_deleting_a_file_deletes_only_its_articles(tmp_path, corpus) -> None:
    archive, news = corpus
    index_dir = tmp_path / "idx"
    build([archive], index_dir)
    build([news], index_dir)
    (news / "quake.jsonl").unlink()
    report = build([news], index_dir)
    assert (report.removed, report.unchanged, report.written, report.articles) == (1, 2, 0, 10)
    data = store.load(index_dir)
    assert sorted(a.id for a in data.articles) == sorted(
        [a[0] for a in ARCHIVE] + ["water", "games"])
    build([archive, news], tmp_path / "fresh")
    assert_same_results(index_dir, tmp_path / "fresh")


def age(*paths: Path) -> None:
    """Date files an hour back: one modified within seconds of a read is read again next time
    (its timestamp could hide a change; index.corpus.RACY_NS)."""
    then = time.time_ns() - 3600 * 10**9
    for path in paths:
        os.utime(path, ns=(then, then))


def files_read(monkeypatch) -> list[str]:
    """The names of the files the builds read from now on, in order."""
    import index.corpus

    names, read_file = [], index.corpus.read_file

    def spy(path: Path, *args):
        names.append(path.name)
        return read_file(path, *args)

    monkeypatch.setattr(index.corpus, "read_file", spy)
    return names


def test_an_update_reads_only_the_files_changed_on_disk(tmp_path, corpus, monkeypatch) -> None:
    archive, news = corpus
    bad = [{"id": "blank", "title": "فارغ", "text": " "},
           {**record(("odd", "تاريخ غريب", ["جملة بتاريخ لا يفهم."]), "bbc", 1), "date": "أمس"}]
    write_jsonl(archive / "2018-03.jsonl",
                [record(a, "bbc", i + 1) for i, a in enumerate(ARCHIVE)] + bad)
    age(*archive.iterdir(), *news.iterdir())
    index_dir, read = tmp_path / "idx", files_read(monkeypatch)
    first = build([archive, news], index_dir)
    assert sorted(read) == ["2018-03.jsonl", "games.jsonl", "quake.jsonl", "water.jsonl"]
    assert len(first.skipped) == 1 and any("not understood" in w for w in first.warnings)
    read.clear()
    write_jsonl(news / "ferry.jsonl", [record(("ferry", "العبارة", ["وصلت العبارة."]), "cnn", 9)])
    second = build([archive, news], index_dir)
    assert read == ["ferry.jsonl"]  # the other four are unchanged on disk
    assert (second.added, second.unchanged, second.removed, second.articles) == (1, 12, 0, 13)
    assert (second.skipped, second.warnings) == (first.skipped, first.warnings)  # carried over
    assert second.formats == {"jsonl": 13}
    read.clear()
    edit_archive(archive)  # its size and time change: read again
    (news / "quake.jsonl").unlink()  # its articles go
    third = build([archive, news], index_dir)
    assert read == ["2018-03.jsonl", "ferry.jsonl"]  # ferry.jsonl was new seconds ago
    # ports added; oil changed; rain, odd (not in the edited file) and quake removed
    assert (third.added, third.changed, third.removed, third.unchanged) == (1, 1, 3, 9)
    build([archive, news], tmp_path / "fresh")
    assert_same_results(index_dir, tmp_path / "fresh")


def test_the_first_update_without_changes_records_the_files(tmp_path, corpus,
                                                            monkeypatch) -> None:
    """Files read seconds after they were written are not trusted; once they are old enough,
    a build that finds nothing to change still commits their stamps, so the next reads none."""
    archive, news = corpus
    index_dir, read = tmp_path / "idx", files_read(monkeypatch)
    first = build([archive, news], index_dir)
    age(*archive.iterdir(), *news.iterdir())
    second = build([archive, news], index_dir)
    assert len(read) == 8 and (second.written, second.unchanged) == (0, 11)
    assert second.generation != first.generation  # the stamps, and nothing else, changed
    read.clear()
    third = build([archive, news], index_dir)
    assert read == [] and (third.generation, third.unchanged) == (second.generation, 11)
    assert_same_index(index_dir, build([archive, news], tmp_path / "fresh").index_dir)


def test_an_id_shared_with_an_unchanged_file_reads_every_file(tmp_path, corpus,
                                                              monkeypatch) -> None:
    """Which of two articles with one id keeps it depends on the order of their files: a new
    file sharing an id with an unchanged one makes the build read them all, as a fresh one."""
    archive, _ = corpus
    age(*archive.iterdir())
    index_dir = tmp_path / "idx"
    build([archive], index_dir)
    write_jsonl(archive / "0-early.jsonl",
                [record(("oil", "نفط الخليج", ["صدرت الموانئ النفط إلى آسيا."]), "bbc", 9)])
    read = files_read(monkeypatch)
    report = build([archive], index_dir)
    assert read == ["0-early.jsonl", "0-early.jsonl", "2018-03.jsonl"]  # new; then all again
    assert any("renamed to 'oil#2'" in w for w in report.warnings)
    build([archive], tmp_path / "fresh")
    assert_same_results(index_dir, tmp_path / "fresh")


def test_a_sentence_becoming_repeated_rewrites_the_article_holding_it(tmp_path) -> None:
    """Repeated sentences are embedded without their headline in a full build; an update
    that makes one repeated (or unique again) rewrites the kept article holding it."""
    a, b = tmp_path / "a", tmp_path / "b"
    write_jsonl(a / "a.jsonl", [record(ARCHIVE[0], "bbc", 1, boiler=False),
                                record(ARCHIVE[1], "bbc", 2)])  # BOILER once: unique
    write_jsonl(b / "b.jsonl", [record(NEWS[0], "cnn", 1)])  # BOILER again: now repeated
    index_dir = tmp_path / "idx"
    build([a], index_dir)
    report = build([b], index_dir)
    assert (report.added, report.rewritten) == (1, 1)  # cup, the kept article with BOILER
    build([a, b], tmp_path / "fresh")
    assert_same_results(index_dir, tmp_path / "fresh")
    (b / "b.jsonl").unlink()
    report = build([b], index_dir)
    assert (report.removed, report.rewritten) == (1, 1)  # BOILER unique again: cup rewritten
    build([a], tmp_path / "fresh-a")
    assert_same_results(index_dir, tmp_path / "fresh-a")


def test_filters_work_across_segments(tmp_path, corpus) -> None:
    archive, news = corpus
    index_dir = tmp_path / "idx"
    build([archive], index_dir)
    build([news], index_dir)
    edit_archive(archive)
    build([archive], index_dir)
    build([archive, news], tmp_path / "fresh")
    for filters in ({"sources": ["cnn"]}, {"sources": ["BBC"]}, {"since": "2018-03-05"},
                    {"until": "2018-03-02"}, {"sources": ["bbc"], "since": "2018-03-04"}):
        got = results(index_dir, **filters)
        assert_same_hits(got, results(tmp_path / "fresh", **filters))
        assert all(hits for hits in got)
    cnn = {hit[0] for hits in results(index_dir, sources=["cnn"]) for hit in hits}
    assert cnn == {n[0] for n in NEWS}
    facets = Assistant(index_dir, FakeEncoder(), watch=False).facets()
    assert facets.sources == {"bbc": 8, "cnn": 3} and facets.articles == 11


def test_merge_preserves_results_and_drops_tombstones(tmp_path, corpus) -> None:
    archive, news = corpus
    index_dir = tmp_path / "idx"
    build([archive], index_dir)
    build([news], index_dir)
    edit_archive(archive)
    build([archive], index_dir)
    before, old = results(index_dir), {s["name"] for s in segments_of(index_dir)[0]}
    report = build_index([], index_dir, merge_all=True)  # `daleel build --merge`: no model
    assert (report.merged, report.segments) == (3, 1)
    segs, dead = segments_of(index_dir)
    assert len(segs) == 1 and dead == {} and segs[0]["articles"] == 11
    assert segs[0]["sentences"] == len(store.load(index_dir).sentences)  # no deleted rows
    assert_same_hits(results(index_dir), before)
    build([archive, news], tmp_path / "fresh")
    assert_same_results(index_dir, tmp_path / "fresh")
    assert build_index([], index_dir, merge_all=True).merged == 0  # one whole segment
    # The previous generation (a reader may still load it) keeps the merged-away segments...
    on_disk = {p.name for p in (index_dir / "segments").iterdir()}
    assert on_disk == old | {segs[0]["name"]}
    write_jsonl(news / "ports.jsonl", [record(("ports", "الموانئ", ["ميناء جدة."]), "cnn", 9)])
    build([news], index_dir)  # ...until the next commit makes it the one before last.
    on_disk = {p.name for p in (index_dir / "segments").iterdir()}
    assert on_disk == {s["name"] for s in segments_of(index_dir)[0]}


def test_merge_policy_combines_small_segments(tmp_path, corpus, monkeypatch) -> None:
    monkeypatch.setattr(merge, "MERGE_FACTOR", 3)
    archive, news = corpus
    index_dir = tmp_path / "idx"
    build([archive], index_dir)
    reports = []
    for item in NEWS:  # one article a build, as news arrives
        write_jsonl(tmp_path / "drop" / f"{item[0]}.jsonl", [record(item, "cnn", 1)])
        reports.append(build([tmp_path / "drop"], index_dir))
    assert [r.segments for r in reports] == [2, 3, 2] and reports[-1].merged == 3
    build([archive, tmp_path / "drop"], tmp_path / "fresh")
    assert_same_results(index_dir, tmp_path / "fresh")


def test_merge_policy_choices() -> None:
    small = [Sized(f"s{i}", 12, 12) for i in range(merge.MERGE_FACTOR)]
    assert merge.choose(small[:-1]) == []  # one short of a tier's worth
    assert merge.choose(small) == [[s.name for s in small]]
    assert merge.choose([Sized("big", 300_000, 300_000), *small[:3]]) == []
    assert merge.choose([Sized("holey", 40, 100)]) == [["holey"]]  # more than half deleted
    assert merge.choose([Sized("huge", 60_000, 200_000)]) == []  # too big for the policy
    assert merge.choose([Sized("huge", 60_000, 200_000)], force=True) == [["huge"]]
    assert merge.choose([Sized("one", 10, 10)], force=True) == []


def start(args: list[str]) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "tests.index.slow_build", *args], cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def kill(proc: subprocess.Popen, delay: float) -> None:
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


@pytest.mark.parametrize("delay", [0.0, 0.15, 0.3, 0.5, 0.8])
def test_sigkill_during_an_update_leaves_the_last_index_live(tmp_path, corpus, delay) -> None:
    archive, news = corpus
    index_dir = tmp_path / "idx"
    build([archive], index_dir)
    build([news], index_dir)
    before = results(index_dir)
    edit_archive(archive)
    for i in range(12):  # enough new text that the slow encoder takes a second or so
        write_jsonl(archive / f"more-{i}.jsonl", [record(
            (f"m{i}", f"خبر {i}", [f"جملة جديدة رقم {j} في الخبر {i} عن المدينة." for j in
                                   range(8)]), "bbc", 10)])
    kill(start([str(archive), str(index_dir)]), delay)
    build([archive, news], tmp_path / "fresh")
    now = sentences(results(index_dir))
    assert now in (sentences(before), sentences(results(tmp_path / "fresh")))
    store.verify(index_dir)
    build([archive], index_dir)  # the rerun completes the update
    assert_same_results(index_dir, tmp_path / "fresh")


@pytest.mark.parametrize("delay", [0.0, 0.2, 0.4, 0.6, 0.9, 1.3])
def test_sigkill_during_a_merge_leaves_the_last_index_live(tmp_path, corpus, delay) -> None:
    archive, news = corpus
    index_dir = tmp_path / "idx"
    build([archive], index_dir)
    build([news], index_dir)
    edit_archive(archive)
    build([archive], index_dir)
    before, generation = results(index_dir), store.current_generation(index_dir).name
    kill(start(["--merge", str(index_dir)]), delay)
    after = store.current_generation(index_dir).name
    assert_same_hits(results(index_dir), before)  # the old generation, or the merged one
    store.verify(index_dir)
    assert after == generation or len(segments_of(index_dir)[0]) == 1
    report = build_index([], index_dir, merge_all=True)  # the rerun completes the merge
    assert report.segments == 1
    assert_same_hits(results(index_dir), before)
    named = set()  # what the killed merge left is pruned, or named by a kept generation
    for gen in index_dir.glob("gen-*"):
        named |= {s["name"] for s in json.loads((gen / "manifest.json").read_text())["segments"]}
    assert {p.name for p in (index_dir / "segments").iterdir()} == named
    assert not [p for p in index_dir.iterdir() if p.name.endswith(".tmp")]


def test_an_old_format_index_asks_for_a_rebuild_that_reuses_its_vectors(tmp_path,
                                                                       corpus) -> None:
    archive, _ = corpus
    index_dir = tmp_path / "idx"
    build([archive], tmp_path / "v3")
    seg = tmp_path / "v3" / "segments" / segments_of(tmp_path / "v3")[0][0]["name"]
    old = index_dir / "gen-20250101T000000-1-000001"  # what format 2 wrote: one piece
    old.mkdir(parents=True)
    for name in ("hashes.npy", "vectors.npy"):
        (old / name).write_bytes((seg / name).read_bytes())
    from index import checksums

    model = json.loads((seg / "manifest.json").read_text("utf-8"))["model"]
    (old / "manifest.json").write_text(json.dumps({
        "format_version": 2, "model": model, "counts": {"articles": 8, "sentences": 32},
        **checksums.describe(old)}), "utf-8")
    (index_dir / "CURRENT").write_text(old.name + "\n", "utf-8")
    with pytest.raises(store.IndexFormatError,
                       match="format version 2.*reads version 3.*daleel build.*reused"):
        Assistant(index_dir, FakeEncoder(), watch=False)
    report = build([archive], index_dir)
    assert report.embedded == 0 and report.reused == report.distinct_texts > 0
    assert any("format version 2" in w for w in report.warnings)
    assert_same_results(index_dir, tmp_path / "v3")


def test_watch_picks_up_new_changed_and_deleted_files(tmp_path, corpus) -> None:
    archive, news = corpus
    index_dir = tmp_path / "idx"
    watcher = Watcher([news], index_dir, FakeEncoder(), quiet=0.0)
    first = watcher.poll()  # the folder as it is
    assert first is not None and first.added == 3
    bot = Assistant(index_dir, FakeEncoder(), check_every=0.0)
    assert watcher.poll() is None  # nothing changed
    write_jsonl(news / "ports.jsonl", [record(("ports", "الموانئ", [
        "وصلت سفينة الحاويات إلى ميناء جدة."]), "cnn", 9)])
    report = watcher.poll()
    assert (report.added, report.unchanged, report.written) == (1, 3, 3)
    assert bot.reload()
    assert bot.search("سفينة الحاويات ميناء جدة", k=1)[0].article_id == "ports"
    (news / "quake.jsonl").unlink()
    assert watcher.poll().removed == 1
    assert bot.reload() and bot.article("quake") is None


def test_watch_waits_for_a_file_still_being_written(tmp_path, corpus) -> None:
    _, news = corpus
    watcher = Watcher([news], tmp_path / "idx", FakeEncoder(), quiet=30.0)
    assert watcher.poll() is None  # just written: not read yet
    for path in news.iterdir():
        os.utime(path, ns=(time.time_ns() - 60 * 10**9,) * 2)
    assert watcher.poll().added == 3


def test_hot_reload_reuses_the_loaded_segments(tmp_path, corpus) -> None:
    archive, news = corpus
    index_dir = tmp_path / "idx"
    build([archive], index_dir)
    bot = Assistant(index_dir, FakeEncoder(), watch=False)
    base = bot.data.segments[0]
    build([news], index_dir)
    assert bot.reload()
    assert bot.data.segments[0] is base and len(bot.data.segments) == 2
    assert len(bot.data.articles) == 11
