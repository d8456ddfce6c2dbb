"""The ``"onnx-int8"`` backend: ONNX Runtime's dynamic int8 (the slower alternative)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from index.encoder import export
from index.encoder.backends import Runner


class OnnxInt8:
    settings: dict[str, Any] = {}

    def export(self, st: Any, out: Path) -> list[str]:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        fp32 = out / "model-fp32.onnx"
        names = export.export_onnx_fp32(st, fp32)
        # Per-channel weights: per-tensor int8 drops the mean cosine to float32 from 0.996 to
        # 0.985.
        quantize_dynamic(
            fp32,
            out / "model.onnx",
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul", "Gemm"],
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
        fp32.unlink()
        return names

    def runner(self, folder: Path, threads: int) -> Runner:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(
            str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        return lambda feeds, n: [session.run(None, feed)[0].astype(np.float32) for feed in feeds]


BACKEND = OnnxInt8()
