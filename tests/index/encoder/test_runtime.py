"""The int8 backends (index/encoder/runtime.py): near-identical vectors, cached export, clear
errors."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from index.encoder import (
    ONNX_INT8,
    OPENVINO_FP32,
    OPENVINO_INT8,
    TORCH,
    Encoder,
    backends,
    export,
    runtime,
)
from tests.conftest import REPO

# Own sentences, none of them in export.CALIBRATION_TEXTS.
TEXTS = [
    "ويصل عدد الجنود غير الأميركيين في العراق إلى 2400 شخص بحسب بيان وزارة الدفاع.",
    "أعلنت الحكومة العراقية أنها ستبدأ محادثات رسمية مع الولايات المتحدة الأسبوع المقبل.",
    "فاز المنتخب المغربي على نظيره الإسباني بركلات الترجيح في الدور ثمن النهائي.",
    "قال وزير الخارجية إن المفاوضات مستمرة منذ عدة أشهر ولم تصل بعد إلى اتفاق نهائي.",
    "سجلت الليرة التركية تراجعاً جديداً أمام الدولار في تعاملات الصباح.",
    "افتتحت بلدية دبي حديقة عامة جديدة على مساحة خمسين ألف متر مربع.",
    "يعاني سكان القرى النائية من نقص حاد في المياه الصالحة للشرب خلال أشهر الصيف.",
    "تستعد الجامعة لاستقبال أكثر من عشرين ألف طالب جديد مع بداية العام الدراسي.",
    "أدى الزلزال الذي ضرب المنطقة فجر الأحد إلى انهيار عشرات المنازل القديمة.",
    "أصدر الفنان ألبومه الجديد الذي يضم اثنتي عشرة أغنية باللهجة الخليجية.",
    "ناقش البرلمان مشروع قانون يهدف إلى حماية البيانات الشخصية للمواطنين.",
    "ارتفع عدد السياح الوافدين إلى مصر بنسبة 15% مقارنة بالعام الماضي.",
    "أكدت الشرطة القبض على عصابة متخصصة في سرقة السيارات الفاخرة.",
    "تحتفل المدينة بمرور مئة عام على تأسيس أول مدرسة للبنات فيها.",
    "حصل الباحث السعودي على براءة اختراع لجهاز يقيس نسبة السكر في الدم دون وخز.",
    "كم عدد الجنود غير الأمريكيين في العراق؟",
    "متى اتفقت بغداد وواشنطن على سحب القوات؟",
    "تُعَدُّ دِمَشْقُ مِنْ أَقْدَمِ العَوَاصِمِ المَأْهُولَةِ فِي العَالَمِ.",
    "قالت BBC News إن الـ CEO استقال بعد اجتماع مجلس الإدارة.",
    "عام ٢٠٢٣ بلغ عدد المشاركين ١٢٣٤٥ مشاركاً",
]


@pytest.fixture(scope="session")
def int8_encoder() -> Encoder:
    """The real model on the OpenVINO int8 path (exported once, beside the model folder)."""
    _require_or_skip(OPENVINO_INT8)  # not importorskip: openvino phones home on import
    return Encoder(backend=OPENVINO_INT8)


def _require_or_skip(backend: str) -> None:
    try:
        backends.require(backend)
    except ImportError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, encoder: Encoder) -> Path:
    """A small random-weight BERT sentence-transformers folder: any folder must work."""
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel

    root = tmp_path_factory.mktemp("tiny") / "tiny-bert"
    config = BertConfig(
        vocab_size=250037,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(root)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(encoder.path / name, root / name)
    word = models.Transformer(str(root), max_seq_length=128)
    st = SentenceTransformer(modules=[word, models.Pooling(32, "mean"), models.Normalize()])
    st.save(str(root))
    return root


@pytest.mark.slow
def test_int8_passages_match_float32(int8_encoder: Encoder, encoder: Encoder) -> None:
    fast_vecs = int8_encoder.encode_passages(TEXTS)
    ref = encoder.encode_passages(TEXTS)
    assert fast_vecs.dtype == np.float32 and fast_vecs.shape == ref.shape
    assert np.allclose(np.linalg.norm(fast_vecs, axis=1), 1.0, atol=1e-5)
    cos = np.sum(fast_vecs * ref, axis=1)
    assert cos.min() >= 0.99, list(zip(TEXTS, cos.round(4), strict=True))
    assert cos.mean() >= 0.995
    # Alone (batch of one, no padding) as in a batch: the exported graph handles any shape.
    alone = int8_encoder.encode_passages(TEXTS[-1:])
    assert float(alone[0] @ fast_vecs[-1]) >= 0.9999


@pytest.mark.slow
def test_int8_queries_match_float32(int8_encoder: Encoder, encoder: Encoder) -> None:
    # Queries take the int8 path too: twice as fast for one question, same Recall@5.
    cos = np.sum(int8_encoder.encode_queries(TEXTS) * encoder.encode_queries(TEXTS), axis=1)
    assert cos.min() >= 0.99, list(zip(TEXTS, cos.round(4), strict=True))


@pytest.mark.slow
def test_same_fingerprint_backend_recorded(int8_encoder: Encoder, encoder: Encoder) -> None:
    assert int8_encoder.fingerprint == encoder.fingerprint
    assert (int8_encoder.backend, encoder.backend) == (OPENVINO_INT8, TORCH)
    assert encoder.fast is None
    assert int8_encoder.encode_passages([]).shape == (0, encoder.dim)
    assert int8_encoder.encode_queries([]).shape == (0, encoder.dim)


@pytest.mark.slow
def test_float32_twin_shares_the_model(int8_encoder: Encoder, encoder: Encoder) -> None:
    twin = int8_encoder.float32()
    assert (twin.backend, twin.fast, twin._st) == (TORCH, None, int8_encoder._st)
    assert twin.fingerprint == int8_encoder.fingerprint and encoder.float32() is encoder
    assert int8_encoder.fast is not None  # the int8 encoder itself is unchanged
    np.testing.assert_allclose(twin.encode_queries(TEXTS[:4]), encoder.encode_queries(TEXTS[:4]),
                               atol=1e-5)


@pytest.mark.slow
def test_questions_take_openvino_float32_with_torchs_vectors(encoder: Encoder) -> None:
    asker = encoder.for_questions()
    assert (asker.backend, asker._st, asker.fingerprint) == (OPENVINO_FP32, encoder._st,
                                                              encoder.fingerprint)
    assert encoder.fast is None and asker.for_questions() is asker  # the torch one unchanged
    assert (asker.fast.folder / "daleel-export.json").is_file()
    cos = np.sum(asker.encode_queries(TEXTS) * encoder.encode_queries(TEXTS), axis=1)
    assert cos.min() >= 0.99999, list(zip(TEXTS, cos.round(6), strict=True))
    assert asker.encode_queries([]).shape == (0, encoder.dim)


@pytest.mark.slow
def test_questions_fall_back_to_torch_when_openvino_cannot_run(encoder: Encoder, monkeypatch,
                                                               caplog) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("export folder unreadable")

    monkeypatch.setattr(export, "load", broken)
    asker = encoder.for_questions()
    assert (asker.backend, asker.fast) == (TORCH, None)
    assert "export folder unreadable" in caplog.text and "torch path" in caplog.text
    np.testing.assert_array_equal(asker.encode_queries(TEXTS[:2]),
                                  encoder.encode_queries(TEXTS[:2]))


@pytest.mark.slow
def test_export_is_cached_beside_the_model(int8_encoder: Encoder, monkeypatch) -> None:
    folder = int8_encoder.fast.folder
    assert folder.parent == int8_encoder.path.parent  # beside, so the fingerprint is untouched
    assert (folder / "daleel-export.json").is_file()

    def no_export(st, out):
        raise AssertionError("exported again")

    monkeypatch.setattr(backends.implementation(OPENVINO_INT8), "export", no_export)
    again = export.ensure_export(
        int8_encoder._st,
        OPENVINO_INT8,
        source_id=int8_encoder.fingerprint,
        model_path=int8_encoder.path,
    )
    assert again == folder


@pytest.mark.slow
@pytest.mark.parametrize("backend", [OPENVINO_INT8, ONNX_INT8])
def test_any_sentence_transformers_folder(backend: str, tiny_model: Path) -> None:
    _require_or_skip(backend)
    ref = Encoder(str(tiny_model))
    enc = Encoder(str(tiny_model), backend=backend)
    assert enc.fast.folder.parent == tiny_model.parent
    cos = np.sum(enc.encode_passages(TEXTS) * ref.encode_passages(TEXTS), axis=1)
    assert cos.min() >= 0.98, cos


def test_unknown_backend_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"Unknown embedding backend 'tensorrt'.*openvino-int8"):
        Encoder(backend="tensorrt")  # fails before loading any model


def test_missing_package_names_the_pip_line(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "nncf", None)  # import nncf -> ImportError
    with pytest.raises(ImportError, match=r"pip install .*nncf"):
        Encoder(backend=OPENVINO_INT8)


def test_token_batches_cover_every_text_within_the_budget() -> None:
    lengths = np.sort(np.random.default_rng(0).integers(3, 300, size=1000))
    spans = runtime._token_batches(lengths, 2048)
    assert [lo for lo, _ in spans][1:] == [hi for _, hi in spans][:-1]
    assert spans[0][0] == 0 and spans[-1][1] == len(lengths)
    for lo, hi in spans:  # padded to the batch's longest text; one text always fits
        fits = (hi - lo) * lengths[hi - 1] <= 2048 and hi - lo <= runtime.MAX_BATCH
        assert hi - lo == 1 or fits
    assert runtime._token_batches(np.array([5000]), 2048) == [(0, 1)]


@pytest.mark.slow
def test_int8_encoder_used_in_bulk_can_be_freed(int8_encoder: Encoder) -> None:
    # The build frees its encoder after embedding. With Python completion callbacks, a stream
    # thread waiting for the GIL deadlocked that once in a full-corpus build (a race this small
    # run need not hit). A child process, so a hang fails instead of blocking the suite.
    code = (
        "import gc, sys; from index.encoder import Encoder; "
        f"e = Encoder(backend={OPENVINO_INT8!r}); "
        f"v = e.encode_passages({TEXTS!r} * 8); q = e.encode_queries(['سؤال']); "
        "del e; gc.collect(); print('freed', v.shape)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0 and "freed (160, 384)" in done.stdout, done.stderr[-2000:]


def test_a_share_of_the_machine_is_not_pinned_to_cores(monkeypatch) -> None:
    # Ray actors (and shared servers) set DALEEL_THREADS: pinning would put every such process
    # on the same first cores.
    monkeypatch.delenv(runtime.THREADS_ENV, raising=False)
    assert runtime.pin_threads() and runtime.threads() == runtime.physical_cores()
    monkeypatch.setenv(runtime.THREADS_ENV, "1")
    assert not runtime.pin_threads() and runtime.threads() == 1
    monkeypatch.setenv(runtime.THREADS_ENV, "two")
    with pytest.raises(ValueError, match="DALEEL_THREADS='two'"):
        runtime.threads()
