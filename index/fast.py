"""Fast int8 encoding: run a sentence-transformers model exported to int8 on the CPU.

:class:`index.embed.Encoder` picks a backend by name. ``"openvino-int8"`` (chosen by
``bench/encode_speed.py``: fastest, and closest to float32) is static int8 calibrated with NNCF;
``"onnx-int8"`` is ONNX Runtime's dynamic int8. :mod:`index.export` makes an export once;
:class:`FastModel` runs it. Tokenization, prompts and truncation stay those of the loaded
``SentenceTransformer``. OpenVINO and NNCF phone home unless opted out; :func:`telemetry_off`
keeps them quiet.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

TORCH = "torch"
OPENVINO_INT8 = "openvino-int8"
ONNX_INT8 = "onnx-int8"
BACKENDS = (TORCH, OPENVINO_INT8, ONNX_INT8)
#: Tokens per int8 batch (padding included), and the most texts in one (FastModel.encode).
BATCH_TOKENS = 2048
MAX_BATCH = 128
#: An export folder's description, written last by index.export: its presence marks it complete.
STAMP = "daleel-export.json"
#: Per backend: the pyproject extra and its pinned packages (module name = package name).
PACKAGES = {
    OPENVINO_INT8: ("fast", ("openvino==2026.4.1", "nncf==3.4.0", "onnx==1.23.2")),
    ONNX_INT8: ("onnx", ("onnxruntime==1.31.1", "onnx==1.23.2")),
}


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(
            f"Unknown embedding backend {backend!r}. Choose one of: {', '.join(BACKENDS)}."
        )
    return backend


def physical_cores() -> int:
    """Physical cores this process may use: int8 kernels gain nothing from SMT siblings."""
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    cores = set()
    for cpu in cpus:
        topo = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add(((topo / "physical_package_id").read_text(), (topo / "core_id").read_text()))
        except OSError:
            return len(cpus) or os.cpu_count() or 1
    return len(cores) or os.cpu_count() or 1


def require(backend: str) -> None:
    """Import the backend's packages, or raise ImportError naming the pip line."""
    if check_backend(backend) == TORCH:
        return
    extra, pins = PACKAGES[backend]
    for pin in pins:
        name = pin.split("==")[0]
        try:
            with telemetry_off():
                __import__(name)
        except ImportError as exc:
            raise ImportError(
                f"The {backend!r} embedding backend needs the {name!r} package. Run: "
                f"pip install 'daleel[{extra}]'  (or: pip install {' '.join(pins)})"
            ) from exc


@contextlib.contextmanager
def telemetry_off() -> Iterator[None]:
    """Unless the user opted out, ``import openvino`` sends a usage event to Google Analytics
    and NNCF one per call; both skip it in CI. So imports run with CI set, then it is restored."""
    saved = {key: os.environ.get(key) for key in ("CI", "NNCF_CI")}
    os.environ.update(CI="true", NNCF_CI="1")
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class FastModel:
    """Runs an exported int8 model; tokenization and prompts come from the loaded ``st``."""

    def __init__(self, st: Any, folder: Path) -> None:
        stamp = json.loads((folder / STAMP).read_text(encoding="utf-8"))
        self.backend: str = stamp["backend"]
        self.inputs: list[str] = stamp["inputs"]
        self.folder = folder
        self._st = st
        self.dim = int(st.get_embedding_dimension())
        self.threads = physical_cores()
        self._run = _RUNNERS[self.backend](folder, self.threads)
        # Batches are cut from one padded tensor by slicing off trailing padding columns, which
        # is only right when the tokenizer pads on the right (BERT-style ones all do).
        tokenizer = getattr(st, "tokenizer", None)
        self._trim = getattr(tokenizer, "padding_side", "right") == "right"

    def encode(
        self,
        texts: Sequence[str],
        prompt: str | None,
        batch_tokens: int = BATCH_TOKENS,
        show_progress: bool = False,
    ) -> np.ndarray:
        """L2-normalized float32 vectors, in input order.

        The texts are tokenized once, sorted by token count and cut into batches of about
        ``batch_tokens`` tokens: short texts go many to a batch, long ones few, and a batch
        carries almost no padding (+15-25% sentences/s over char-length sorting; budgets of
        1,024-2,048 tokens measured alike; BENCHMARKS.md).
        """
        out = np.empty((len(texts), self.dim), np.float32)
        if not len(texts):
            return out
        feats = self._st.preprocess(list(texts), prompt=prompt or None)
        arrays = {k: np.asarray(feats[k], np.int64) for k in self.inputs}
        lengths = arrays["attention_mask"].sum(axis=1)
        order = np.argsort(lengths, kind="stable")
        picks = [order[lo:hi] for lo, hi in _token_batches(lengths[order], batch_tokens)]
        feeds = (
            {
                k: np.ascontiguousarray(a[idx, : int(lengths[idx].max()) if self._trim else None])
                for k, a in arrays.items()
            }
            for idx in picks
        )
        for idx, vecs in zip(picks, self._run(feeds, len(picks), show_progress), strict=True):
            out[idx] = vecs
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


def _token_batches(sorted_lengths: np.ndarray, budget: int) -> list[tuple[int, int]]:
    """``(start, end)`` spans of ascending lengths, each padded to at most ``budget`` tokens
    (at least one text, at most :data:`MAX_BATCH` texts)."""
    spans, lo, n = [], 0, len(sorted_lengths)
    while lo < n:
        hi = lo + 1
        while hi < n and hi - lo < MAX_BATCH and (hi - lo + 1) * sorted_lengths[hi] <= budget:
            hi += 1
        spans.append((lo, hi))
        lo = hi
    return spans


# --- run ---------------------------------------------------------------------------------


Runner = Callable[[Iterable[dict[str, np.ndarray]], int, bool], list[np.ndarray]]


def _progress(feeds: Iterable[dict], n: int, show: bool) -> Iterable[dict]:
    from tqdm.auto import tqdm

    return tqdm(feeds, total=n, desc="Batches", disable=not show)


def _run_openvino(folder: Path, threads: int) -> Runner:
    """One batch (a query) runs on all cores at once; several (passages) run as one stream
    per core, each batch single-threaded: 14-24% more sentences/s on 2 cores, as the
    threads of one batch no longer wait for each other at every layer (BENCHMARKS.md)."""
    import openvino as ov

    common = {
        "INFERENCE_PRECISION_HINT": "f32",  # the bf16 default is no faster here, and varies by CPU
        # Kernels and buffers are kept per input shape; the default keeps 5,000 shapes, which
        # grew a full-corpus build by ~2 GB. Batches come sorted by length, so a few suffice.
        "CPU_RUNTIME_CACHE_CAPACITY": 16,
        "INFERENCE_NUM_THREADS": threads,
    }
    core, path = ov.Core(), str(folder / "model.xml")
    compiled: dict[str, Any] = {}  # each compiled on first use: a server never needs "bulk"

    def model(kind: str) -> Any:
        if kind not in compiled:
            hint = (
                {"PERFORMANCE_HINT": "LATENCY"}
                if kind == "one"
                else {"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": threads}
            )
            compiled[kind] = core.compile_model(path, "CPU", common | hint)
        return compiled[kind]

    request, lock = None, threading.Lock()  # one request, so one query at a time

    def run(feeds: Iterable[dict], n: int, show: bool) -> list[np.ndarray]:
        nonlocal request
        if n == 1:
            with lock:
                request = request or model("one").create_infer_request()
                return [np.array(request.infer(next(iter(feeds)))[0], dtype=np.float32)]
        # Plain requests taken in turn, no completion callbacks: a Python callback makes the
        # stream threads take the GIL, and freeing the model then deadlocks with them.
        bulk = model("bulk")
        requests = [bulk.create_infer_request() for _ in range(threads)]
        out: list[np.ndarray] = [np.empty(0)] * n
        pending: dict[int, int] = {}  # request slot -> batch number in flight there

        def collect(slot: int) -> None:
            requests[slot].wait()
            out[pending.pop(slot)] = np.array(requests[slot].get_output_tensor(0).data)

        for i, feed in enumerate(_progress(feeds, n, show)):
            slot = i % threads
            if slot in pending:
                collect(slot)
            requests[slot].start_async(feed)
            pending[slot] = i
        for slot in list(pending):
            collect(slot)
        return out

    return run


def _run_onnx(folder: Path, threads: int) -> Runner:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"]
    )
    return lambda feeds, n, show: [
        session.run(None, feed)[0].astype(np.float32) for feed in _progress(feeds, n, show)
    ]


_RUNNERS = {OPENVINO_INT8: _run_openvino, ONNX_INT8: _run_onnx}
