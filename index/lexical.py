"""Arabic lexical retrieval: a BM25 index over sentences, row-id based for fusion with FAISS.

Analysis is clean -> tokenize -> drop stopwords -> Snowball stem -> fold letters. Stemming and
stopwords were worth 5-9 recall points in our runs, letter folding only 1-2; the Snowball Arabic
stemmer needs ``ة`` intact, so letters are folded *after* stemming.
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

import bm25s
import numpy as np
import Stemmer

__all__ = ["LexicalIndex", "analyze", "normalize_arabic"]

# Bump when analysis changes: an index built by another analyzer would silently miss terms.
ANALYZER_VERSION = 1
FORMAT = "daleel.lexical"
FORMAT_VERSION = 1

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
    """BM25 (Lucene variant) over sentences; row i is the i-th text given to :meth:`build`.

    bm25s computes the per-(term, row) weights once at build time, so a query is a sum of
    precomputed posting weights. The weights are kept as a CSC matrix (one column per term).
    """

    # k1=0.9, b=0.4 (the Anserini defaults) beat 1.5/0.75 by 2-6 points R@1 on XQuAD and TyDi
    # Arabic gold-sentence retrieval, with and without 50k news distractors: sentences are
    # short, so length normalization should bite less.
    K1 = 0.9
    B = 0.4
    METHOD = "lucene"

    def __init__(
        self,
        vocab: dict[str, int],
        data: np.ndarray,
        indices: np.ndarray,
        indptr: np.ndarray,
        n_rows: int,
    ) -> None:
        if len(indptr) != len(vocab) + 1:
            raise ValueError(f"indptr has {len(indptr)} entries for {len(vocab)} terms")
        self._vocab = vocab
        self._data = data
        self._indices = indices
        self._indptr = indptr
        self._n = n_rows

    @classmethod
    def build(cls, texts: Sequence[str]) -> LexicalIndex:
        """Analyze and index ``texts``; an empty sequence gives an index that matches nothing."""
        vocab: dict[str, int] = {}
        rows = [[vocab.setdefault(t, len(vocab)) for t in analyze(text)] for text in texts]
        if not rows or not vocab:  # bm25s divides by the mean row length; nothing to weigh
            empty = np.zeros(0, dtype=np.float32)
            indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
            return cls(vocab, empty, np.zeros(0, dtype=np.int32), indptr, len(rows))
        bm25 = bm25s.BM25(k1=cls.K1, b=cls.B, method=cls.METHOD)
        bm25.index((rows, vocab), create_empty_token=False, show_progress=False)
        s = bm25.scores
        return cls(
            vocab,
            np.asarray(s["data"], dtype=np.float32),
            np.asarray(s["indices"], dtype=np.int32),
            np.asarray(s["indptr"], dtype=np.int64),
            len(rows),
        )

    def __len__(self) -> int:
        return self._n

    @property
    def nbytes(self) -> int:
        """Bytes of the postings arrays (about what :meth:`save` writes)."""
        return int(self._data.nbytes + self._indices.nbytes + self._indptr.nbytes)

    def _query_terms(self, query: str) -> tuple[np.ndarray, np.ndarray]:
        """Vocabulary ids of the query terms and how often each occurs in the query."""
        ids = [self._vocab[t] for t in analyze(query) if t in self._vocab]
        uniq, counts = np.unique(np.asarray(ids, dtype=np.int64), return_counts=True)
        return uniq, counts.astype(np.float32)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every row (float32, length ``len(self)``); 0 where no term matches.

        A term repeated in the query counts once per occurrence, as in textbook BM25 and bm25s.
        """
        out = np.zeros(self._n, dtype=np.float32)
        ids, counts = self._query_terms(query)
        for term, qtf in zip(ids.tolist(), counts.tolist(), strict=True):
            lo, hi = self._indptr[term], self._indptr[term + 1]
            # Rows within one CSC column are unique, so fancy-index += is exact (no np.add.at).
            out[self._indices[lo:hi]] += self._data[lo:hi] * np.float32(qtf)
        return out

    def coverage(self, query: str, rows: np.ndarray) -> np.ndarray:
        """IDF-weighted share of the query's distinct terms that each of ``rows`` contains.

        BM25 rewards a rare term matched twice; coverage rewards matching *all* the terms,
        which is what the sentence holding an answer tends to do (a ranking feature).
        """
        out = np.zeros(len(rows), dtype=np.float32)
        ids, _ = self._query_terms(query)
        if not len(ids) or not len(rows):
            return out
        df = (self._indptr[ids + 1] - self._indptr[ids]).astype(np.float32)
        idf = np.log1p((self._n - df + 0.5) / (df + 0.5))
        for term, weight in zip(ids.tolist(), idf.tolist(), strict=True):
            posting = self._indices[self._indptr[term] : self._indptr[term + 1]]
            out += weight * np.isin(rows, posting)
        # Query terms unknown to the index count in the denominator too: the corpus lacks them.
        unknown = len({t for t in analyze(query)}) - len(ids)
        total = float(idf.sum()) + unknown * float(np.log1p(self._n + 0.5))
        return out / total if total > 0 else out

    def save(self, directory: Path) -> None:
        """Write plain .npy/.json files, via a temporary directory renamed into place."""
        directory = Path(directory)
        tmp = directory.with_name(f".{directory.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for name in ("data", "indices", "indptr"):
            np.save(tmp / f"{name}.npy", getattr(self, f"_{name}"), allow_pickle=False)
        terms = sorted(self._vocab, key=self._vocab.__getitem__)
        (tmp / "vocab.json").write_text(json.dumps(terms, ensure_ascii=False), encoding="utf-8")
        (tmp / "manifest.json").write_text(json.dumps(self._manifest(), indent=2), "utf-8")
        old = directory.with_name(f".{directory.name}.old-{os.getpid()}")
        if directory.exists():
            directory.rename(old)
        tmp.rename(directory)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def _settings(cls) -> dict[str, object]:
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
        return {
            **self._settings(),
            "n_rows": self._n,
            "n_terms": len(self._vocab),
            "n_postings": int(len(self._data)),
            "bm25s_version": bm25s.__version__,
        }

    @classmethod
    def load(cls, directory: Path) -> LexicalIndex:
        """Read an index written by :meth:`save`, refusing one built with other settings."""
        directory = Path(directory)
        manifest_path = directory / "manifest.json"
        if not manifest_path.is_file():
            raise FileNotFoundError(f"no lexical index at {directory} (manifest.json missing)")
        got = json.loads(manifest_path.read_text(encoding="utf-8"))
        for key, want in cls._settings().items():
            if got.get(key) != want:
                raise ValueError(
                    f"lexical index at {directory} has {key}={got.get(key)!r}, this code "
                    f"expects {want!r}; rebuild the index"
                )
        terms = json.loads((directory / "vocab.json").read_text(encoding="utf-8"))
        arrays = {
            n: np.load(directory / f"{n}.npy", allow_pickle=False)
            for n in ("data", "indices", "indptr")
        }
        index = cls({t: i for i, t in enumerate(terms)}, n_rows=got["n_rows"], **arrays)
        if len(index._data) != got["n_postings"]:
            raise ValueError(f"lexical index at {directory} is truncated; rebuild it")
        return index
