"""The BentoML service: a thin adapter over HybridPipeline.

    bentoml serve serving.service:HybridService --host 127.0.0.1 --port 3000   (or `hybrid serve`)

Models are loaded once, from the registry champions, when a worker starts. Request bodies are
validated by pydantic before they reach a model, so bad input gets a 400 naming the field.
"""

from __future__ import annotations

from typing import Annotated

import bentoml
import pandas as pd
from pydantic import Field, StringConstraints

from fusion.pipeline import HybridPipeline
from fusion.schemas import IntentPrediction, LoadedModel
from models.settings import get_settings

settings = get_settings()

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=settings.serve.max_text_chars)]
Texts = Annotated[list[Text], Field(min_length=1, max_length=settings.serve.max_texts_per_request)]


@bentoml.service(name="hybrid", traffic={"timeout": 60})
class HybridService:
    def __init__(self) -> None:
        self.pipeline = HybridPipeline.from_registry(["intent"], settings)
        # A cold first call inside the batching window would make the dispatcher shed requests.
        self.pipeline.predict("intent", pd.DataFrame({"text": ["warm up"]}))

    @bentoml.api(
        batchable=True,
        max_batch_size=settings.serve.max_batch_size,
        max_latency_ms=settings.serve.max_latency_ms,
    )
    def classify(self, texts: Texts) -> list[IntentPrediction]:
        """The intent of each text, with the model's confidence. Requests are batched together."""
        predicted = self.pipeline.predict("intent", pd.DataFrame({"text": texts}))
        return [IntentPrediction(label=row.label, confidence=row.confidence) for row in predicted.itertuples()]

    @bentoml.api
    def models(self) -> list[LoadedModel]:
        """Which registry version of each capability this server is running."""
        return list(self.pipeline.loaded.values())
