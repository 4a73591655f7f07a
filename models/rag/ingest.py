"""Ingestion: documents -> chunks -> vectors -> a new collection version, doing only what changed.

    ingestor = Ingestor(CollectionStore("collections"), make_chunker("recursive", counter=TokenCounter()), SentenceEncoder())
    report = ingestor.ingest("kb", documents)      # again with the same documents: nothing is written

Each chunk carries a content hash. A document whose chunks hash the same as last time is left
alone; a changed one has its old chunks replaced; only new chunks are embedded (vectors of chunks
seen before are reused). Documents not named in this call stay as they are: ingesting a second
folder adds to the collection, and ``delete`` removes documents by id.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from models.base import InputError
from models.rag.collection import CHUNK_COLUMNS, CollectionStore, indexed_text
from models.rag.types import Chunk, Document, SkippedFile

EMBED_BATCH = 256


class Chunker(Protocol):
    def chunk(self, document: Document) -> list[Chunk]: ...


class Encoder(Protocol):
    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray: ...


@dataclass
class IngestReport:
    collection: str
    version: str | None          # None: nothing changed, nothing was written
    documents_added: int = 0
    documents_updated: int = 0
    documents_unchanged: int = 0
    documents_deleted: int = 0
    chunks_added: int = 0
    chunks_removed: int = 0
    chunks_total: int = 0
    not_found: list[str] = field(default_factory=list)   # ids asked to delete that were not there
    skipped: list[SkippedFile] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return asdict(self)


class Ingestor:
    def __init__(self, store: CollectionStore, chunker: Chunker, encoder: Encoder, manifest: dict | None = None,
                 dense_kind: str = "auto", progress: bool = True) -> None:
        self.store = store
        self.chunker = chunker
        self.encoder = encoder
        #: how the collection is built (embedding model, chunker); recorded with every version
        self.manifest = manifest or {}
        self.dense_kind = dense_kind
        self.progress = progress

    def ingest(self, name: str, documents: list[Document], delete: list[str] | tuple[str, ...] = (),
               skipped: list[SkippedFile] | None = None) -> IngestReport:
        started = time.perf_counter()
        report = IngestReport(collection=name, version=None, skipped=list(skipped or []))
        with self.store.locked(name):
            existing, vectors = self._current(name)
            documents = self._unique(documents, report)
            old_hashes = existing.groupby("doc_id", sort=False)["content_hash"].agg(list).to_dict()

            replaced: set[str] = set()
            fresh: list[Chunk] = []
            for document in tqdm(documents, desc=f"chunking into {name}", unit="doc", disable=not self.progress, file=sys.stderr):
                chunks = self.chunker.chunk(document)
                if old_hashes.get(document.doc_id) == [c.content_hash for c in chunks]:
                    report.documents_unchanged += 1
                    continue
                if document.doc_id in old_hashes:
                    report.documents_updated += 1
                    replaced.add(document.doc_id)
                else:
                    report.documents_added += 1
                fresh.extend(chunks)
            for doc_id in delete:
                if doc_id in old_hashes and doc_id not in replaced:
                    replaced.add(doc_id)
                    report.documents_deleted += 1
                elif doc_id not in old_hashes:
                    report.not_found.append(doc_id)

            if not fresh and not replaced:
                report.chunks_total = len(existing)
                report.seconds = time.perf_counter() - started
                return report

            keep = ~existing["doc_id"].isin(replaced).to_numpy()
            added = _chunk_frame(fresh)
            added_vectors = self._vectors_for(added, existing, vectors)
            chunks = pd.concat([existing[keep], added], ignore_index=True)
            all_vectors = np.concatenate([vectors[keep], added_vectors]) if len(vectors) else added_vectors
            report.version = self.store.write(name, chunks, all_vectors, self.manifest, dense_kind=self.dense_kind)
            report.chunks_added = len(added)
            report.chunks_removed = int((~keep).sum())
            report.chunks_total = len(chunks)
        report.seconds = time.perf_counter() - started
        return report

    def _current(self, name: str) -> tuple[pd.DataFrame, np.ndarray]:
        if self.store.current_version(name) is None:
            return pd.DataFrame(columns=CHUNK_COLUMNS), np.zeros((0, 0), np.float32)
        collection = self.store.open(name)
        built_with = collection.manifest.get("embedding_model")
        if built_with and self.manifest.get("embedding_model") and built_with != self.manifest["embedding_model"]:
            raise InputError(
                f"collection {name!r} was embedded with {built_with}, not {self.manifest['embedding_model']}: "
                f"vectors from two models cannot be searched together. Ingest into a new collection instead."
            )
        return collection.chunks, collection.vectors

    @staticmethod
    def _unique(documents: list[Document], report: IngestReport) -> list[Document]:
        seen: set[str] = set()
        unique = []
        for document in documents:
            if document.doc_id in seen:
                report.skipped.append(SkippedFile(document.source, f"duplicate doc_id {document.doc_id!r}; the first one was kept"))
                continue
            seen.add(document.doc_id)
            unique.append(document)
        return unique

    def _vectors_for(self, added: pd.DataFrame, existing: pd.DataFrame, vectors: np.ndarray) -> np.ndarray:
        """Vectors for new chunks: reused when the same content was embedded before, else computed in batches."""
        known = dict(zip(existing["content_hash"], range(len(existing))))
        reuse = [known.get(h) for h in added["content_hash"]]
        todo = [i for i, row in enumerate(reuse) if row is None]
        texts = [indexed_text(added["title"].iat[i], added["text"].iat[i]) for i in todo]
        computed = []
        with tqdm(total=len(texts), desc="embedding chunks", unit="chunk", disable=not self.progress or not texts,
                  file=sys.stderr) as bar:
            for start in range(0, len(texts), EMBED_BATCH):
                computed.append(self.encoder.encode(texts[start:start + EMBED_BATCH]))
                bar.update(len(computed[-1]))
        fresh = np.concatenate(computed) if computed else np.zeros((0, 0), np.float32)
        dim = fresh.shape[1] if len(fresh) else vectors.shape[1]
        out = np.zeros((len(added), dim), np.float32)
        for i, row in enumerate(reuse):
            if row is not None:
                out[i] = vectors[row]
        if todo:
            out[todo] = fresh
        return out


def _chunk_frame(chunks: list[Chunk]) -> pd.DataFrame:
    return pd.DataFrame(
        [(c.chunk_id, c.doc_id, c.position, c.text, c.title, c.source, c.content_hash) for c in chunks],
        columns=CHUNK_COLUMNS,
    ).astype({"position": "int64"})
