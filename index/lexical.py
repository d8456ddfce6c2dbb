"""Arabic lexical retrieval: analysis, and the BM25 postings of one segment (row-id based for
fusion with FAISS).

Analysis is clean -> tokenize -> drop stopwords -> Snowball stem -> fold letters. Stemming and
stopwords were worth 5-9 recall points in our runs, letter folding only 1-2; the Snowball Arabic
stemmer needs ``ة`` intact, so letters are folded *after* stemming.

A :class:`LexicalIndex` stores raw term frequencies and row lengths, never BM25 weights: the
weights depend on the document frequencies and mean length of the whole index, which change
whenever a segment is added or an article deleted. :mod:`index.bm25` scores with statistics
summed over every live segment, so a segmented index scores exactly as one merged index.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import Stemmer

__all__ = ["LexicalIndex", "analyze", "normalize_arabic"]

# Bump when analysis changes: an index built by another analyzer would silently miss terms.
ANALYZER_VERSION = 1
FORMAT = "daleel.lexical"
#: 2: raw term frequencies and row lengths (1 stored bm25s weights; rebuilt).
FORMAT_VERSION = 2

_PRESENTATION = re.compile("[\ufb50-\ufdff\ufe70-\ufefe]+")
_DELETE = (
    list(range(0x0610, 0x061B))  # Quranic honorifics and small marks
    + list(range(0x064B, 0x0660))  # tashkeel (harakat, shadda, sukun, ...)
    + [0x0670, 0x0640, 0x061C, 0x00AD, 0xFEFF]  # dagger alef, tatweel, ALM, soft hyphen, BOM
    + list(range(0x06D6, 0x06EE))  # Quranic annotation marks
    + list(range(0x200B, 0x2010))  # ZWSP, ZWNJ, ZWJ, LRM, RLM
    + list(range(0x202A, 0x202F))  # bidi embeddings and overrides
    + list(range(0x2066, 0x206A))  # bidi isolates
)
_CLEAN = {cp: None for cp in _DELETE}
_CLEAN.update({0x0660 + i: str(i) for i in range(10)})  # Arabic-Indic digits
_CLEAN.update({0x06F0 + i: str(i) for i in range(10)})  # Extended (Persian) digits
_CLEAN_TABLE = str.maketrans(_CLEAN)

# Hamza seats and ta marbuta fold; alef maqsura is kept apart (see _stop_key).
_FOLD_HAMZA = {"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ؤ": "و", "ئ": "ي", "ة": "ه"}
_STOP_TABLE = str.maketrans(_FOLD_HAMZA)
# Full folding; ک and ی are the Persian code points often typed for ك and ي.
_FOLD_TABLE = str.maketrans({**_FOLD_HAMZA, "ى": "ي", "ک": "ك", "ی": "ي"})

_AR_LETTERS = "\u0620-\u065f\u066e-\u06d3\u06d5-\u06ff\u0750-\u077f\u08a0-\u08ff"
# Arabic letter runs, digit runs, other-letter runs: splits "بـCNN" and "2018م" at the seams,
# and splits everything on punctuation (، ؛ ؟ « » are not in any class).
_TOKEN = re.compile(rf"[{_AR_LETTERS}]+|\d+|(?:[^\W\d_{_AR_LETTERS}]|[\u0300-\u036f])+")

_AR_STOP = """
في من على عن إلى الى حتى مع منذ عند لدى بين خلال حول ضد دون نحو عبر قبل بعد أمام وراء فوق تحت
غير سوى مثل ضمن لكن لكنه لكنها بل أو أم ثم إذ إذا إذن إن أن لأن كأن لعل ليت كي لكي لا لم لن
ما ماذا لماذا متى أين كيف كم هل أي أية هو هي هم هن هما أنا نحن أنت أنتم أنتن ها هذا هذه هذان
هاتان هؤلاء ذلك تلك ذاك أولئك هنا هناك هنالك ثمة الذي التي الذين اللذين اللتين اللذان اللتان
اللاتي اللواتي اللائي كان كانت كانوا كن يكون تكون يكونوا أصبح أصبحت صار ليس ليست ليسوا قد
لقد كل كلا كلتا بعض جميع أيضا كذلك كما لما مما عما ممن عمن فيما بما لها له لهم لهن به بها
بهم بهن فيه فيها فيهم منه منها منهم عنه عنها عنهم عليه عليها عليهم إليه إليها إليهم معه معها
معهم بذلك لذلك كذا هكذا لهذا لهذه بهذا بهذه بأن بإن لأنه لأنها إنه إنها أنه أنها إنهم أنهم
إنما أنما حيث حين بينما عندما كلما طالما ريثما سوف يا أجل نعم بلى إلا ألا أما إما عدة تم يتم
جدا فقط حاليا الآن أمس غدا جانب إطار بشأن وفق وفقا طبقا تجاه لدن ذو ذات ذوي ذا يوجد توجد
"""
_EN_STOP = """
a an the of in on at to for from by with and or but is are was were be been being it its this
that these those as what who whom when where which why how did do does not no yes than then
so if into about over he she they we you i his her their our your them him us me my
"""
# Conjunctions glue onto words: وفي فإن ومن are stopwords too, والجنود is peeled before stemming.
_CONJ = ("و", "ف")


def _stop_key(token: str) -> str:
    """Hamza/ta-marbuta folded form for stopword lookup.

    ى is kept distinct on purpose: full folding would turn the name علي (Ali) into على (on).
    """
    return token.translate(_STOP_TABLE)


_STOPWORDS = frozenset(_stop_key(w) for w in (_AR_STOP + _EN_STOP).split())
_AR_STEM, _EN_STEM = Stemmer.Stemmer("arabic"), Stemmer.Stemmer("english")
# PyStemmer instances keep internal state and must not be called concurrently (UI threads).
_STEM_LOCK = threading.Lock()


def _clean(text: str) -> str:
    """Character-level cleanup that keeps letters as typed (the stemmer still sees ة)."""
    if _PRESENTATION.search(text):
        text = _PRESENTATION.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)
    return text.translate(_CLEAN_TABLE).lower()


def normalize_arabic(text: str) -> str:
    """Cleaned and letter-folded text, for matching only: lengths and offsets are not kept."""
    return _clean(text).translate(_FOLD_TABLE)


@lru_cache(maxsize=1 << 20)
def _term(token: str) -> str | None:
    """Index term for one cleaned token, or None for a stopword; cached because stemming is
    the cost and news vocabulary repeats heavily."""
    if token.isdigit():
        return token
    if len(token) < 2:  # stray letters: the و of "و الجيش", the ب left by "بـ"
        return None
    key = _stop_key(token)
    if key in _STOPWORDS or (key[0] in _CONJ and key[1:] in _STOPWORDS):
        return None
    if not "\u0620" <= token[0] <= "\u08ff":
        with _STEM_LOCK:
            return _EN_STEM.stemWord(token)
    # Snowball strips ال, بال, لل but not وال/فال (والجنود stayed whole); peel the conjunction
    # when at least three letters follow the article.
    if len(token) >= 6 and token[0] in _CONJ and token.startswith("ال", 1):
        token = token[1:]
    # Snowball removes one suffix layer per pass (مفاوضات -> مفاوضا); a second pass finishes
    # the job (+0.5-1.2 R@5 on XQuAD/TyDi-ar sentence retrieval).
    with _STEM_LOCK:
        stem = _AR_STEM.stemWord(_AR_STEM.stemWord(token))
    return stem.translate(_FOLD_TABLE)


def analyze(text: str) -> list[str]:
    """Terms of ``text``; the same function serves indexing and queries so both sides agree."""
    return [t for tok in _TOKEN.findall(_clean(text)) if (t := _term(tok)) is not None]


class LexicalIndex:
    """The postings of one segment: for each term, the rows holding it (ascending) and how
    often (``tf``), as a CSC matrix (one column per term), and each row's length in terms.

    Scores are BM25 (Lucene variant); :meth:`scores` and :meth:`coverage` score this index
    alone, :class:`index.bm25.Bm25` several segments together.
    """

    # k1=0.9, b=0.4 (the Anserini defaults) beat 1.5/0.75 by 2-6 points R@1 on XQuAD and TyDi
    # Arabic gold-sentence retrieval, with and without 50k news distractors: sentences are
    # short, so length normalization should bite less.
    K1 = 0.9
    B = 0.4
    METHOD = "lucene"

    def __init__(self, vocab: dict[str, int], indptr: np.ndarray, indices: np.ndarray,
                 tf: np.ndarray, lengths: np.ndarray) -> None:
        if len(indptr) != len(vocab) + 1 or len(indices) != len(tf) or indptr[-1] != len(tf):
            raise ValueError(f"postings do not fit: {len(vocab)} terms, {len(indptr)} column "
                             f"pointers, {len(indices)} rows, {len(tf)} frequencies")
        self.vocab = vocab
        self.indptr = np.asarray(indptr, np.int64)
        self.indices = np.asarray(indices, np.int32)
        self.tf = np.asarray(tf, np.uint16)
        self.lengths = np.asarray(lengths, np.int32)
        self._alone: Any = None

    @classmethod
    def build(cls, texts: Sequence[str]) -> LexicalIndex:
        """Analyze and index ``texts``; an empty sequence gives an index that matches nothing."""
        vocab: dict[str, int] = {}
        terms = [[vocab.setdefault(t, len(vocab)) for t in analyze(text)] for text in texts]
        lengths = np.fromiter((len(t) for t in terms), np.int32, len(terms))
        ids = np.fromiter((t for row in terms for t in row), np.int64, int(lengths.sum()))
        rows = np.repeat(np.arange(len(terms), dtype=np.int64), lengths)
        return cls.from_pairs(vocab, ids, rows, lengths)

    @classmethod
    def from_pairs(cls, vocab: dict[str, int], term_ids: np.ndarray, rows: np.ndarray,
                   lengths: np.ndarray, tf: np.ndarray | None = None) -> LexicalIndex:
        """From one ``(term id, row)`` pair per occurrence, or per posting with its ``tf``."""
        n = max(len(lengths), 1)
        key, inverse = np.unique(term_ids * n + rows, return_inverse=True)
        counts = (np.bincount(inverse, minlength=len(key)) if tf is None
                  else np.bincount(inverse, weights=tf, minlength=len(key)).astype(np.int64))
        per_term = np.bincount(key // n, minlength=len(vocab))
        indptr = np.concatenate([[0], np.cumsum(per_term)]).astype(np.int64)
        # A term repeated more than 65,535 times in one row weighs the same as 65,535 times
        # (tf / (tf + norm) is then 1 to float32 precision).
        return cls(vocab, indptr, key % n, np.minimum(counts, 65535), lengths)

    @classmethod
    def concat(cls, parts: Sequence[tuple[LexicalIndex, np.ndarray]]) -> LexicalIndex:
        """One index over the given rows of each part, in order (a merge of segments): the
        postings are remapped, never re-analyzed."""
        vocab: dict[str, int] = {}
        ids, rows, tfs, lengths, offset = [], [], [], [], 0
        for lex, keep in parts:
            new_row = np.full(len(lex), -1, np.int64)
            new_row[keep] = np.arange(len(keep)) + offset
            new_term = np.array([vocab.setdefault(t, len(vocab)) for t in lex.terms()], np.int64)
            term = np.repeat(new_term, np.diff(lex.indptr)) if len(new_term) else new_term
            alive = new_row[lex.indices] >= 0
            ids.append(term[alive])
            rows.append(new_row[lex.indices[alive]])
            tfs.append(lex.tf[alive].astype(np.int64))
            lengths.append(lex.lengths[keep])
            offset += len(keep)
        return cls.from_pairs(vocab, _cat(ids, np.int64), _cat(rows, np.int64),
                              _cat(lengths, np.int32), _cat(tfs, np.int64))

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def nbytes(self) -> int:
        """Bytes of the postings arrays (about what :meth:`save` writes)."""
        return int(self.indptr.nbytes + self.indices.nbytes + self.tf.nbytes
                   + self.lengths.nbytes)

    def terms(self) -> list[str]:
        """The vocabulary in column order."""
        return sorted(self.vocab, key=self.vocab.__getitem__)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every row (float32, length ``len(self)``); 0 where no term matches.

        A term repeated in the query counts once per occurrence, as in textbook BM25 and bm25s.
        """
        return self._single().scores(query)

    def coverage(self, query: str, rows: np.ndarray) -> np.ndarray:
        """IDF-weighted share of the query's distinct terms that each of ``rows`` contains."""
        return self._single().coverage(query, rows)

    def _single(self) -> Any:
        from index.bm25 import Bm25

        if self._alone is None:
            self._alone = Bm25([(self, np.arange(len(self), dtype=np.int64))])
        return self._alone

    def save(self, directory: Path) -> None:
        """Write plain .npy/.json files, via a temporary directory renamed into place."""
        directory = Path(directory)
        tmp = directory.with_name(f".{directory.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for name in ("indptr", "indices", "tf", "lengths"):
            np.save(tmp / f"{name}.npy", getattr(self, name), allow_pickle=False)
        (tmp / "vocab.json").write_text(json.dumps(self.terms(), ensure_ascii=False),
                                        encoding="utf-8")
        (tmp / "manifest.json").write_text(json.dumps(self._manifest(), indent=2), "utf-8")
        old = directory.with_name(f".{directory.name}.old-{os.getpid()}")
        if directory.exists():
            directory.rename(old)
        tmp.rename(directory)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def settings(cls) -> dict[str, object]:
        """Manifest keys that must match on load for scores to mean the same thing."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "analyzer_version": ANALYZER_VERSION,
            "k1": cls.K1,
            "b": cls.B,
            "method": cls.METHOD,
        }

    def _manifest(self) -> dict[str, object]:
        return {**self.settings(), "n_rows": len(self), "n_terms": len(self.vocab),
                "n_postings": int(len(self.tf))}

    @classmethod
    def load(cls, directory: Path) -> LexicalIndex:
        """Read an index written by :meth:`save`, refusing one built with other settings."""
        directory = Path(directory)
        manifest_path = directory / "manifest.json"
        if not manifest_path.is_file():
            raise FileNotFoundError(f"no lexical index at {directory} (manifest.json missing)")
        got = json.loads(manifest_path.read_text(encoding="utf-8"))
        for key, want in cls.settings().items():
            if got.get(key) != want:
                raise ValueError(
                    f"lexical index at {directory} has {key}={got.get(key)!r}, this code "
                    f"expects {want!r}; rebuild the index"
                )
        terms = json.loads((directory / "vocab.json").read_text(encoding="utf-8"))
        arrays = {n: np.load(directory / f"{n}.npy", allow_pickle=False)
                  for n in ("indptr", "indices", "tf", "lengths")}
        index = cls({t: i for i, t in enumerate(terms)}, **arrays)
        if len(index.tf) != got["n_postings"] or len(index) != got["n_rows"]:
            raise ValueError(f"lexical index at {directory} is truncated; rebuild it")
        return index


def _cat(arrays: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(arrays).astype(dtype) if arrays else np.zeros(0, dtype)
