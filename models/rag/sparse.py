"""The sparse half of search: BM25 (bm25s) over stemmed, stopword-free words.

    index = BM25Index.build(["refund policy for cards", ...])
    scores, rows = index.search(["card refund"], k=10)      # rows with a zero score are dropped (-1)
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from pathlib import Path
from typing import Self

import numpy as np


_TERM = re.compile(r"(?u)\b\w\w+\b")   # bm25s' default token pattern


_per_thread = threading.local()


def english_stemmer():
    """This thread's stemmer: a PyStemmer object must not be called from two threads at once, and the
    service searches and checks answers in several."""
    if not hasattr(_per_thread, "stemmer"):
        import Stemmer

        _per_thread.stemmer = Stemmer.Stemmer("english")
    return _per_thread.stemmer


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def analyse(texts: list[str]) -> list[list[str]]:
    """Lower-cased, stemmed terms without English stopwords: what bm25s.tokenize gives, without its
    per-call progress-bar set-up (1 ms, a tenth of a query's budget)."""
    stem, stopwords = english_stemmer().stemWords, _stopwords()
    return [stem([t for t in _TERM.findall(text.lower()) if t not in stopwords]) for text in texts]


class BM25Index:
    def __init__(self, bm25, size: int) -> None:
        self.bm25 = bm25
        self.size = size

    @classmethod
    def build(cls, texts: list[str], k1: float = 1.2, b: float = 0.75) -> Self:
        import bm25s

        bm25 = bm25s.BM25(k1=k1, b=b)
        bm25.index(analyse(texts), show_progress=False)
        return cls(bm25, len(texts))

    def __len__(self) -> int:
        return self.size

    def search(self, queries: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` rows per query by BM25 score; rows that share no term with the query are -1."""
        k = min(k, self.size)
        found = [self.top(query, k)[:2] for query in queries]
        scores = np.array([s for _, s in found], dtype=np.float32).reshape(len(queries), k)
        rows = np.array([r for r, _ in found], dtype=np.int64).reshape(len(queries), k)
        return scores, rows

    def top(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Top ``k`` (rows, scores) for one query, and every row's score (the reranker reads the dense-only
        candidates' BM25 there, so the posting lists are walked once)."""
        every = self.scores(query)
        k = min(k, self.size)
        rows = np.argpartition(-every, k - 1)[:k] if k else np.zeros(0, np.int64)
        rows = rows[np.lexsort((rows, -every[rows]))]
        scores = every[rows]
        return np.where(scores > 0, rows, -1), scores, every

    def scores(self, query: str) -> np.ndarray:
        """The BM25 score of every row for one query."""
        terms = analyse([query])[0]
        if not terms:  # only stopwords: nothing to match
            return np.zeros(self.size, np.float32)
        return self.bm25.get_scores(terms).astype(np.float32)

    def document_frequency(self, terms: list[str]) -> np.ndarray:
        """How many rows contain each analysed term (0 for a term the index never saw)."""
        vocab, indptr = self.bm25.vocab_dict, self.bm25.scores["indptr"]
        ids = [vocab.get(t, -1) for t in terms]
        return np.array([int(indptr[i + 1] - indptr[i]) if i >= 0 else 0 for i in ids], dtype=np.int64)

    def save(self, path: Path) -> None:
        self.bm25.save(str(path), show_progress=False)
        (Path(path) / "size.txt").write_text(str(self.size))

    @classmethod
    def load(cls, path: Path) -> Self:
        import bm25s

        bm25 = bm25s.BM25.load(str(path), show_progress=False)
        return cls(bm25, int((Path(path) / "size.txt").read_text()))
