"""Collections on disk: chunks, their vectors, a FAISS index and a BM25 index, written atomically.

    store = CollectionStore(Path("collections"))
    store.write("kb", chunks, vectors, manifest)      # a new version; readers keep the old one until it lands
    collection = store.open("kb")                     # the current version, loaded

Layout, one folder per collection::

    kb/CURRENT            the name of the live version, replaced atomically (os.replace)
    kb/v000003/           chunks.parquet, vectors.npy, dense.faiss, bm25/, manifest.json

A version folder is complete before CURRENT names it, so a crash midway leaves the previous
version live. The previous version is kept (readers may still hold it); older ones are removed.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from models.base import InputError
from models.rag.dense import FaissIndex
from models.rag.sparse import BM25Index

CHUNK_COLUMNS = ["chunk_id", "doc_id", "position", "text", "title", "source", "content_hash"]
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
CURRENT = "CURRENT"


class UnknownCollection(InputError):
    """A search or delete named a collection that was never ingested."""


def indexed_text(title: str, text: str) -> str:
    """What both indexes see: the title leads, as in BEIR, unless the text already starts with it."""
    return text if not title or text.startswith(title) else f"{title}\n{text}"


@dataclass
class Collection:
    """One loaded version of a collection: row ``i`` of ``chunks``, ``vectors``, and both indexes is one chunk."""

    name: str
    version: str
    chunks: pd.DataFrame
    vectors: np.ndarray
    dense: FaissIndex
    sparse: BM25Index
    manifest: dict

    def __len__(self) -> int:
        return len(self.chunks)

    @cached_property
    def columns(self) -> dict[str, list]:
        """Chunk fields as plain lists (the same string objects), for row lookups at search speed."""
        return {column: self.chunks[column].tolist() for column in ("chunk_id", "doc_id", "text", "source", "title")}


class CollectionStore:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def names(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / CURRENT).exists())

    def folder(self, name: str) -> Path:
        if not NAME_PATTERN.match(name or ""):
            raise InputError(f"collection: {name!r} is not a valid name; use letters, digits, '_', '-', '.' (at most 64)")
        return self.root / name

    def current_version(self, name: str) -> str | None:
        pointer = self.folder(name) / CURRENT
        return pointer.read_text().strip() if pointer.exists() else None

    def open(self, name: str) -> Collection:
        version = self.current_version(name)
        if version is None:
            known = ", ".join(self.names()) or "none yet"
            raise UnknownCollection(
                f"collection: no collection named {name!r} in {self.root} (collections: {known}). "
                f"Create it with `hybrid ingest PATH --collection {name}`."
            )
        folder = self.folder(name) / version
        return Collection(
            name=name,
            version=version,
            chunks=pd.read_parquet(folder / "chunks.parquet"),
            vectors=np.load(folder / "vectors.npy", mmap_mode="r"),  # read by row when candidates are scored
            dense=FaissIndex.load(folder / "dense.faiss"),
            sparse=BM25Index.load(folder / "bm25"),
            manifest=json.loads((folder / "manifest.json").read_text()),
        )

    @contextmanager
    def locked(self, name: str) -> Iterator[None]:
        """One writer per collection at a time; readers never wait."""
        folder = self.folder(name)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def write(self, name: str, chunks: pd.DataFrame, vectors: np.ndarray, manifest: dict, dense_kind: str = "auto") -> str:
        """Write a complete new version, then point CURRENT at it. Call inside ``locked(name)``."""
        folder = self.folder(name)
        previous = self.current_version(name)
        version = f"v{int(previous[1:]) + 1 if previous else 1:06d}"
        staging = folder / f".{version}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)

        chunks = chunks[CHUNK_COLUMNS].reset_index(drop=True)
        texts = [indexed_text(t, x) for t, x in zip(chunks["title"], chunks["text"])]
        chunks.to_parquet(staging / "chunks.parquet", index=False)
        np.save(staging / "vectors.npy", vectors.astype(np.float32))
        FaissIndex.build(vectors, kind=dense_kind).save(staging / "dense.faiss")
        BM25Index.build(texts).save(staging / "bm25")
        (staging / "manifest.json").write_text(json.dumps(manifest | {"version": version, "chunks": len(chunks)}, indent=2))
        _fsync_tree(staging)

        os.replace(staging, folder / version)
        pointer = folder / f".{CURRENT}.partial"
        pointer.write_text(version)
        _fsync_file(pointer)
        os.replace(pointer, folder / CURRENT)
        self._drop_old_versions(folder, keep={version, previous})
        return version

    def drop(self, name: str) -> None:
        shutil.rmtree(self.folder(name), ignore_errors=True)

    @staticmethod
    def _drop_old_versions(folder: Path, keep: set[str | None]) -> None:
        for child in folder.iterdir():
            if child.is_dir() and child.name not in keep and (child.name.startswith("v") or child.name.endswith(".partial")):
                shutil.rmtree(child, ignore_errors=True)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            _fsync_file(path)
