"""The reader: a cross-encoder that reads a question with one candidate sentence and judges it.

Retrieval embeds the question and the sentence apart, so it cannot tell a sentence that answers
from one on the same subject. The reader reads both together (e5-small's lower layers, frozen,
plus top layers and two small heads trained by ``scripts/train_reader.py`` on AAQAD) and gives,
for each candidate sentence:

* ``score``: a logit, used to rerank the retrieved candidates;
* ``probability``: that logit calibrated (Platt scaling on a held-out slice of AAQAD-train);
* ``span``: the answer phrase as character offsets into the sentence, or None.

It never rewrites text: a span is a pair of offsets into the sentence it was given.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from index.encoder.cache import file_sha256

WEIGHTS_DIR = Path(__file__).resolve().parent / "reader_weights"
WEIGHTS_FILE = "reader.safetensors"
CONFIG_FILE = "reader.json"
QUESTION_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "
#: Longest answer phrase the span decoder returns, in tokens.
MAX_ANSWER_TOKENS = 30
#: Subtracted from a span's start + end logit per token beyond its first: the trained heads
#: favour phrases a little longer than the gold ones. Fitted on XQuAD-ar's eval half with each
#: question read beside its gold sentence (bench/span_decoding.py, BENCHMARKS.md section 6).
LENGTH_PENALTY = 0.05
# Reading pads each batch to a multiple of this many tokens (Reader.pad_multiple): the int8
# runtime compiles kernels for each new input shape (~60 ms on this machine) and keeps 64, so a
# handful of shape buckets beat exact lengths, which nearly every question changes (BENCHMARKS.md
# section 6: ask p50 90 -> 70 ms, p95 340 -> 90 ms on the full ANT index).
PAD_MULTIPLE = 32


class ReaderError(RuntimeError):
    """The reader's weights are missing, damaged or made for another base model."""


@dataclass(frozen=True, slots=True)
class ReaderConfig:
    """What the weights file needs to be used: its base, shape, limits and calibration."""

    base_fingerprint: str
    top_layers: int
    max_question_tokens: int = 64
    max_length: int = 192
    #: Platt scaling of the answer logit: probability = sigmoid(scale * logit + bias).
    scale: float = 1.0
    bias: float = 0.0
    sha256: str = ""
    trained: dict = field(default_factory=dict)
    #: How the assistant uses these weights, fitted for them by bench/fit_reader_use.py:
    #: ``retrieval_weight`` (fusion), ``min_probability`` and ``min_probability_latin``
    #: (answer thresholds). Missing keys fall back to qa.rerank / qa.answer.Policy defaults.
    use: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2)


@dataclass(frozen=True, slots=True)
class Reading:
    """The reader's verdict on one (question, sentence) pair."""

    score: float
    probability: float
    #: (start, end) character offsets of the answer phrase in the sentence, or None.
    span: tuple[int, int] | None


def passage_text(title: str, sentence: str) -> tuple[str, int]:
    """The second segment the reader sees, and where the sentence starts in it."""
    title = " ".join(title.split())
    head = f"{PASSAGE_PREFIX}{title}\n" if title and title != " ".join(sentence.split()) else (
        PASSAGE_PREFIX
    )
    return head + sentence, len(head)


def encode_pairs(tokenizer, questions: Sequence[str], passages: Sequence[tuple[str, str]],
                 config: ReaderConfig, pad_to_multiple_of: int | None = None):
    """Tokenize (question, headline + sentence) pairs for the reader (padded to the longest,
    rounded up to ``pad_to_multiple_of`` tokens when given).

    Returns the tokenizer's batch (PyTorch tensors, with offsets) and, per pair, a boolean
    mask of the tokens that belong to the sentence itself (where a span may lie) and the
    sentence's start inside the passage text.
    """
    firsts, seconds, starts = [], [], []
    clipped: dict[str, str] = {}  # a question is usually read with all its candidates
    for q, (title, sentence) in zip(questions, passages, strict=True):
        if q not in clipped:
            clipped[q] = QUESTION_PREFIX + _clip_question(tokenizer, q, config.max_question_tokens)
        firsts.append(clipped[q])
        text, start = passage_text(title, sentence)
        seconds.append(text)
        starts.append(start)
    batch = tokenizer(
        firsts, seconds, padding=True, truncation="only_second", max_length=config.max_length,
        pad_to_multiple_of=pad_to_multiple_of, return_offsets_mapping=True, return_tensors="pt",
    )
    offsets = batch.pop("offset_mapping").numpy()
    masks = np.zeros(offsets.shape[:2], dtype=bool)
    # A token belongs to the sentence when it ends inside it: the sentence's first token starts
    # one character early (it carries the break after the headline), and best_span clamps it.
    for i, start in enumerate(starts):
        seq = batch.sequence_ids(i)
        for t, s in enumerate(seq):
            if s == 1 and offsets[i, t, 1] > offsets[i, t, 0] and offsets[i, t, 1] > start:
                masks[i, t] = True
    return batch, offsets, masks, starts


def _clip_question(tokenizer, question: str, limit: int) -> str:
    """The question cut to ``limit`` tokens (at a token boundary, so no text is invented)."""
    enc = tokenizer(question, add_special_tokens=False, return_offsets_mapping=True)
    if len(enc["input_ids"]) <= limit:
        return question
    return question[: enc["offset_mapping"][limit - 1][1]]


def best_span(start_logits: np.ndarray, end_logits: np.ndarray, mask: np.ndarray,
              offsets: np.ndarray, sentence_start: int, sentence: str, *,
              length_penalty: float = LENGTH_PENALTY, words: bool = True) -> tuple[int, int] | None:
    """The highest-scoring (start <= end) token span within ``mask``, as character offsets
    into ``sentence``, widened to whole words (unless ``words`` is false) and trimmed of
    surrounding spaces and punctuation; None if none fits. A span scores start + end logit
    minus ``length_penalty`` per token beyond its first."""
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return None
    s, e = start_logits[idx], end_logits[idx]
    pos = np.arange(len(idx))
    extra = pos[None, :] - pos[:, None]
    total = s[:, None] + e[None, :] - length_penalty * extra
    total = np.where((extra >= 0) & (extra < MAX_ANSWER_TOKENS), total, -np.inf)
    i, j = np.unravel_index(int(np.argmax(total)), total.shape)
    a = int(offsets[idx[i], 0]) - sentence_start
    b = int(offsets[idx[j], 1]) - sentence_start
    a, b = max(a, 0), min(b, len(sentence))
    if words:
        a, b = whole_words(sentence, a, b)
    return trim_span(sentence, a, b)


def _in_word(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LNM"  # letters, digits, marks (tashkeel)


_NUMBER_SEPARATORS = ".,\u066b\u066c"  # 75.8, 1,000 and their Arabic forms


def _joined(text: str, i: int) -> bool:
    """Whether text[i - 1] and text[i] belong to one word (or one number like 75.8)."""
    if i <= 0 or i >= len(text):
        return False
    left, right = text[i - 1], text[i]
    if _in_word(left) and _in_word(right):
        return True
    if right in _NUMBER_SEPARATORS:
        return left.isdigit() and i + 1 < len(text) and text[i + 1].isdigit()
    return left in _NUMBER_SEPARATORS and right.isdigit() and i >= 2 and text[i - 2].isdigit()


def whole_words(text: str, start: int, end: int) -> tuple[int, int]:
    """(start, end) widened so that neither edge cuts a word: subword tokens can end inside
    one ("جس" of "جسرٍ", a word's final tashkeel, "8%" of "75.8%")."""
    if end <= start:
        return start, end
    while _joined(text, start):
        start -= 1
    while _joined(text, end):
        end += 1
    return start, end


_EDGE = " \t\n\u00a0.,،؛;:!?؟()[]{}«»\"'“”‘’-–—"


def trim_span(text: str, start: int, end: int) -> tuple[int, int] | None:
    """(start, end) narrowed past spaces and punctuation at either edge; None if empty."""
    while start < end and text[start] in _EDGE:
        start += 1
    while end > start and text[end - 1] in _EDGE:
        end -= 1
    return (start, end) if end > start else None


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


# -- the network ------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _net_class():
    import torch

    class _ReaderNet(torch.nn.Module):
        """e5-small with an answerability head on <s> and a start/end head on every token."""

        def __init__(self, base) -> None:
            super().__init__()
            self.base = base
            hidden = base.config.hidden_size
            self.answer = torch.nn.Linear(hidden, 1)
            self.span = torch.nn.Linear(hidden, 2)

        def forward(self, input_ids, attention_mask, **_):
            h = self.base(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            start, end = self.span(h).unbind(-1)
            return self.answer(h[:, 0]).squeeze(-1), start, end

    return _ReaderNet


def ReaderNet(base):  # noqa: N802 - a class made lazily so importing qa.reader needs no torch
    return _net_class()(base)


# -- the runtime ---------------------------------------------------------------------------------
def load_config(weights_dir: Path) -> ReaderConfig:
    """The config beside the weights, after checking that both files exist and match."""
    cfg_path, weights = weights_dir / CONFIG_FILE, weights_dir / WEIGHTS_FILE
    restore = ("Restore it with `git checkout -- qa/reader_weights/` in the daleel checkout "
               "(or reinstall daleel), or retrain it: python scripts/train_reader.py")
    for path in (cfg_path, weights):
        if not path.is_file():
            raise ReaderError(f"The reader's file {path} is missing. {restore}")
    try:
        raw = json.loads(cfg_path.read_text(encoding="utf-8"))
        config = ReaderConfig(**raw)
    except (ValueError, TypeError) as exc:
        raise ReaderError(f"The reader's config {cfg_path} is unreadable ({exc}). {restore}") \
            from None
    if not config.sha256 or file_sha256(weights) != config.sha256:
        raise ReaderError(f"The reader's weights {weights} are damaged (sha256 does not match "
                          f"{cfg_path.name}). {restore}")
    return config


#: The reader's runtimes: the int8 export (default, as builds use) or the float32 network.
BACKENDS = ("openvino-int8", "torch")


class Reader:
    """Reads (question, sentence) pairs: a rerank score, a probability and an answer span.

    It runs over the bundled e5-small: when given the assistant's encoder for that model it
    shares its embeddings and lower layers (no second copy in memory) and adds its own top
    layers; otherwise it loads the bundled model itself. By default it runs the int8 export
    of that network (:mod:`qa.reader_int8`), made once and cached.
    """

    def __init__(self, run, tokenizer, config: ReaderConfig, *, backend: str = "torch",
                 batch_size: int = 16) -> None:
        self.run, self.tokenizer, self.config = run, tokenizer, config
        self.backend, self.batch_size = backend, batch_size
        self.pad_multiple: int | None = PAD_MULTIPLE
        # One read at a time: a fast tokenizer must not be re-configured by two threads at
        # once, and the int8 runtime has one request anyway (a question's pairs are one batch).
        self._lock = threading.Lock()

    @classmethod
    def load(cls, encoder=None, weights_dir: str | Path | None = None, *,
             backend: str = "openvino-int8") -> Reader:
        """The committed reader; raises ReaderError naming the file when it is missing,
        damaged, or made for another base model."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        from index.encoder import Encoder

        if backend not in BACKENDS:
            raise ValueError(f"reader backend must be one of {BACKENDS}, not {backend!r}")
        weights_dir = Path(weights_dir) if weights_dir else WEIGHTS_DIR
        config = load_config(weights_dir)
        if encoder is None or encoder.fingerprint != config.base_fingerprint:
            encoder = Encoder()  # the bundled base the reader was trained over
        if encoder.fingerprint != config.base_fingerprint:
            raise ReaderError(
                f"The reader in {weights_dir} was trained over base model "
                f"{config.base_fingerprint}, but the bundled model here is {encoder.fingerprint}. "
                "Retrain it for this model: python scripts/train_reader.py")
        try:
            state = load_file(str(weights_dir / WEIGHTS_FILE))
        except (SafetensorError, OSError) as exc:
            raise ReaderError(f"Cannot read {weights_dir / WEIGHTS_FILE}: {exc}") from None
        net = ReaderNet(_shared_base(encoder.transformer(), config.top_layers)).eval()
        load_trainable_frozen(net, state, config.top_layers)
        tokenizer = copy.deepcopy(encoder.tokenizer())  # its own: the encoder's is reconfigured
        if backend == "torch":
            return cls(net, tokenizer, config, backend=backend)
        from qa import reader_int8

        try:
            folder = reader_int8.ensure(net, tokenizer, config)
            run = reader_int8.Int8Net(folder)
        except (RuntimeError, OSError) as exc:
            raise ReaderError(f"Could not make or load the reader's int8 export: {exc}. Use the "
                              "float32 reader (Reader.load(backend='torch')) or reinstall the "
                              "pinned openvino and nncf (bash scripts/setup).") from exc
        return cls(run, tokenizer, config, backend=backend)

    def read(self, question: str, passages: Sequence[tuple[str, str]]) -> list[Reading]:
        """One Reading per (headline, sentence) passage, in order (thread-safe)."""
        with self._lock:
            return self._read(question, passages)

    def _read(self, question: str, passages: Sequence[tuple[str, str]]) -> list[Reading]:
        import torch

        out: list[Reading] = []
        for i in range(0, len(passages), self.batch_size):
            chunk = list(passages[i:i + self.batch_size])
            batch, offsets, masks, starts = encode_pairs(
                self.tokenizer, [question] * len(chunk), chunk, self.config, self.pad_multiple)
            with torch.inference_mode():
                answer, start, end = (np.asarray(x) for x in self.run(**batch))
            for k, (_, sentence) in enumerate(chunk):
                logit = float(answer[k])
                out.append(Reading(
                    score=logit,
                    probability=sigmoid(self.config.scale * logit + self.config.bias),
                    span=best_span(start[k], end[k], masks[k], offsets[k], starts[k],
                                   sentence)))
        return out


def _shared_base(model, top_layers: int):
    """A view of ``model`` whose top layers are fresh copies: embeddings and lower layers stay
    shared with the encoder (read-only at inference), so the reader costs its top layers only."""
    import torch

    layers = model.encoder.layer
    n = len(layers)
    if not 1 <= top_layers <= n:
        raise ReaderError(f"the reader needs {top_layers} top layers; the base has {n}")
    encoder = copy.copy(model.encoder)
    encoder.__dict__ = dict(model.encoder.__dict__)
    encoder._modules = dict(model.encoder._modules)
    encoder.layer = torch.nn.ModuleList(
        [*layers[: n - top_layers], *(copy.deepcopy(layer) for layer in layers[n - top_layers:])])
    base = copy.copy(model)
    base.__dict__ = dict(model.__dict__)
    base._modules = dict(model._modules)
    base.encoder = encoder
    return base


def load_trainable_frozen(net, state: dict, top_layers: int) -> None:
    """Put the trained tensors into ``net`` as float32, for inference. They must be exactly
    the top ``top_layers`` layers and the heads: nothing missing (no random head), nothing
    else (never the lower layers or embeddings the encoder shares)."""
    own = dict(net.named_parameters())
    n = len(net.base.encoder.layer)
    top = tuple(f"base.encoder.layer.{i}." for i in range(n - top_layers, n))
    expected = {k for k in own if k.startswith(top) or not k.startswith("base.")}
    if set(state) != expected:
        missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
        raise ReaderError(f"the reader weights do not fit the network: missing {missing[:3]}, "
                          f"unexpected {extra[:3]}")
    import torch

    with torch.no_grad():
        for k, v in state.items():
            if own[k].shape != v.shape:
                raise ReaderError(f"reader tensor {k} has shape {tuple(v.shape)}, "
                                  f"expected {tuple(own[k].shape)}")
            own[k].copy_(v.float())
