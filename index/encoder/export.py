"""Export a sentence-transformers model to int8 once, beside its folder, and load it from there.

Each int8 backend (:mod:`index.encoder.backends`) writes its own model files; this module
traces the float32 ONNX graph they start from, holds the built-in :data:`CALIBRATION_TEXTS`
(so that every machine exports the same model) and stamps the folder. An export is written to
a temporary sibling folder and renamed into place, beside the model folder (never inside it:
that would change the model's fingerprint), and reused afterwards.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from index.encoder import backends
from index.encoder.cache import default_cache_dir, ensure_folder
from index.encoder.runtime import STAMP, FastModel

logger = logging.getLogger(__name__)

#: Bump when an export's content changes: it is part of the export folder's name.
EXPORT_VERSION = 1
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")

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


def load(
    st: Any,
    backend: str,
    *,
    source_id: str,
    model_path: Path | None = None,
    name: str = "model",
) -> FastModel:
    """Export ``st`` for ``backend`` if not cached yet, and return a runner for it."""
    folder = ensure_export(st, backend, source_id=source_id, model_path=model_path, name=name)
    return FastModel.for_st(st, folder)


def export_dir(source_id: str, backend: str, model_path: Path | None, name: str) -> Path:
    """Where the export of one model (``source_id``: its fingerprint) for one backend lives."""
    root, stem = export_root(model_path, name)
    return root / f"{stem}.{backend}-{source_id[:12]}-v{EXPORT_VERSION}"


def export_root(model_path: Path | None, name: str) -> tuple[Path, str]:
    """The folder a model's exports go to (beside it, else the cache) and their name stem."""
    if model_path is not None and os.access(model_path.parent, os.W_OK):
        return model_path.parent, model_path.name
    return default_cache_dir(), re.sub(r"[^\w.-]+", "_", name)


def ensure_export(
    st: Any, backend: str, *, source_id: str, model_path: Path | None = None, name: str = "model"
) -> Path:
    """Return the export folder of ``st`` for ``backend``, exporting once (~30 s for e5-small)."""
    implementation = backends.implementation(backend)
    target = export_dir(source_id, backend, model_path, name)

    def make(tmp: Path) -> None:
        logger.info("Exporting the embedding model to %s at %s (once)", backend, target)
        inputs = implementation.export(st, tmp)
        stamp = {
            "export_version": EXPORT_VERSION,
            "backend": backend,
            "source_id": source_id,
            "inputs": inputs,
            **implementation.settings,
            "calibration_sha256": hashlib.sha256("\n".join(CALIBRATION_TEXTS).encode()).hexdigest(),
            "versions": _versions(backend),
        }
        # The stamp is written last: its presence marks the folder complete.
        (tmp / STAMP).write_text(json.dumps(stamp, indent=2), encoding="utf-8")

    return ensure_folder(target, STAMP, make, tmp_prefix=".exporting-")


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


def calibration(st: Any, names: list[str], batch: int = 8) -> list[dict[str, np.ndarray]]:
    prompts = dict(st.prompts or {})
    texts = [prompts.get("query", "") + t for t in CALIBRATION_TEXTS]
    texts += [prompts.get("document", prompts.get("passage", "")) + t for t in CALIBRATION_TEXTS]
    out = []
    for i in range(0, len(texts), batch):
        feats = st.preprocess(texts[i : i + batch])
        out.append({k: np.asarray(feats[k], np.int64) for k in names})
    return out


def export_onnx_fp32(st: Any, path: Path) -> list[str]:
    """Trace ``st`` (token tensors -> ``sentence_embedding``) into a float32 ONNX file."""
    module, names, example = _traceable(st)
    axes = {k: {0: "batch", 1: "tokens"} for k in names} | {"embedding": {0: "batch"}}
    trace_onnx(module, example, path, names, ["embedding"], axes)
    return names


def trace_onnx(module: Any, example: tuple[Any, ...], path: Path, inputs: list[str],
               outputs: list[str], axes: dict[str, dict[int, str]]) -> None:
    """Trace a torch module into a float32 ONNX file (opset 17, dynamic batch and length)."""
    import torch

    # The tracer warns about shape checks it freezes (pooling, masks); they hold for every
    # batch and length, as the float32 comparisons in tests/index/encoder/test_runtime.py check.
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, example, str(path), dynamo=False, opset_version=17,
                          input_names=inputs, output_names=outputs, dynamic_axes=axes)


def _versions(backend: str) -> dict[str, str]:
    from importlib.metadata import version

    pkgs = backends.spec(backend).packages
    return {p: version(p) for p in ("torch", "sentence-transformers", *pkgs)}

