"""Fast int8 encoding: export a sentence-transformers model once, then run it int8 on the CPU.

:class:`index.embed.Encoder` picks a backend by name. ``"openvino-int8"`` (chosen by
``bench/encode_speed.py``: fastest, and closest to float32) quantizes weights and activations to
int8 with NNCF, calibrated on the built-in :data:`CALIBRATION_TEXTS` so that every machine
exports the same model. ``"onnx-int8"`` is ONNX Runtime's dynamic int8 (no calibration).
The export is written to a temporary sibling folder and renamed into place, beside the model
folder (never inside it: that would change the model's fingerprint), and reused afterwards.
Tokenization, prompts and truncation stay those of the loaded ``SentenceTransformer``.
OpenVINO and NNCF phone home unless opted out; :func:`_telemetry_off` keeps them quiet.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

TORCH = "torch"
OPENVINO_INT8 = "openvino-int8"
ONNX_INT8 = "onnx-int8"
BACKENDS = (TORCH, OPENVINO_INT8, ONNX_INT8)
#: Bump when an export's content changes: it is part of the export folder's name.
EXPORT_VERSION = 1
SMOOTH_QUANT_ALPHA = 0.65  # see _export_openvino
#: Tokens per int8 batch (padding included), and the most texts in one (FastModel.encode).
BATCH_TOKENS = 2048
MAX_BATCH = 128
_STAMP = "daleel-export.json"
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
#: Per backend: the pyproject extra and its pinned packages (module name = package name).
_PACKAGES = {
    OPENVINO_INT8: ("fast", ("openvino==2026.4.1", "nncf==3.4.0", "onnx==1.23.2")),
    ONNX_INT8: ("onnx", ("onnxruntime==1.31.1", "onnx==1.23.2")),
}

#: Calibration for static int8: news-style Arabic of varied length, plus other scripts. Built in
#: (not drawn from the corpus being indexed) so the export, and so the vectors, are reproducible.
CALIBRATION_TEXTS = (
    "أعلنت وزارة الصحة تسجيل 215 إصابة جديدة بفيروس كورونا خلال الساعات الأربع والعشرين الماضية.",
    "قال رئيس الوزراء في مؤتمر صحفي إن الحكومة ستخفض الضرائب على الشركات الصغيرة العام المقبل.",
    "ارتفعت أسعار النفط بنسبة 3% بعد قرار أوبك خفض الإنتاج.",
    "فاز نادي الهلال على النصر بهدفين مقابل هدف في نهائي كأس الملك.",
    "افتتح معرض القاهرة الدولي للكتاب دورته الجديدة بمشاركة أكثر من 800 دار نشر عربية وأجنبية.",
    "حذرت الأرصاد الجوية من أمطار غزيرة وسيول محتملة في المناطق الجبلية مساء الخميس.",
    "وقّعت الإمارات والسعودية اتفاقية للتعاون في مجال الطاقة المتجددة.",
    "أكد المتحدث باسم الجيش أن العمليات العسكرية ستستمر حتى استعادة السيطرة على كامل المدينة، "
    "مشيراً إلى أن القوات تقدمت عدة كيلومترات خلال الأيام الثلاثة الماضية.",
    "تراجع مؤشر البورصة المصرية 1.2 في المئة وسط موجة بيع من المستثمرين الأجانب.",
    "أطلقت شركة ناشئة في عمّان تطبيقاً لتعليم البرمجة للأطفال باللغة العربية.",
    "عُقدت القمة العربية في الرياض بحضور قادة ورؤساء وفود اثنتين وعشرين دولة.",
    "من المتوقع أن يصل عدد الحجاج هذا العام إلى مليوني حاج من داخل المملكة وخارجها.",
    "فازت الروائية الجزائرية بجائزة البوكر العربية عن روايتها الأخيرة.",
    "كشفت دراسة حديثة أن النوم أقل من ست ساعات يومياً يزيد خطر الإصابة بأمراض القلب.",
    "متى تنتهي أعمال توسعة الميناء؟",
    "كم بلغ عدد سكان المغرب في آخر إحصاء؟",
    "من هو مدرب المنتخب التونسي؟",
    "أين تقام بطولة كأس العالم المقبلة؟",
    "نفى البنك المركزي الشائعات حول تغيير سعر صرف الدينار أمام الدولار.",
    "شارك آلاف المتظاهرين في مسيرة سلمية وسط العاصمة للمطالبة بإصلاحات اقتصادية وسياسية.",
    "أعلنت ناسا نجاح إطلاق المسبار الذي يحمل أجهزة لدراسة الغلاف الجوي للمريخ.",
    "بلغت صادرات الكويت من النفط الخام 2.1 مليون برميل يومياً في شهر مارس/آذار.",
    "قضت المحكمة بسجن المتهمين خمس سنوات بتهمة غسل الأموال والاحتيال.",
    "يستضيف مهرجان قرطاج السينمائي أفلاماً من أربعين دولة.",
    "تُعَدُّ القُدْسُ مِنْ أَقْدَمِ مُدُنِ العَالَمِ، وَفِيهَا مَعَالِمُ دِينِيَّةٌ وَتَارِيخِيَّةٌ كَثِيرَةٌ.",
    "في عام ٢٠٢٣ بلغ عدد الزوار ١٢٣٤٥ زائراً.",
    "قالت وكالة رويترز Reuters إن الصفقة تبلغ قيمتها 4 مليارات دولار.",
    "انخفضت درجات الحرارة إلى ما دون الصفر في عدد من المدن الأردنية.",
    "أوضح الوزير أن المشروع سيوفر نحو عشرة آلاف فرصة عمل للشباب خلال السنوات الخمس المقبلة، "
    "وأن المرحلة الأولى منه ستنتهي قبل نهاية العام الحالي، على أن تبدأ المرحلة الثانية في "
    "الربع الأول من العام المقبل بتمويل مشترك من القطاعين العام والخاص.",
    "سجل اللاعب هدف الفوز في الدقيقة التسعين.",
    "The central bank raised interest rates by a quarter of a percentage point on Wednesday.",
    "Le gouvernement a annoncé de nouvelles mesures pour soutenir les agriculteurs.",
    "😀 خبر سعيد للجماهير 🎉",
    "عاجل",
)


class FastBackendError(RuntimeError):
    """An export is unusable or failed; the message says what to do."""


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
    extra, pins = _PACKAGES[backend]
    for pin in pins:
        name = pin.split("==")[0]
        try:
            with _telemetry_off():
                __import__(name)
        except ImportError as exc:
            raise ImportError(
                f"The {backend!r} embedding backend needs the {name!r} package. Run: "
                f"pip install 'daleel[{extra}]'  (or: pip install {' '.join(pins)})"
            ) from exc


@contextlib.contextmanager
def _telemetry_off() -> Iterator[None]:
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


def export_dir(source_id: str, backend: str, model_path: Path | None, name: str) -> Path:
    """Where the export of one model (``source_id``: its fingerprint) for one backend lives."""
    if model_path is not None and os.access(model_path.parent, os.W_OK):
        root, stem = model_path.parent, model_path.name
    else:
        from index.model import default_cache_dir

        root, stem = default_cache_dir(), re.sub(r"[^\w.-]+", "_", name)
    return root / f"{stem}.{backend}-{source_id[:12]}-v{EXPORT_VERSION}"


def ensure_export(
    st: Any, backend: str, *, source_id: str, model_path: Path | None = None, name: str = "model"
) -> Path:
    """Return the export folder of ``st`` for ``backend``, exporting once (~30 s for e5-small)."""
    require(backend)
    target = export_dir(source_id, backend, model_path, name)
    if (target / _STAMP).is_file():
        return target
    if target.exists():  # no stamp: an interrupted export; never use it
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".exporting-", dir=target.parent))
    try:
        logger.info("Exporting the embedding model to %s at %s (once)", backend, target)
        inputs = _EXPORTERS[backend](st, tmp)
        stamp = {
            "export_version": EXPORT_VERSION,
            "backend": backend,
            "source_id": source_id,
            "inputs": inputs,
            "smooth_quant_alpha": SMOOTH_QUANT_ALPHA if backend == OPENVINO_INT8 else None,
            "calibration_sha256": hashlib.sha256("\n".join(CALIBRATION_TEXTS).encode()).hexdigest(),
            "versions": _versions(backend),
        }
        # The stamp is written last: its presence marks the folder complete.
        (tmp / _STAMP).write_text(json.dumps(stamp, indent=2), encoding="utf-8")
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / _STAMP).is_file():  # not another process finishing first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


class FastModel:
    """Runs an exported int8 model; tokenization and prompts come from the loaded ``st``."""

    def __init__(self, st: Any, folder: Path, *, threads: int | None = None) -> None:
        stamp = json.loads((folder / _STAMP).read_text(encoding="utf-8"))
        self.backend: str = stamp["backend"]
        self.inputs: list[str] = stamp["inputs"]
        self.folder = folder
        self._st = st
        self.dim = int(st.get_embedding_dimension())
        self.threads = threads or physical_cores()
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


def load(
    st: Any,
    backend: str,
    *,
    source_id: str,
    model_path: Path | None = None,
    name: str = "model",
    threads: int | None = None,
) -> FastModel:
    """Export ``st`` for ``backend`` if not cached yet, and return a runner for it."""
    folder = ensure_export(st, backend, source_id=source_id, model_path=model_path, name=name)
    return FastModel(st, folder, threads=threads)


# --- export ------------------------------------------------------------------------------


def _traceable(st: Any) -> tuple[Any, list[str], tuple[Any, ...]]:
    """A torch module mapping token tensors to ``sentence_embedding``, its inputs and example."""
    import torch

    feats = st.preprocess(["query: مثال قصير", "passage: نص أطول قليلاً للتجربة"])
    names = [k for k in _INPUTS if isinstance(feats.get(k), torch.Tensor)]

    class Embedder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.st = st

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            return self.st(dict(zip(names, tensors, strict=True)))["sentence_embedding"]

    return Embedder().eval(), names, tuple(feats[k] for k in names)


def _calibration(st: Any, names: list[str], batch: int = 8) -> list[dict[str, np.ndarray]]:
    prompts = dict(st.prompts or {})
    texts = [prompts.get("query", "") + t for t in CALIBRATION_TEXTS]
    texts += [prompts.get("document", prompts.get("passage", "")) + t for t in CALIBRATION_TEXTS]
    out = []
    for i in range(0, len(texts), batch):
        feats = st.preprocess(texts[i : i + batch])
        out.append({k: np.asarray(feats[k], np.int64) for k in names})
    return out


def _export_onnx_fp32(st: Any, path: Path) -> list[str]:
    """Trace ``st`` (token tensors -> ``sentence_embedding``) into a float32 ONNX file."""
    import torch

    module, names, example = _traceable(st)
    axes = {k: {0: "batch", 1: "tokens"} for k in names} | {"embedding": {0: "batch"}}
    # The tracer warns about shape checks it freezes (pooling, masks); they hold for every
    # batch and length, as the float32 comparisons in tests/index/test_fast.py check.
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            example,
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=names,
            output_names=["embedding"],
            dynamic_axes=axes,
        )
    return names


def _export_openvino(st: Any, out: Path) -> list[str]:
    import openvino as ov

    nncf = _quiet_nncf()
    from nncf.quantization.advanced_parameters import (
        AdvancedQuantizationParameters,
        AdvancedSmoothQuantParameters,
    )

    fp32 = out / "model-fp32.onnx"
    # Through ONNX rather than ov.convert_model: the converter sends usage telemetry.
    names = _export_onnx_fp32(st, fp32)
    data = _calibration(st, names)
    # SmoothQuant alpha 0.65 (NNCF's transformer default is 0.95): mean cosine to float32 over
    # 256 news sentences 0.9990 instead of 0.9955; 0.6-0.75 are all within 0.0002 of it.
    advanced = AdvancedQuantizationParameters(
        smooth_quant_alphas=AdvancedSmoothQuantParameters(matmul=SMOOTH_QUANT_ALPHA)
    )
    quantized = nncf.quantize(
        ov.Core().read_model(str(fp32)),
        nncf.Dataset(data),
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(data),
        advanced_parameters=advanced,
    )
    ov.save_model(quantized, out / "model.xml")
    fp32.unlink()
    return names


def _export_onnx(st: Any, out: Path) -> list[str]:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32 = out / "model-fp32.onnx"
    names = _export_onnx_fp32(st, fp32)
    # Per-channel weights: per-tensor int8 drops the mean cosine to float32 from 0.996 to 0.985.
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


def _quiet_nncf() -> Any:
    """NNCF, with its telemetry stubbed even if someone imported it before :func:`require`."""
    with _telemetry_off():
        import nncf
        from nncf.telemetry import decorator, wrapper
    decorator.telemetry = wrapper.telemetry = wrapper.NNCFTelemetryStub()
    return nncf


def _versions(backend: str) -> dict[str, str]:
    from importlib.metadata import version

    pkgs = [pin.split("==")[0] for pin in _PACKAGES[backend][1]]
    return {p: version(p) for p in ("torch", "sentence-transformers", *pkgs)}


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


_EXPORTERS: dict[str, Callable[[Any, Path], list[str]]] = {
    OPENVINO_INT8: _export_openvino,
    ONNX_INT8: _export_onnx,
}
_RUNNERS = {OPENVINO_INT8: _run_openvino, ONNX_INT8: _run_onnx}
