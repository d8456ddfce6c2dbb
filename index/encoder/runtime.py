"""Run an int8 export of a sentence-transformers model on the CPU: :class:`FastModel`.

:class:`index.encoder.Encoder` uses it for the int8 backends (:mod:`index.encoder.backends`);
:mod:`index.encoder.export` makes the export once. Tokenization, prompts and truncation stay
those of the loaded ``SentenceTransformer``; the backend only runs the network.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index.encoder import backends

#: Tokens per int8 batch (padding included), and the most texts in one (FastModel.encode).
BATCH_TOKENS = 2048
MAX_BATCH = 128
#: An export folder's description, written last by index.encoder.export: its presence marks it
#: complete.
STAMP = "daleel-export.json"


#: Threads for the int8 runtime, when set (a positive integer): what a Ray actor sets to the CPUs
#: it was given, and what a shared server can set to leave cores to others.
THREADS_ENV = "DALEEL_THREADS"


def threads() -> int:
    """``$DALEEL_THREADS`` when set, else :func:`physical_cores`."""
    value = _threads_env()
    if value:
        try:
            if (n := int(value)) >= 1:
                return n
        except ValueError:
            pass
        raise ValueError(f"{THREADS_ENV}={value!r}: give a whole number of threads, at least 1, "
                         "or unset it to use every physical core")
    return physical_cores()


def pin_threads() -> bool:
    """Whether the runtime may pin its threads to cores: only while this process owns the
    machine. With ``$DALEEL_THREADS`` set it holds a share, and every process that pins starts
    at the same first core: two single-thread Ray actors on one machine then share one core
    (each ran at ~44% of a core, BENCHMARKS.md section 11) while the other idles."""
    return not _threads_env()


def _threads_env() -> str:
    return os.environ.get(THREADS_ENV, "").strip()


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


#: ``preprocess(texts, prompt)`` -> token arrays by input name (right-padded), as
#: sentence-transformers' ``SentenceTransformer.preprocess`` gives them.
Preprocess = Callable[[list[str], "str | None"], Mapping[str, Any]]


class FastModel:
    """Runs an exported int8 model; tokenization and prompts come from ``preprocess`` (the
    loaded ``SentenceTransformer``'s, see :meth:`for_st`, or index.encoder.light's)."""

    def __init__(self, folder: Path, preprocess: Preprocess, dim: int, *,
                 right_padded: bool = True) -> None:
        stamp = json.loads((folder / STAMP).read_text(encoding="utf-8"))
        self.backend: str = stamp["backend"]
        self.inputs: list[str] = stamp["inputs"]
        self.folder = folder
        self._preprocess = preprocess
        self.dim = dim
        self.threads = threads()
        self._run = backends.implementation(self.backend, export=False).runner(folder,
                                                                               self.threads)
        # Batches are cut from one padded tensor by slicing off trailing padding columns, which
        # is only right when the tokenizer pads on the right (BERT-style ones all do).
        self._trim = right_padded

    @classmethod
    def for_st(cls, st: Any, folder: Path) -> FastModel:
        tokenizer = getattr(st, "tokenizer", None)
        return cls(folder, st.preprocess, int(st.get_embedding_dimension()),
                   right_padded=getattr(tokenizer, "padding_side", "right") == "right")

    def encode(
        self,
        texts: Sequence[str],
        prompt: str | None,
        batch_tokens: int = BATCH_TOKENS,
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
        feats = self._preprocess(list(texts), prompt or None)
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
        for idx, vecs in zip(picks, self._run(feeds, len(picks)), strict=True):
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
