"""The sentence table: where each indexed sentence is in its article.

Row ``i`` is ``articles[article[i]].text[start[i]:end[i]]``; rows are grouped by article, in
article order, and row ``i`` is also row ``i`` of the vectors, FAISS and BM25. On disk it is
one ``(N, 3)`` int64 array (``sentences.npy``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np


class SentenceTable:
    """Named columns over the ``(N, 3)`` int64 array: ``article``, ``start``, ``end``.

    Indexing (``table[rows]``, ``table[row, 0]``) and iteration give the array's rows, as
    before the columns had names.
    """

    __slots__ = ("array",)

    def __init__(self, array: Any) -> None:
        self.array = np.ascontiguousarray(array, dtype=np.int64).reshape(-1, 3)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[int, int, int]]) -> SentenceTable:
        """From ``(article row, start, end)`` triples."""
        return cls(np.array(list(rows), dtype=np.int64).reshape(-1, 3))

    @property
    def article(self) -> np.ndarray:
        """Article row of each sentence."""
        return self.array[:, 0]

    @property
    def start(self) -> np.ndarray:
        return self.array[:, 1]

    @property
    def end(self) -> np.ndarray:
        return self.array[:, 2]

    def span(self, row: int) -> tuple[int, int, int]:
        """``(article row, start, end)`` of one sentence, as Python ints."""
        article, start, end = self.array[row].tolist()
        return article, start, end

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, key: Any) -> np.ndarray:
        return self.array[key]

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(self.array)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.array if dtype is None else self.array.astype(dtype)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SentenceTable):
            return NotImplemented
        return np.array_equal(self.array, other.array)

    __hash__ = None  # type: ignore[assignment]  # mutable, like the array
