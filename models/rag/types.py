"""The typed objects that flow through ingestion and search, one way: Document -> Chunk -> Hit."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Document:
    """One source document, as read from a file or a JSONL record.

    ``doc_id`` is stable across re-ingestion (the path relative to the ingested folder, or the
    record's own id), so a changed file replaces its old chunks instead of adding beside them.
    """

    doc_id: str
    text: str
    source: str                  # the file it came from
    title: str = ""
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Chunk:
    """A piece of a document small enough to embed whole and to cite."""

    doc_id: str
    position: int                # 0-based order within its document
    text: str
    source: str
    title: str = ""

    @property
    def content_hash(self) -> str:
        """What makes re-ingesting the same content a no-op."""
        return hashlib.sha256(f"{self.doc_id}\x00{self.title}\x00{self.text}".encode()).hexdigest()[:32]

    @property
    def chunk_id(self) -> str:
        return f"{self.doc_id}#{self.position}"


@dataclass(frozen=True)
class SkippedFile:
    """A file ingestion could not read: reported, not fatal."""

    path: str
    reason: str


@dataclass(frozen=True)
class Hit:
    """One search result: a chunk, where it came from, and how each stage scored it."""

    chunk_id: str
    doc_id: str
    text: str
    source: str
    title: str
    score: float                 # the score of the mode asked for (higher is better)
    dense_score: float | None = None   # cosine similarity, when the dense stage saw it
    bm25_score: float | None = None    # BM25, when the sparse stage saw it
