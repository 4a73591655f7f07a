"""A cross-encoder reranker from a local folder, for users who have one (none ships offline here).

    [rag]
    cross_encoder = "/models/ms-marco-MiniLM-L-6-v2"   # any sentence-transformers CrossEncoder folder

With it set, ``mode="rerank"`` scores the top ``cross_encoder_depth`` fused candidates by reading
query and chunk together, instead of using the LambdaMART champion. Slower (one transformer pass
per candidate) and usually stronger; nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


class CrossEncoderReranker:
    def __init__(self, model_path: str | Path, batch_size: int = 32, max_length: int = 512) -> None:
        self.model_path = Path(model_path)
        self.batch_size = batch_size
        self.max_length = max_length
        self._model = None

    def score(self, query: str, texts: list[str]) -> np.ndarray:
        if self._model is None:
            from sentence_transformers import CrossEncoder

            if not self.model_path.exists():
                raise FileNotFoundError(f"[rag].cross_encoder: {self.model_path} not found (nothing is downloaded)")
            self._model = CrossEncoder(str(self.model_path), device="cpu", max_length=self.max_length)
        if not texts:
            return np.zeros(0, np.float32)
        return np.asarray(self._model.predict([(query, t) for t in texts], batch_size=self.batch_size,
                                              show_progress_bar=False), dtype=np.float32).reshape(len(texts))
