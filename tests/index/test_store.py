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
