"""The light passage encoder (index/encoder/light.py): used only while its record still holds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from index.encoder import OPENVINO_INT8, TORCH
from index.encoder.encoder import fingerprint
from index.encoder.light import PROBES, RECORD_VERSION, find_light, record_path
from index.encoder.runtime import STAMP

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "passage", ":", "خبر", "عن", "النفط"]


def make_model(root: Path) -> tuple[Path, dict]:
    """A model folder with a tiny word-level tokenizer, its export's stamp, and the record the
    full Encoder would write for them (probe ids made by the tokenizers library directly)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    path = root / "tiny-model"
    path.mkdir(parents=True)
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tok.save(str(path / "tokenizer.json"))
    (path / "config.json").write_text(json.dumps({"hidden_size": 8}), "utf-8")
    settings = {"dim": 8, "query_prompt": "query: ", "passage_prompt": "passage: ",
                "max_seq_length": 16}
    fp = fingerprint(str(path), path=path, **settings)
    export = root / "tiny-model.openvino-int8-export"
    export.mkdir()
    (export / STAMP).write_text(json.dumps({"source_id": fp, "backend": OPENVINO_INT8,
                                            "inputs": ["input_ids", "attention_mask"]}), "utf-8")
    tok.enable_truncation(16)
    probe = [tok.encode("passage: " + t).ids for t in PROBES]
    record = {"version": RECORD_VERSION, "name": str(path), "fingerprint": fp,
              "backend": OPENVINO_INT8, "export": str(export), "pad_id": 0, "probe": probe,
              **settings}
    record_path(path, OPENVINO_INT8, str(path)).write_text(json.dumps(record), "utf-8")
    return path, record


def test_a_matching_record_gives_the_light_encoder(tmp_path) -> None:
    path, record = make_model(tmp_path)
    light = find_light(path, OPENVINO_INT8)
    assert light is not None and light.fingerprint == record["fingerprint"]
    assert (light.dim, light.backend, light.name) == (8, OPENVINO_INT8, str(path))
    feats = light.preprocess(["خبر عن النفط", "النفط"], "passage: ")
    assert feats["input_ids"].tolist() == [[2, 4, 5, 6, 7, 8, 3], [2, 4, 5, 8, 3, 0, 0]]
    assert feats["attention_mask"].tolist() == [[1] * 7, [1, 1, 1, 1, 1, 0, 0]]
    assert not feats["token_type_ids"].any()
    long = light.preprocess(["خبر " * 100], "passage: ")["input_ids"]
    assert long.shape == (1, 16) and long[0, -1] == 3  # truncated at the length cap


@pytest.mark.parametrize("change", ["model-file", "probe", "export", "version", "no-record"])
def test_anything_changed_falls_back_to_the_full_encoder(tmp_path, change) -> None:
    path, record = make_model(tmp_path)
    where = record_path(path, OPENVINO_INT8, str(path))
    if change == "model-file":  # another model in the same folder: another fingerprint
        (path / "config.json").write_text(json.dumps({"hidden_size": 16}), "utf-8")
    elif change == "probe":  # the tokenizers library splits a probe otherwise
        where.write_text(json.dumps({**record, "probe": [[2, 3]] * len(PROBES)}), "utf-8")
    elif change == "export":  # re-exported for another model
        stamp = Path(record["export"]) / STAMP
        stamp.write_text(json.dumps({**json.loads(stamp.read_text()), "source_id": "x"}))
    elif change == "version":
        where.write_text(json.dumps({**record, "version": RECORD_VERSION + 1}), "utf-8")
    else:
        where.unlink()
    assert find_light(path, OPENVINO_INT8) is None


def test_the_float32_path_has_no_light_encoder(tmp_path) -> None:
    path, _ = make_model(tmp_path)
    assert find_light(path, TORCH) is None


@pytest.mark.slow
def test_light_and_full_int8_encoders_give_identical_vectors() -> None:
    """The real model: after the full int8 Encoder has run once, a build embeds through the
    light path, with the same fingerprint and the same vectors, bit for bit."""
    from index.encoder import Encoder
    from index.encoder.light import LightEncoder, passage_encoder
    from tests.index.encoder.test_runtime import TEXTS

    full = Encoder(backend=OPENVINO_INT8)  # writes the record
    light = passage_encoder(backend=OPENVINO_INT8)
    assert isinstance(light, LightEncoder) and light.fingerprint == full.fingerprint
    texts = [*TEXTS, *PROBES]
    np.testing.assert_array_equal(light.encode_passages(texts), full.encode_passages(texts))
