"""The ``"openvino-int8"`` backend: static int8 quantized with NNCF, run by OpenVINO."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from index.encoder import export
from index.encoder.backends import Runner, telemetry_off
from index.encoder.cache import compiled_cache
from index.encoder.runtime import pin_threads

#: NNCF's SmoothQuant alpha for matmuls (see OpenVINOInt8.export).
SMOOTH_QUANT_ALPHA = 0.65


class OpenVINOInt8:
    settings: dict[str, Any] = {"smooth_quant_alpha": SMOOTH_QUANT_ALPHA}

    def export(self, st: Any, out: Path) -> list[str]:
        fp32 = out / "model-fp32.onnx"
        # Through ONNX rather than ov.convert_model: the converter sends usage telemetry.
        names = export.export_onnx_fp32(st, fp32)
        quantize(fp32, export.calibration(st, names), out / "model.xml")
        return names

    def runner(self, folder: Path, threads: int) -> Runner:
        """One batch (a query) runs on all cores at once; several (passages) run as one stream
        per core, each batch single-threaded: 14-24% more sentences/s on 2 cores, as the
        threads of one batch no longer wait for each other at every layer (BENCHMARKS.md)."""
        compiled = _Compiled(folder, threads)
        request, lock = None, threading.Lock()  # one request, so one query at a time

        def run(feeds: Iterable[dict], n: int) -> list[np.ndarray]:
            nonlocal request
            if n != 1:
                return _run_bulk(compiled.get("bulk"), threads, feeds, n)
            with lock:
                request = request or compiled.get("one").create_infer_request()
                return [np.array(request.infer(next(iter(feeds)))[0], dtype=np.float32)]

        return run


class _Compiled:
    """The model compiled for one query ("one") or for bulk ("bulk"), each on first use: a
    server never needs "bulk"."""

    def __init__(self, folder: Path, threads: int) -> None:
        import openvino as ov

        self.core, self.path, self.threads = ov.Core(), str(folder / "model.xml"), threads
        self.cache = compiled_cache(folder)
        self.models: dict[str, Any] = {}

    def get(self, kind: str) -> Any:
        if kind not in self.models:
            common = {
                # bf16 (the default) is no faster here, and varies by CPU.
                "INFERENCE_PRECISION_HINT": "f32",
                # Kernels and buffers are kept per input shape; the default keeps 5,000 shapes,
                # which grew a full-corpus build by ~2 GB. Batches come sorted by length.
                "CPU_RUNTIME_CACHE_CAPACITY": 16,
                "INFERENCE_NUM_THREADS": self.threads,
                "ENABLE_CPU_PINNING": pin_threads(),
                # Compiled once, then loaded from the cache by later processes (~0.5 s).
                **self.cache,
            }
            hint = (
                {"PERFORMANCE_HINT": "LATENCY"}
                if kind == "one"
                else {"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": self.threads}
            )
            self.models[kind] = self.core.compile_model(self.path, "CPU", common | hint)
        return self.models[kind]


def _run_bulk(bulk: Any, threads: int, feeds: Iterable[dict], n: int) -> list[np.ndarray]:
    # Plain requests taken in turn, no completion callbacks: a Python callback makes the
    # stream threads take the GIL, and freeing the model then deadlocks with them.
    requests = [bulk.create_infer_request() for _ in range(threads)]
    out: list[np.ndarray] = [np.empty(0)] * n
    pending: dict[int, int] = {}  # request slot -> batch number in flight there

    def collect(slot: int) -> None:
        requests[slot].wait()
        out[pending.pop(slot)] = np.array(requests[slot].get_output_tensor(0).data)

    for i, feed in enumerate(feeds):
        slot = i % threads
        if slot in pending:
            collect(slot)
        requests[slot].start_async(feed)
        pending[slot] = i
    for slot in list(pending):
        collect(slot)
    return out


def quantize(fp32: Path, feeds: list[dict[str, np.ndarray]], out: Path) -> None:
    """Quantize the float32 ONNX model ``fp32`` to static int8 with NNCF, calibrated on
    ``feeds``, save it as the OpenVINO model ``out`` (.xml) and delete ``fp32``."""
    import openvino as ov

    nncf = quiet_nncf()
    from nncf.quantization.advanced_parameters import (
        AdvancedQuantizationParameters,
        AdvancedSmoothQuantParameters,
    )

    # SmoothQuant alpha 0.65 (NNCF's transformer default is 0.95): mean cosine to float32
    # over 256 news sentences 0.9990 instead of 0.9955; 0.6-0.75 are all within 0.0002.
    advanced = AdvancedQuantizationParameters(
        smooth_quant_alphas=AdvancedSmoothQuantParameters(matmul=SMOOTH_QUANT_ALPHA)
    )
    # NNCF draws its progress bars on stdout: moved to stderr, so that the one-time export
    # inside e.g. `daleel ask --json` does not break the JSON on stdout.
    with contextlib.redirect_stdout(sys.stderr):
        quantized = nncf.quantize(
            ov.Core().read_model(str(fp32)),
            nncf.Dataset(feeds),
            model_type=nncf.ModelType.TRANSFORMER,
            subset_size=len(feeds),
            advanced_parameters=advanced,
        )
    ov.save_model(quantized, out)
    fp32.unlink()


def quiet_nncf() -> Any:
    """NNCF, with its telemetry stubbed even if someone imported it before
    :func:`index.encoder.backends.require`."""
    with telemetry_off():
        import nncf
        from nncf.telemetry import decorator, wrapper
    decorator.telemetry = wrapper.telemetry = wrapper.NNCFTelemetryStub()
    return nncf


BACKEND = OpenVINOInt8()
