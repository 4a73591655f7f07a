"""The BentoML service: a thin adapter over HybridPipeline.

    bentoml serve serving.service:HybridService --host 127.0.0.1 --port 3000   (or `hybrid serve`)

Models are loaded once, from the registry champions, when a worker starts. Request bodies are
validated by pydantic before they reach a model, so bad input gets a 400 naming the field.
"""

from __future__ import annotations

from typing import Annotated

import bentoml
import bentoml.exceptions
import pandas as pd
from pydantic import Field, StringConstraints

from fusion.pipeline import HybridPipeline
from fusion.schemas import EntitySpan, IntentPrediction, LoadedModel, SentimentPrediction
from models.catalog import CAPABILITIES
from models.settings import get_settings
from training.registry import NoChampionError

settings = get_settings()

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=settings.serve.max_text_chars)]
Texts = Annotated[list[Text], Field(min_length=1, max_length=settings.serve.max_texts_per_request)]
# Adaptive batching: concurrent requests are merged into one model call.
BATCHED = dict(batchable=True, max_batch_size=settings.serve.max_batch_size, max_latency_ms=settings.serve.max_latency_ms)


@bentoml.service(name="hybrid", traffic={"timeout": 60})
class HybridService:
    def __init__(self) -> None:
        self.pipeline = HybridPipeline.from_registry(list(CAPABILITIES), settings, skip_missing=True)
        if not self.pipeline.models:
            raise NoChampionError(
                f"no champion model in {settings.tracking_uri}: run `hybrid train intent` (or `make demo`) first"
            )
        # A cold first call inside the batching window would make the dispatcher shed requests.
        for name in self.pipeline.models:
            self.pipeline.predict(name, pd.DataFrame({"text": ["warm up"]}))

    def _predict(self, capability: str, texts: list[str]) -> pd.DataFrame:
        try:
            return self.pipeline.predict(capability, pd.DataFrame({"text": texts}))
        except NoChampionError as error:
            # 404, not 503: BentoML replaces the body of every 5xx with a generic message, and the
            # caller needs to read which model is missing and how to train it.
            raise bentoml.exceptions.NotFound(str(error)) from error

    @bentoml.api(**BATCHED)
    def classify(self, texts: Texts) -> list[IntentPrediction]:
        """The intent of each text, with the model's confidence. Requests are batched together."""
        predicted = self._predict("intent", texts)
        return [IntentPrediction(label=row.label, confidence=row.confidence) for row in predicted.itertuples()]

    @bentoml.api(**BATCHED)
    def sentiment(self, texts: Texts) -> list[SentimentPrediction]:
        """The sentiment of each text, with its calibrated probability. Requests are batched together."""
        predicted = self._predict("sentiment", texts)
        return [SentimentPrediction(label=row.label, confidence=row.confidence) for row in predicted.itertuples()]

    @bentoml.api(**BATCHED)
    def ner(self, texts: Texts) -> list[list[EntitySpan]]:
        """The named entities in each text: label, character offsets, text and score."""
        predicted = self._predict("ner", texts)
        return [[EntitySpan(**entity) for entity in row] for row in predicted["entities"]]

    @bentoml.api
    def models(self) -> list[LoadedModel]:
        """Which registry version of each capability this server is running."""
        return list(self.pipeline.loaded.values())
