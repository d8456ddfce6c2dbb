"""The reader on the int8 path builds already use: exported once to ONNX, quantized statically
by NNCF (calibrated on built-in Arabic questions and news sentences, so every machine makes the
same model) and run by OpenVINO. Cached per weights file (by its sha256) in the model cache."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np

from index.encoder import runtime
from index.encoder.cache import compiled_cache, default_cache_dir, ensure_folder
from index.encoder.export import CALIBRATION_TEXTS, trace_onnx
from index.encoder.openvino_int8 import quantize

#: Bump when the export changes: it is part of the folder's name.
EXPORT_VERSION = 1
STAMP = "daleel-reader-export.json"
_INPUTS = ("input_ids", "attention_mask")
_OUTPUTS = ("answer", "start", "end")


def export_dir(sha256: str, cache_dir: Path | None = None) -> Path:
    name = f"reader.openvino-int8-{sha256[:16]}-v{EXPORT_VERSION}"
    return (cache_dir or default_cache_dir()) / name


def calibration_pairs() -> tuple[list[str], list[tuple[str, str]]]:
    """Every built-in news sentence read with each built-in question."""
    questions = [t for t in CALIBRATION_TEXTS if t.endswith("؟")]
    passages = [t for t in CALIBRATION_TEXTS if not t.endswith("؟")]
    pairs = [(q, ("", p)) for q in questions for p in passages]
    return [q for q, _ in pairs], [p for _, p in pairs]


def ensure(net, tokenizer, config, cache_dir: Path | None = None) -> Path:
    """The int8 export of this reader, made once (about a minute) and reused."""
    from qa.reader import encode_pairs

    target = export_dir(config.sha256, cache_dir)

    def make(tmp: Path) -> None:
        import torch

        questions, passages = calibration_pairs()
        feeds = []
        for i in range(0, len(passages), 8):
            batch, *_ = encode_pairs(tokenizer, questions[i:i + 8], passages[i:i + 8], config)
            feeds.append({k: batch[k].numpy().astype(np.int64) for k in _INPUTS})
        fp32 = tmp / "reader-fp32.onnx"

        class Traced(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.net = net

            def forward(self, input_ids, attention_mask):
                return self.net(input_ids=input_ids, attention_mask=attention_mask)

        example = tuple(torch.from_numpy(feeds[0][k]) for k in _INPUTS)
        axes = {k: {0: "batch", 1: "tokens"} for k in _INPUTS} | {
            "answer": {0: "batch"}, "start": {0: "batch", 1: "tokens"},
            "end": {0: "batch", 1: "tokens"}}
        trace_onnx(Traced().eval(), example, fp32, list(_INPUTS), list(_OUTPUTS), axes)
        quantize(fp32, feeds, tmp / "reader.xml")
        (tmp / STAMP).write_text(json.dumps({"export_version": EXPORT_VERSION,
                                             "weights_sha256": config.sha256,
                                             "calibration_pairs": len(passages)}),
                                 encoding="utf-8")

    return ensure_folder(target, STAMP, make, tmp_prefix=".exporting-")


class Int8Net:
    """Runs the exported reader: token arrays in, (answer, start, end) numpy arrays out; one
    request at a time (a question's candidates are one batch), on runtime.threads() threads
    ($DALEEL_THREADS, else every physical core)."""

    def __init__(self, folder: Path, threads: int | None = None) -> None:
        import openvino as ov

        self._model: Any = ov.Core().compile_model(str(folder / "reader.xml"), "CPU", {
            "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32",
            "CPU_RUNTIME_CACHE_CAPACITY": 64, **compiled_cache(folder),
            "INFERENCE_NUM_THREADS": threads or runtime.threads(),
            "ENABLE_CPU_PINNING": runtime.pin_threads()})
        self._request = self._model.create_infer_request()
        self._lock = threading.Lock()

    def __call__(self, input_ids, attention_mask, **_) -> tuple[np.ndarray, ...]:
        feed = {"input_ids": np.asarray(input_ids, np.int64),
                "attention_mask": np.asarray(attention_mask, np.int64)}
        with self._lock:
            out = self._request.infer(feed)
            return tuple(np.array(out[self._model.output(k)]) for k in _OUTPUTS)
