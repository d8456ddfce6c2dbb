"""The ``"openvino-fp32"`` backend: the float32 model itself, run by OpenVINO.

Its vectors are torch's (cosine >= 0.99999), made about twice as fast for one question on 2
cores (13 vs 24 ms, BENCHMARKS.md section 6): the path the assistant embeds questions on
(:meth:`index.encoder.Encoder.for_questions`). The export is the traced float32 ONNX model
saved as OpenVINO IR, uncompressed (~470 MB for e5-small, beside the model folder).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from index.encoder import export
from index.encoder.openvino_int8 import OpenVINOInt8


class OpenVINOFloat32(OpenVINOInt8):
    settings: dict[str, Any] = {"precision": "f32"}

    def export(self, st: Any, out: Path) -> list[str]:
        import openvino as ov

        fp32 = out / "model-fp32.onnx"
        # Through ONNX rather than ov.convert_model: the converter sends usage telemetry.
        names = export.export_onnx_fp32(st, fp32)
        ov.save_model(ov.Core().read_model(str(fp32)), out / "model.xml", compress_to_fp16=False)
        fp32.unlink()
        return names


BACKEND = OpenVINOFloat32()
