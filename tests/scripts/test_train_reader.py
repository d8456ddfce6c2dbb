"""scripts/train_reader.py: starting from weights trained with fewer top layers."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from qa import reader as R
from tests.conftest import REPO


@pytest.fixture(scope="module")
def train_reader():
    spec = importlib.util.spec_from_file_location("train_reader",
                                                  REPO / "scripts" / "train_reader.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_weights_with_fewer_layers_fill_the_top_and_leave_the_rest_as_the_base(
        train_reader, encoder) -> None:
    one, _ = train_reader.build_net(encoder.path, 1)
    state = {k: v + 1.0 for k, v in train_reader.trainable_state(one).items()}  # "trained"
    two, _ = train_reader.build_net(encoder.path, 2)
    base = train_reader.trainable_state(two)
    with pytest.raises(R.ReaderError, match="lacks"):
        train_reader.load_trainable(two, state)  # a resumed checkpoint must be whole
    train_reader.load_trainable(two, state, lower_layers_fresh=True)
    now = dict(two.named_parameters())
    top, below = "base.encoder.layer.11.", "base.encoder.layer.10."
    assert any(k.startswith(top) for k in state) and not any(k.startswith(below) for k in state)
    for k, v in now.items():
        if k.startswith(top) or not k.startswith("base."):
            assert torch.equal(v, state[k]), k
        elif k.startswith(below):
            assert torch.equal(v, base[k]), k
