"""Search a collection: dense, BM25, their fusion, and a trained reranker on top.

    retriever = HybridRetriever(CollectionStore("collections"), "kb", SentenceEncoder())
    hits = retriever.search("how do I freeze my card", k=5, mode="hybrid")

Modes: ``dense`` (cosine over MiniLM vectors), ``bm25``, ``hybrid`` (both lists fused by RRF or by
normalised scores) and ``rerank`` (the hybrid candidates reordered by the LambdaMART reranker).
Callers depend on the ``Retriever`` protocol only, so a vector database can replace the on-disk
collection without touching them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import pandas as pd

from models.base import InputError
from models.rag.collection import Collection, CollectionStore, indexed_text
from models.rag.cross_encoder import CrossEncoderReranker
from models.rag.features import candidate_features
from models.rag.fusion import best_first, normalised_fusion, reciprocal_rank_fusion
from models.rag.sparse import analyse
from models.rag.types import Hit

Mode = Literal["dense", "bm25", "hybrid", "rerank"]
MODES: tuple[str, ...] = ("dense", "bm25", "hybrid", "rerank")
#: chunks whose analysed terms the reranker's features keep between queries
TERM_CACHE_ROWS = 200_000


class Retriever(Protocol):
    def search(self, query: str, k: int = 10, mode: Mode = "hybrid") -> list[Hit]: ...


class Scorer(Protocol):
    """A reranker: a frame of features in, a frame with a ``score`` column out (a capability or its pyfunc)."""

    def predict(self, batch: pd.DataFrame) -> pd.DataFrame: ...


@dataclass
class Candidates:
    """The first stage for one query: the union of the dense and BM25 lists, each row scored by both."""

    rows: np.ndarray
    dense: np.ndarray
    bm25: np.ndarray
    dense_rank: np.ndarray       # 1-based; depth + 1 when the dense list did not return the row
    bm25_rank: np.ndarray


class HybridRetriever:
    def __init__(
        self,
        store: CollectionStore,
        name: str,
        encoder,
        candidates: int = 100,
        fusion: Literal["rrf", "normalised"] = "normalised",
        rrf_k: int = 60,
        dense_weight: float = 0.5,
        reranker: Scorer | CrossEncoderReranker | None = None,
        cross_encoder_depth: int = 30,
    ) -> None:
        self.store = store
        self.name = name
        self.encoder = encoder
        self.candidates = candidates
        self.fusion = fusion
        self.rrf_k = rrf_k
        self.dense_weight = dense_weight
        self.reranker = reranker
        self.cross_encoder_depth = cross_encoder_depth
        self._collection: Collection | None = None
        self._terms: dict[int, tuple[set[str], set[str]]] = {}

    @property
    def collection(self) -> Collection:
        """The live version; a re-ingest is picked up on the next search without a restart."""
        if self._collection is None or self.store.current_version(self.name) != self._collection.version:
            self._collection = self.store.open(self.name)
            self._terms = {}
        return self._collection

    def search(self, query: str, k: int = 10, mode: Mode = "hybrid") -> list[Hit]:
        return self.search_many([query], k, mode)[0]

    def search_many(self, queries: list[str], k: int = 10, mode: Mode = "hybrid") -> list[list[Hit]]:
        """Batched: the queries are embedded together, which is what a benchmark or a batch job wants."""
        if mode not in MODES:
            raise InputError(f"mode: {mode!r} is not one of {list(MODES)}")
        if k < 1:
            raise InputError(f"k: must be at least 1, got {k}")
        for i, query in enumerate(queries):
            if not isinstance(query, str) or not query.strip():
                raise InputError(f"query{f' {i}' if len(queries) > 1 else ''}: empty; give the words to search for")
        if mode == "rerank" and self.reranker is None:
            raise InputError("mode: 'rerank' needs a trained reranker; run `hybrid train reranker --collection "
                             f"{self.name}` first, or use mode 'hybrid'")
        collection = self.collection
        if mode == "dense":
            scores, rows = collection.dense.search(self.encoder.encode(queries), k)
            return [self._hits(collection, zip(r, s), stage="dense") for s, r in zip(scores, rows)]
        if mode == "bm25":
            scores, rows = collection.sparse.search(queries, k)
            return [self._hits(collection, zip(r, s), stage="bm25") for s, r in zip(scores, rows)]
        first = self.first_stage(queries, max(k, self.candidates))
        if mode == "hybrid":
            return [self._hits(collection, self._fuse(c)[:k], candidates=c) for c in first]
        return [self._rerank(collection, q, c, k) for q, c in zip(queries, first)]

    def first_stage(self, queries: list[str], depth: int) -> list[Candidates]:
        collection = self.collection
        vectors = self.encoder.encode(queries)
        _, dense_rows = collection.dense.search(vectors, depth)
        out = []
        for i, query in enumerate(queries):
            bm25_rows, _, bm25_every = collection.sparse.top(query, depth)
            dense_list = [int(r) for r in dense_rows[i] if r >= 0]
            bm25_list = [int(r) for r in bm25_rows if r >= 0]
            rows = np.array(list(dict.fromkeys(dense_list + bm25_list)), dtype=np.int64)
            # Every candidate gets both scores: cosine from the stored vectors, BM25 from the index.
            dense = collection.vectors[rows] @ vectors[i] if len(rows) else np.zeros(0, np.float32)
            bm25 = bm25_every[rows]
            dense_rank = _ranks(rows, dense_list, depth)
            bm25_rank = _ranks(rows, bm25_list, depth)
            out.append(Candidates(rows, dense.astype(np.float32), bm25.astype(np.float32), dense_rank, bm25_rank))
        return out

    def features(self, query: str, candidates: Candidates) -> pd.DataFrame:
        """The reranker's input for one query's candidates (row order = ``candidates.rows``)."""
        chunk_terms, title_terms = self._candidate_terms(candidates.rows)
        return candidate_features(
            set(analyse([query])[0]), chunk_terms, title_terms, candidates.dense, candidates.bm25,
            candidates.dense_rank.astype(np.float32), candidates.bm25_rank.astype(np.float32), self.rrf_k,
        )

    def _fuse(self, c: Candidates) -> list[tuple[int, float]]:
        in_dense, in_bm25 = c.dense_rank <= self.candidates, c.bm25_rank <= self.candidates
        if self.fusion == "rrf":
            by_rank = lambda ranks, mask: [int(r) for _, r in sorted(zip(ranks[mask], c.rows[mask]))]  # noqa: E731
            fused = reciprocal_rank_fusion([by_rank(c.dense_rank, in_dense), by_rank(c.bm25_rank, in_bm25)], self.rrf_k)
        else:
            fused = normalised_fusion(
                [dict(zip(c.rows[in_dense].tolist(), c.dense[in_dense].tolist())),
                 dict(zip(c.rows[in_bm25].tolist(), c.bm25[in_bm25].tolist()))],
                [self.dense_weight, 1.0 - self.dense_weight],
            )
        return best_first(fused, len(fused))

    def _rerank(self, collection: Collection, query: str, c: Candidates, k: int) -> list[Hit]:
        if not len(c.rows):
            return []
        if isinstance(self.reranker, CrossEncoderReranker):
            # A transformer pass per candidate: only the best fused ones are read.
            top = [row for row, _ in self._fuse(c)[:max(k, self.cross_encoder_depth)]]
            columns = collection.columns
            texts = [indexed_text(columns["title"][r], columns["text"][r]) for r in top]
            rows, scores = np.array(top), self.reranker.score(query, texts)
        else:
            rows, scores = c.rows, self.reranker.predict(self.features(query, c))["score"].to_numpy()
        order = np.argsort(-scores, kind="stable")[:k]
        return self._hits(collection, [(rows[i], scores[i]) for i in order], candidates=c)

    def _candidate_terms(self, rows: np.ndarray) -> tuple[list[set[str]], list[set[str]]]:
        columns = self.collection.columns
        missing = [int(r) for r in rows if int(r) not in self._terms]
        if len(self._terms) + len(missing) > TERM_CACHE_ROWS:  # a bound on memory for large collections
            self._terms = {}
            missing = [int(r) for r in rows]
        if missing:
            texts = [indexed_text(columns["title"][r], columns["text"][r]) for r in missing]
            titles = [columns["title"][r] or "" for r in missing]
            for row, text_terms, title_terms in zip(missing, analyse(texts), analyse(titles)):
                self._terms[row] = (set(text_terms), set(title_terms))
        return [self._terms[int(r)][0] for r in rows], [self._terms[int(r)][1] for r in rows]

    @staticmethod
    def _hits(collection: Collection, ranked, stage: str | None = None, candidates: Candidates | None = None) -> list[Hit]:
        """``ranked``: (row, score) best first. A single-stage mode's score is that stage's score."""
        columns = collection.columns
        by_row = {}
        if candidates is not None:
            by_row = {int(r): (float(d), float(b)) for r, d, b in zip(candidates.rows, candidates.dense, candidates.bm25)}
        hits = []
        for row, score in ranked:
            row = int(row)
            if row < 0:
                continue
            single = (float(score), None) if stage == "dense" else (None, float(score))
            dense_score, bm25_score = by_row.get(row, single)
            hits.append(Hit(
                chunk_id=columns["chunk_id"][row], doc_id=columns["doc_id"][row], text=columns["text"][row],
                source=columns["source"][row], title=columns["title"][row], score=float(score),
                dense_score=dense_score, bm25_score=bm25_score,
            ))
        return hits


def _ranks(rows: np.ndarray, ranking: list[int], depth: int) -> np.ndarray:
    position = {row: rank for rank, row in enumerate(ranking, start=1)}
    return np.array([position.get(int(r), depth + 1) for r in rows], dtype=np.int64)
