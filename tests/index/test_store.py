"""The index directory (index/store.py): round trip, atomic generations, checks on load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from index import dense, store
from index.corpus import Article
from index.lexical import LexicalIndex
from index.sentences import SentenceTable
from tests.conftest import FakeEncoder

ARTICLES = [
    Article(id="a1", title="النفط", text="ارتفعت أسعار النفط اليوم. وقال الوزير إن الإنتاج زاد."),
    Article(id="a2", title="الكرة", text="فاز المنتخب بهدفين. وتأهل إلى النهائي."),
]


def make_data(fingerprint: str = "fp-1") -> store.IndexData:
    spans = [(0, 0, 25), (0, 26, 53), (1, 0, 19), (1, 20, 38)]
    texts = [ARTICLES[a].text[s:e] for a, s, e in spans]
    vectors = FakeEncoder().encode_passages(texts)
    model = {"name": "fake-bow", "fingerprint": fingerprint, "dim": 64, "backend": "torch"}
    return store.IndexData(
        manifest={"model": model, "counts": {"articles": 2, "sentences": 4}},
        articles=list(ARTICLES),
        sentences=SentenceTable.from_rows(spans),
        hashes=np.array([store.text_hash(t) for t in texts], dtype="S16"),
        vectors=vectors,
        dense=dense.make(vectors),
        lexical=LexicalIndex.build(texts),
    )


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
    for a, b in zip(dense.search(data.dense, queries, 4), dense.search(loaded.dense, queries, 4),
                    strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.lexical.scores("النفط"), data.lexical.scores("النفط"))
    assert loaded.manifest["format_version"] == store.FORMAT_VERSION
    assert set(loaded.manifest["files"]) >= {"sentences.npy", "vectors.npy", "dense.faiss"}
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


def test_model_mismatch_is_refused_with_the_fix(tmp_path: Path) -> None:
    store.save(make_data("fp-1"), tmp_path)
    with pytest.raises(store.IndexModelMismatchError, match=r"fake-bow.*fp-1.*fp-2.*daleel build"):
        store.load(tmp_path, fingerprint="fp-2")
    assert store.read_model(tmp_path)["fingerprint"] == "fp-1"


def test_read_vectors_for_reuse(tmp_path: Path) -> None:
    assert store.read_vectors(tmp_path, "fp-1") is None  # nothing built yet
    data = make_data("fp-1")
    store.save(data, tmp_path)
    hashes, vectors = store.read_vectors(tmp_path, "fp-1")
    np.testing.assert_array_equal(hashes, data.hashes)
    np.testing.assert_array_equal(vectors, data.vectors)
    assert store.read_vectors(tmp_path, "other-model") is None


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

LARGE_FILES = ["articles.jsonl", "sentences.npy", "hashes.npy", "vectors.npy", "dense.faiss",
               "lexical/data.npy", "lexical/indices.npy", "lexical/vocab.json"]


@pytest.mark.parametrize("rel", LARGE_FILES)
def test_flipped_bytes_of_the_same_size_are_caught(tmp_path: Path, rel: str) -> None:
    gen = store.save(make_data(), tmp_path)
    assert store.verify(tmp_path)["files"] == len(json.loads(
        (gen / store.MANIFEST).read_text(encoding="utf-8"))["files"])
    path = gen / rel
    raw = bytearray(path.read_bytes())
    at = len(raw) - 3 if len(raw) < 8 else len(raw) // 2
    raw[at:at + 2] = bytes(b ^ 0x5A for b in raw[at:at + 2])
    path.write_bytes(bytes(raw))
    with pytest.raises(store.IndexCorruptError, match=f"{rel} does not match its checksum"):
        store.verify(tmp_path)
    with pytest.raises(store.IndexCorruptError, match=rf"{rel}.*daleel build"):
        store.load(tmp_path)  # a small file is checked whole at load


def test_damaged_vectors_are_not_reused_by_a_rebuild(tmp_path: Path) -> None:
    gen = store.save(make_data("fp-1"), tmp_path)
    with open(gen / "vectors.npy", "r+b") as fh:
        fh.seek(-8, 2)
        fh.write(b"\xff" * 8)
    with pytest.raises(store.IndexCorruptError, match="vectors.npy"):
        store.read_vectors(tmp_path, "fp-1")


def test_sampled_check_of_a_large_mapped_file(tmp_path: Path, monkeypatch) -> None:
    """Loading reads only some blocks of a large file; verify reads them all."""
    monkeypatch.setattr(store, "BLOCK", 256)  # the test index's vectors span many blocks
    monkeypatch.setattr(store, "WHOLE_BLOCKS", 1)
    monkeypatch.setattr(store, "SAMPLED_BLOCKS", 0)  # load checks the first and last only
    gen = store.save(make_data(), tmp_path)
    manifest = json.loads((gen / store.MANIFEST).read_text(encoding="utf-8"))
    assert len(manifest["blocks"]["vectors.npy"]) >= 4
    with open(gen / "vectors.npy", "r+b") as fh:  # a middle block: not in the sample
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
], ids=["no-model", "no-counts", "a-list", "count-as-text", "negative-dim", "path-outside",
        "no-checksums"])
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

    monkeypatch.setattr(store.dense_index, "save", full_disk)
    with pytest.raises(store.IndexSpaceError, match=r"needs about .* MB .* bytes.* free"):
        store.save(make_data(), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, store.CURRENT])
    assert store.load(tmp_path).generation == first.name
