"""The dense half of search: vectors in a FAISS index, saved beside the collection.

    index = FaissIndex.build(vectors, kind="flat")      # (n, d) float32, L2-normalised rows
    scores, rows = index.search(queries, k=10)          # cosine similarity, row numbers (-1: none)

``VectorIndex`` is the seam for a vector database: anything with ``search`` and ``save``/``load``
can stand in for FAISS without the retriever noticing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, Self

import numpy as np

#: below this many vectors exact search is fast enough (about 1 ms per 100k on 2 cores)
EXACT_LIMIT = 200_000


class VectorIndex(Protocol):
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...
    def save(self, path: Path) -> None: ...
    @classmethod
    def load(cls, path: Path) -> Self: ...


class FaissIndex:
    """Inner-product search over L2-normalised vectors (so scores are cosine similarities).

    ``kind``: "flat" is exact; "hnsw" is a graph index for large collections (recall measured in
    bench/scifact.py's scale run); "auto" picks flat below ``EXACT_LIMIT`` vectors.
    """

    def __init__(self, index) -> None:
        self.index = index

    @classmethod
    def build(cls, vectors: np.ndarray, kind: str = "auto", hnsw_m: int = 32, ef_search: int = 128) -> Self:
        import faiss

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        dim = vectors.shape[1]
        if kind == "auto":
            kind = "flat" if len(vectors) < EXACT_LIMIT else "hnsw"
        if kind == "flat":
            index = faiss.IndexFlatIP(dim)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 80
            index.hnsw.efSearch = ef_search
        else:
            raise ValueError(f"dense index kind {kind!r}: choose auto, flat or hnsw")
        if len(vectors):
            index.add(vectors)
        return cls(index)

    def __len__(self) -> int:
        return self.index.ntotal

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, len(self))
        if k == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        import faiss

        # A single query is memory-bound: a second OpenMP thread only adds hand-off cost (3x slower on 2 cores).
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1 if len(queries) < 8 else threads)
        try:
            return self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        finally:
            faiss.omp_set_num_threads(threads)

    def save(self, path: Path) -> None:
        import faiss

        faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path: Path) -> Self:
        import faiss

        return cls(faiss.read_index(str(path)))
