"""The index directory (index/store.py, index/segments.py): round trip, atomic generations of
segments, checks on load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from index import checksums, dense, segments, store
from index.corpus import Article
from index.lexical import LexicalIndex
from index.segments import SegmentData, SegmentPlan
from index.sentences import SentenceTable
from tests.conftest import FakeEncoder

ARTICLES = [
    Article(id="a1", title="النفط", text="ارتفعت أسعار النفط اليوم. وقال الوزير إن الإنتاج زاد."),
    Article(id="a2", title="الكرة", text="فاز المنتخب بهدفين. وتأهل إلى النهائي."),
]


def make_data(fingerprint: str = "fp-1") -> SegmentData:
    spans = [(0, 0, 25), (0, 26, 53), (1, 0, 19), (1, 20, 38)]
    texts = [ARTICLES[a].text[s:e] for a, s, e in spans]
    vectors = FakeEncoder().encode_passages(texts)
    model = {"name": "fake-bow", "fingerprint": fingerprint, "dim": 64, "backend": "torch"}
    hashes = np.array([store.text_hash(t) for t in texts], dtype="S16")
    return SegmentData(
        articles=list(ARTICLES), origins=["/corpus/a.jsonl"] * 2,
        sentences=SentenceTable.from_rows(spans), hashes=hashes, keys=hashes.copy(),
        repeated=np.zeros(4, bool), vectors=vectors, lexical=LexicalIndex.build(texts),
        model=model, settings={"context": "title"},
    )


def segment_of(gen: Path) -> Path:
    name = json.loads((gen / store.MANIFEST).read_text(encoding="utf-8"))["segments"][0]["name"]
    return gen.parent / segments.SEGMENTS / name


def test_save_load_round_trip_is_identical(tmp_path: Path) -> None:
    data = make_data()
    gen = store.save(data, tmp_path)
    loaded = store.load(tmp_path, fingerprint="fp-1")
    assert loaded.generation == gen.name and store.current_generation(tmp_path) == gen
    assert loaded.articles == data.articles
    assert loaded.sentences == data.sentences
    np.testing.assert_array_equal(loaded.hashes, data.hashes)
    np.testing.assert_array_equal(loaded.vectors, data.vectors)
    queries = FakeEncoder().encode_queries(["أسعار النفط", "المنتخب"])
    for a, b in zip(dense.search(dense.make(data.vectors), queries, 4),
                    loaded.dense.search(queries, 4), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.lexical.scores("النفط"), data.lexical.scores("النفط"))
    assert loaded.manifest["format_version"] == store.FORMAT_VERSION == 3
    assert [e["name"] for e in loaded.manifest["segments"]] == [segment_of(gen).name]
    assert set(segments.read_manifest(segment_of(gen))["files"]) >= {
        "sentences.npy", "vectors.npy", "dense.faiss", "catalog.json", "keys.npy"}
    assert [loaded.sentence_text(r) for r in range(4)] == [
        "ارتفعت أسعار النفط اليوم.", "وقال الوزير إن الإنتاج زاد.", "فاز المنتخب بهدفين.",
        "وتأهل إلى النهائي.",
    ]
    assert loaded.article_first_row.tolist() == [0, 2]


def test_a_new_generation_keeps_only_the_previous_one(tmp_path: Path) -> None:
    first = store.save(make_data(), tmp_path)
    second = store.save(make_data(), tmp_path)
    third = store.save(make_data(), tmp_path)
    gens = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("gen-"))
    assert gens == sorted([second.name, third.name]) and not first.exists()
    assert (tmp_path / store.CURRENT).read_text().strip() == third.name
    # Segments are pruned with the last generation naming them.
    kept = sorted(p.name for p in (tmp_path / segments.SEGMENTS).iterdir())
    assert kept == sorted([segment_of(second).name, segment_of(third).name])


def test_generations_share_segments_and_tombstones_hide_articles(tmp_path: Path) -> None:
    gen = store.save(make_data(), tmp_path)
    seg = segment_of(gen).name
    info = {"model": make_data().model, "settings": {}, "counts": {"articles": 1, "sentences": 2}}
    store.commit(tmp_path, [seg], {seg: [0]}, info)
    data = store.load(tmp_path)
    assert [a.id for a in data.articles] == ["a2"]
    assert data.sentences.array.tolist() == [[0, 0, 19], [0, 20, 38]]
    assert [data.sentence_text(r) for r in range(2)] == ["فاز المنتخب بهدفين.",
                                                         "وتأهل إلى النهائي."]
    # The deleted article's rows are nowhere: not in BM25, not in the dense search.
    assert data.lexical.scores("النفط").tolist() == [0.0, 0.0]
    _, rows = data.dense.search(FakeEncoder().encode_queries(["أسعار النفط"]), 4)
    assert sorted(rows[0].tolist()) == [-1, -1, 0, 1]
    store.commit(tmp_path, [seg], {seg: [5]}, info)  # a row the segment does not have
    with pytest.raises(store.IndexCorruptError, match="tombstones"):
        store.load(tmp_path)


def test_model_mismatch_is_refused_with_the_fix(tmp_path: Path) -> None:
    store.save(make_data("fp-1"), tmp_path)
    with pytest.raises(store.IndexModelMismatchError, match=r"fake-bow.*fp-1.*fp-2.*daleel build"):
        store.load(tmp_path, fingerprint="fp-2")
    assert store.read_model(tmp_path)["fingerprint"] == "fp-1"


def test_stored_vectors_for_reuse(tmp_path: Path) -> None:
    data = make_data("fp-1")
    gen = store.save(data, tmp_path)
    plan = SegmentPlan.read(segment_of(gen))
    np.testing.assert_array_equal(plan.hashes, data.hashes)
    np.testing.assert_array_equal(plan.vector_rows(np.array([3, 1])), data.vectors[[3, 1]])
    assert plan.ids == ["a1", "a2"] and plan.origins == ["/corpus/a.jsonl"] * 2
    assert plan.content == [segments.content_hash(a) for a in ARTICLES]
    live = store.read_live(tmp_path)
    assert live.generation == gen and [s.name for s in live.segments] == [plan.name]


def test_format_and_count_mismatches_are_errors(tmp_path: Path) -> None:
    with pytest.raises(store.IndexMissingError, match="daleel build"):
        store.read_model(tmp_path)
    gen = store.save(make_data(), tmp_path)
    manifest = json.loads((gen / store.MANIFEST).read_text(encoding="utf-8"))
    (gen / store.MANIFEST).write_text(json.dumps({**manifest, "format_version": 0}), "utf-8")
    with pytest.raises(store.IndexFormatError, match="format version 0.*daleel build"):
        store.load(tmp_path)
    manifest["counts"]["sentences"] = 5
    (gen / store.MANIFEST).write_text(json.dumps(manifest), "utf-8")
    with pytest.raises(store.IndexCorruptError, match="inconsistent.*daleel build"):
        store.load(tmp_path)


def test_sentence_table_names_its_columns() -> None:
    table = SentenceTable.from_rows([(0, 0, 5), (0, 6, 9), (1, 0, 4)])
    assert table.article.tolist() == [0, 0, 1] and table.start.tolist() == [0, 6, 0]
    assert table.end.tolist() == [5, 9, 4] and table.span(1) == (0, 6, 9)
    assert len(table) == 3 and table[2, 0] == 1 and table[1].tolist() == [0, 6, 9]
    assert [row.tolist() for row in table] == [[0, 0, 5], [0, 6, 9], [1, 0, 4]]
    assert SentenceTable.from_rows([]).array.shape == (0, 3)


# --- damage is caught (issue 15) ---------------------------------------------------------

SEGMENT_FILES = ["articles.jsonl", "catalog.json", "sentences.npy", "hashes.npy", "keys.npy",
                 "vectors.npy", "dense.faiss", "lexical/tf.npy", "lexical/indices.npy",
                 "lexical/vocab.json"]


@pytest.mark.parametrize("rel", SEGMENT_FILES)
def test_flipped_bytes_of_the_same_size_are_caught(tmp_path: Path, rel: str) -> None:
    gen = store.save(make_data(), tmp_path)
    folder = segment_of(gen)
    assert store.verify(tmp_path)["files"] == 1 + len(segments.read_manifest(folder)["files"])
    path = folder / rel
    raw = bytearray(path.read_bytes())
    at = len(raw) - 3 if len(raw) < 8 else len(raw) // 2
    raw[at:at + 2] = bytes(b ^ 0x5A for b in raw[at:at + 2])
    path.write_bytes(bytes(raw))
    with pytest.raises(store.IndexCorruptError, match=f"{rel} does not match its checksum"):
        store.verify(tmp_path)
    with pytest.raises(store.IndexCorruptError, match=rf"{rel}.*daleel build"):
        store.load(tmp_path)  # a small file is checked whole at load


def test_damaged_vectors_are_not_reused_by_a_rebuild(tmp_path: Path, monkeypatch) -> None:
    gen = store.save(make_data("fp-1"), tmp_path)
    with open(segment_of(gen) / "vectors.npy", "r+b") as fh:
        fh.seek(-8, 2)
        fh.write(b"\xff" * 8)
    with pytest.raises(segments.SegmentError, match="vectors.npy"):  # one block: read whole
        SegmentPlan.read(segment_of(gen))
    # A large vectors file is checked by the blocks holding the rows reused.
    monkeypatch.setattr(checksums, "BLOCK", 256)
    monkeypatch.setattr(checksums, "SAMPLED_BLOCKS", 0)
    gen = store.save(make_data("fp-1"), tmp_path)
    path = segment_of(gen) / "vectors.npy"
    offset = np.load(path, mmap_mode="r").offset
    with open(path, "r+b") as fh:  # row 2 (256 bytes a row): not the first or last block
        fh.seek(offset + 2 * 256 + 10)
        fh.write(b"\x01\x02\x03")
    plan = SegmentPlan.read(segment_of(gen))
    np.testing.assert_array_equal(plan.vector_rows(np.array([0, 3])),
                                  make_data().vectors[[0, 3]])
    with pytest.raises(segments.SegmentError, match="vectors.npy does not match"):
        plan.vector_rows(np.array([2]))


def test_a_segment_replaced_under_a_generation_is_refused(tmp_path: Path) -> None:
    gen = store.save(make_data(), tmp_path)
    manifest = segment_of(gen) / segments.MANIFEST
    manifest.write_text(manifest.read_text(encoding="utf-8") + " ", encoding="utf-8")
    with pytest.raises(store.IndexCorruptError, match="not the one committed"):
        store.load(tmp_path)


def test_sampled_check_of_a_large_mapped_file(tmp_path: Path, monkeypatch) -> None:
    """Loading reads only some blocks of a large file; verify reads them all."""
    monkeypatch.setattr(checksums, "BLOCK", 256)  # the test index's vectors span many blocks
    monkeypatch.setattr(checksums, "WHOLE_BLOCKS", 1)
    monkeypatch.setattr(checksums, "SAMPLED_BLOCKS", 0)  # load checks the first and last only
    gen = store.save(make_data(), tmp_path)
    manifest = segments.read_manifest(segment_of(gen))
    assert len(manifest["blocks"]["vectors.npy"]) >= 4
    with open(segment_of(gen) / "vectors.npy", "r+b") as fh:  # a middle block: not sampled
        fh.seek(256 * 2 + 10)
        fh.write(b"\x01\x02\x03\x04")
    store.load(tmp_path)
    with pytest.raises(store.IndexCorruptError, match="vectors.npy does not match"):
        store.verify(tmp_path)


@pytest.mark.parametrize("mangle", [
    lambda m: {k: v for k, v in m.items() if k != "model"},
    lambda m: {k: v for k, v in m.items() if k != "counts"},
    lambda m: [m],
    lambda m: {**m, "counts": {"articles": "2", "sentences": 4}},
    lambda m: {**m, "model": {**m["model"], "dim": -1}},
    lambda m: {**m, "files": {"../../etc/passwd": 10, **m["files"]}},
    lambda m: {k: v for k, v in m.items() if k != "checksums"},
    lambda m: {**m, "segments": [{**m["segments"][0], "name": "../../elsewhere"}]},
    lambda m: {**m, "segments": "seg-1"},
], ids=["no-model", "no-counts", "a-list", "count-as-text", "negative-dim", "path-outside",
        "no-checksums", "segment-outside", "segments-as-text"])
def test_malformed_manifest_is_a_corrupt_index(tmp_path: Path, mangle) -> None:
    gen = store.save(make_data(), tmp_path)
    manifest = json.loads((gen / store.MANIFEST).read_text(encoding="utf-8"))
    (gen / store.MANIFEST).write_text(json.dumps(mangle(manifest)), "utf-8")
    with pytest.raises(store.StoreError, match="daleel build") as caught:
        store.load(tmp_path)
    assert isinstance(caught.value, store.IndexCorruptError | store.IndexFormatError)


@pytest.mark.parametrize("current", [b"\xff\xfe\x00binary", b"", b"/tmp", b"../elsewhere/gen-1",
                                     b"gen-does-not-exist\n", "dir"],
                         ids=["binary", "empty", "absolute", "outside", "missing", "a-folder"])
def test_malformed_current_is_a_corrupt_index(tmp_path: Path, current) -> None:
    index_dir = tmp_path / "idx"
    store.save(make_data(), index_dir)
    other = tmp_path / "elsewhere" / "gen-1"  # a real index outside: must not be loaded
    store.save(make_data(), other.parent)
    pointer = index_dir / store.CURRENT
    pointer.unlink()
    if current == "dir":
        pointer.mkdir()
    else:
        pointer.write_bytes(current)
    with pytest.raises(store.IndexCorruptError, match=f"{store.CURRENT}|generation.*daleel build"):
        store.load(index_dir)


def test_out_of_space_leaves_nothing_behind(tmp_path: Path, monkeypatch) -> None:
    first = store.save(make_data(), tmp_path)

    def full_disk(index, path):  # what FAISS raises when a write fails on a full disk
        raise RuntimeError(f"Error: 'ret == (size)' failed: write error in {path}: "
                           "28 (No space left on device)")

    monkeypatch.setattr(segments.dense_index, "save", full_disk)
    with pytest.raises(store.IndexSpaceError, match=r"needs about .* MB .* bytes.* free"):
        store.save(make_data(), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [first.name, store.CURRENT, segments.SEGMENTS])
    assert [p.name for p in (tmp_path / segments.SEGMENTS).iterdir()] == [segment_of(first).name]
    assert store.load(tmp_path).generation == first.name
