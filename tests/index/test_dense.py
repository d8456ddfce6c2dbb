"""The dense index (index/dense.py) against numpy brute force."""

from __future__ import annotations

import numpy as np
import pytest

from index import dense


def unit_vectors(n: int, dim: int, seed: int = 0, clusters: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim)).astype(np.float32)
    if clusters:
        centers = rng.standard_normal((clusters, dim)).astype(np.float32)
        x = centers[rng.integers(0, clusters, n)] + 0.5 * x
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def brute_force(x: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    scores = queries @ x.T
    rows = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, rows, axis=1), rows


def test_flat_search_is_brute_force() -> None:
    x, queries = unit_vectors(500, 16), unit_vectors(20, 16, seed=1)
    index = dense.make(x)
    assert dense.kind(len(x)) == "flat" and index.ntotal == 500
    scores, rows = dense.search(index, queries, 10)
    want_scores, want_rows = brute_force(x, queries, 10)
    np.testing.assert_array_equal(rows, want_rows)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-5, atol=1e-6)


def test_fewer_vectors_than_k_pads_with_minus_one() -> None:
    x = unit_vectors(3, 8)
    scores, rows = dense.search(dense.make(x), x[:1], 5)
    assert rows[0, :3].tolist() == brute_force(x, x[:1], 3)[1][0].tolist()
    assert rows[0, 3:].tolist() == [-1, -1]
    assert scores[0, 0] == pytest.approx(1.0, abs=1e-6)


def test_empty_index_finds_nothing() -> None:
    index = dense.make(np.zeros((0, 8), np.float32))
    assert index.ntotal == 0
    _, rows = dense.search(index, unit_vectors(2, 8), 3)
    assert (rows == -1).all()


def test_large_indexes_use_ivf_close_to_exact_search(monkeypatch) -> None:
    monkeypatch.setattr(dense, "EXACT_SEARCH_LIMIT", 1000)
    x = unit_vectors(6000, 32, seed=3, clusters=60)
    queries = x[:100] + 0.2 * np.random.default_rng(4).standard_normal((100, 32)).astype(np.float32)
    ivf = dense.make(x)
    assert dense.kind(len(x)) == "ivf" and ivf.ntotal == 6000 and ivf.nprobe == dense.IVF_NPROBE
    _, want = brute_force(x, queries, 10)
    _, got = dense.search(ivf, queries, 10)
    recall = np.mean([len(set(g) & set(w)) / 10 for g, w in zip(got, want, strict=True)])
    assert recall >= 0.95
    ivf.nprobe = ivf.nlist  # every cluster searched: exact
    scores, rows = dense.search(ivf, queries, 10)
    want_scores, _ = brute_force(x, queries, 10)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-5, atol=1e-6)


def test_save_load_round_trip_and_nprobe_on_load(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(dense, "EXACT_SEARCH_LIMIT", 100)
    x, queries = unit_vectors(2000, 16, clusters=20), unit_vectors(10, 16, seed=5)
    index = dense.make(x)
    index.nprobe = 1  # as written by an older build: load sets it again
    dense.save(index, tmp_path / "dense.faiss")
    loaded = dense.load(tmp_path / "dense.faiss")
    assert loaded.nprobe == dense.IVF_NPROBE
    index.nprobe = dense.IVF_NPROBE
    for a, b in zip(dense.search(index, queries, 5), dense.search(loaded, queries, 5),
                    strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.fixture
def one_thread():
    """FAISS on one thread: its OpenMP threads crawl when other tests hold the cores."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


def test_the_compact_tier_returns_exact_scores_of_its_float16_vectors(tmp_path,
                                                                       one_thread) -> None:
    x = unit_vectors(2000, 32, clusters=40)
    queries = unit_vectors(25, 32, seed=1, clusters=40)
    dense.save(dense.make(x, "compact"), tmp_path / "d.faiss")
    half = x.astype(np.float16)
    with pytest.raises(ValueError, match="its vectors are needed"):
        dense.load(tmp_path / "d.faiss")
    index = dense.load(tmp_path / "d.faiss", half)
    assert isinstance(index, dense.Rescored) and index.nprobe == dense.COMPACT_NPROBE
    index.nprobe = index.nlist  # every list: what is left to check is the re-scoring
    scores, rows = dense.search(index, queries, 10)
    exact = queries @ half.astype(np.float32).T
    np.testing.assert_allclose(scores, np.take_along_axis(exact, rows, 1), rtol=0, atol=1e-6)
    assert (np.diff(scores, axis=1) <= 0).all()  # best first
    want = brute_force(half.astype(np.float32), queries, 10)[1]
    assert np.mean([len(set(a) & set(b)) for a, b in zip(rows, want, strict=True)]) >= 9.5
    allowed = np.zeros(len(x), bool)
    allowed[::3] = True
    scores, rows = dense.search_within(index, half, queries, 10, allowed)
    assert allowed[rows].all() and rows.shape == (25, 10)
    np.testing.assert_allclose(scores, np.take_along_axis(exact, rows, 1), rtol=0, atol=1e-6)


def test_tiers_by_size_and_by_choice() -> None:
    assert [dense.kind(n) for n in (10, 50_001, dense.COMPACT_ABOVE + 1)] == [
        "flat", "ivf", "compact"]
    assert dense.kind(dense.COMPACT_MIN, "compact") == "compact"
    assert dense.kind(dense.COMPACT_MIN - 1, "compact") == "flat"  # too few to train codes on
