"""The BentoML service: a thin adapter over HybridPipeline (/predict, /ask, /route) and its champions (the
per-capability endpoints).

    bentoml serve serving.service:HybridService --host 127.0.0.1 --port 3000   (or `hybrid serve`)

Models are loaded once, from the registry champions, when a worker starts. Request bodies are
validated by pydantic before they reach a model, so bad input gets a 400 naming the field.
"""

from __future__ import annotations

import itertools
import json
from contextlib import contextmanager
from typing import Annotated, Any, Generator, Iterator, Literal

import bentoml
import bentoml.exceptions
import pandas as pd
from pydantic import AfterValidator, Field, StringConstraints
from starlette.responses import StreamingResponse

from fusion.ask import AskRequest
from fusion.champions import Champions
from fusion.pipeline import PIPELINE_MODELS, HybridPipeline, anomaly_results, forecast_results, series_frame
from fusion.schemas import (
    AnomalyResult,
    AskResponse,
    EntitySpan,
    ForecastResult,
    IntentPrediction,
    MAX_HORIZON,
    LoadedModel,
    PredictRequest,
    PredictResponse,
    RouteInfo,
    SearchHit,
    SearchResult,
    SentimentPrediction,
    SeriesIn,
    check_series_points,
)
from models.base import InputError
from models.catalog import CAPABILITIES
from models.rag.collection import UnknownCollection
from models.rag.factory import collection_store, open_retriever, query_encoder
from models.rag.retriever import HybridRetriever
from models.settings import get_settings
from models.registry import NoChampionError
from serving.api_contract import ApiContract
from serving.readiness import Readiness, ReadinessReport

settings = get_settings()
READINESS = Readiness()  # this worker's /readyz report, published when __init__ has loaded everything

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=settings.serve.max_text_chars)]
Texts = Annotated[list[Text], Field(min_length=1, max_length=settings.serve.max_texts_per_request)]
Series = Annotated[list[SeriesIn], Field(min_length=1, max_length=settings.serve.max_series_per_request),
                   AfterValidator(lambda series: check_series_points(series, settings.serve.max_series_points))]
Horizon = Annotated[int, Field(ge=1, le=MAX_HORIZON)]
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
# Adaptive batching: concurrent requests are merged into one model call.
BATCHED = dict(batchable=settings.serve.adaptive_batching, max_batch_size=settings.serve.max_batch_size, max_latency_ms=settings.serve.max_latency_ms)


@bentoml.service(name="hybrid", traffic={"timeout": 60}, threads=settings.serve.threads,
                  workers=settings.serve.worker_count())
class HybridService:
    def __init__(self) -> None:
        self.champions = Champions.from_registry(list(dict.fromkeys([*CAPABILITIES, *PIPELINE_MODELS])), settings,
                                                 skip_missing=True)
        if not self.champions.models and not collection_store(settings).names():
            raise NoChampionError(
                f"no champion model in {settings.tracking_uri} and no search collection in "
                f"{settings.rag.collections_dir}: run `hybrid train intent` or `hybrid ingest PATH` (or `make demo`) first"
            )
        self.encoder = query_encoder(settings)
        self.retrievers: dict[str, HybridRetriever] = {}
        self.pipeline = HybridPipeline.from_settings(settings, self.champions, encoder=self.encoder,
                                                     retrievers=self._retriever)
        # Every text model's first call, before this worker says it is ready, on the path that serves: the
        # pipeline has swapped them to ONNX, checked against PyTorch on that call (seconds, once per worker), and
        # a cold call inside a batching window would make BentoML's dispatcher shed requests.
        for name in self.champions.models:
            if self.champions.input_columns(name) == ["text"]:
                self.champions.predict(name, pd.DataFrame({"text": ["warm up"]}))
        READINESS.report = {"capabilities": {name: m.version for name, m in self.champions.loaded.items()},
                            "failed": self.champions.failed, "collections": collection_store(settings).names()}

    def _predict(self, capability: str, batch: pd.DataFrame) -> pd.DataFrame:
        with _http_errors():
            return self.champions.predict(capability, batch)

    @bentoml.api(input_spec=PredictRequest)
    def predict(self, **request: Any) -> PredictResponse:
        """One request — text, series, a feature row, or a mix: the input classifier picks what runs (or `tasks`
        says), the ML models run concurrently, the GenAI path answers with their results as facts, a combiner
        reconciles the two, and a confidence scorer says how far to trust each part and the whole."""
        with _http_errors():
            return self.pipeline.predict(PredictRequest(**request))

    @bentoml.api(**BATCHED)
    def classify(self, texts: Texts) -> list[IntentPrediction]:
        """The intent of each text, with the model's confidence. With `[serve].adaptive_batching`, concurrent requests share a model call."""
        predicted = self._predict("intent", pd.DataFrame({"text": texts}))
        return [IntentPrediction(label=row.label, confidence=row.confidence) for row in predicted.itertuples()]

    @bentoml.api(**BATCHED)
    def sentiment(self, texts: Texts) -> list[SentimentPrediction]:
        """The sentiment of each text, with its calibrated probability. With `[serve].adaptive_batching`, concurrent requests share a model call."""
        predicted = self._predict("sentiment", pd.DataFrame({"text": texts}))
        return [SentimentPrediction(label=row.label, confidence=row.confidence) for row in predicted.itertuples()]

    @bentoml.api(**BATCHED)
    def ner(self, texts: Texts) -> list[list[EntitySpan]]:
        """The named entities in each text: label, character offsets, text and score."""
        predicted = self._predict("ner", pd.DataFrame({"text": texts}))
        return [[EntitySpan(**entity) for entity in row] for row in predicted["entities"]]

    @bentoml.api
    def anomaly(self, series: Series) -> list[AnomalyResult]:
        """Streaming anomaly scores for each series: every point scored from itself and the points before it."""
        with _http_errors():
            frame = series_frame(series)
        return anomaly_results(self._predict("anomaly", frame), frame)

    @bentoml.api
    def forecast(self, series: Series, horizon: Horizon | None = None) -> list[ForecastResult]:
        """Point forecasts with 80% and 95% intervals for each series, ``horizon`` steps past its last timestamp."""
        with _http_errors():
            frame = series_frame(series)
            return forecast_results(self.champions.capability("forecast").forecast(frame, horizon))

    @bentoml.api
    def search(
        self,
        query: Text,
        collection: Annotated[str, Field(min_length=1, max_length=64)] = "kb",
        k: Annotated[int, Field(ge=1, le=1000)] = 10,
        mode: Literal["dense", "bm25", "hybrid", "rerank"] | None = None,
    ) -> SearchResult:
        """Search a collection written by `hybrid ingest`: chunks best first, each with its source for citing."""
        mode = mode or settings.rag.default_mode
        with _http_errors():
            retriever = self._retriever(collection)
            hits = retriever.search(query, k=k, mode=mode)
        return SearchResult(collection=collection, version=retriever.collection.version, mode=mode,
                            hits=[SearchHit(**hit.__dict__) for hit in hits])

    def _retriever(self, collection: str) -> HybridRetriever:
        if collection not in self.retrievers:
            reranker = self.champions.get("reranker")
            self.retrievers[collection] = open_retriever(collection, settings, reranker=reranker, encoder=self.encoder,
                                                         load_reranker=False)
        return self.retrievers[collection]

    @bentoml.api
    def ask(self, question: Text, collection: Name = "kb", tenant: Name = "default", tier: Name | None = None,
            facts: dict[str, Any] | None = None, use_cache: bool = True) -> AskResponse:
        """An answer from the collection's passages, with citations, the tier used, its cost, guardrail events and
        whether it came from the cache. With no LLM endpoint configured the answer is extractive, and says so."""
        request = AskRequest(question, collection, tenant, tier, facts or {}, use_cache)
        with _http_errors():
            return self.pipeline.ask(request)

    @bentoml.api(route="/ask/stream")
    def ask_stream(self, question: Text, collection: Name = "kb", tenant: Name = "default", tier: Name | None = None,
                   facts: dict[str, Any] | None = None, use_cache: bool = True) -> Generator[str, None, None]:
        """/ask as server-sent events: `data: {"token": ...}` as the answer is written, then
        `data: {"response": {...}}` (everything /ask returns), then `data: [DONE]`."""
        # Declared a generator for the API schema; returns a StreamingResponse so that bad input can still be a 4xx.
        events = self.pipeline.ask_stream(AskRequest(question, collection, tenant, tier, facts or {}, use_cache))
        with _http_errors():  # bad input (an unknown collection or tier) fails before the stream starts
            first = next(events)
        return StreamingResponse(_sse(first, events), media_type="text/event-stream")

    @bentoml.api
    def route(self, question: Text) -> RouteInfo:
        """Which tier the router would send this question to, and why; nothing is generated."""
        with _http_errors():  # a question the input guard refuses is not routed either
            return self.pipeline.route(question)

    @bentoml.api
    def models(self) -> list[LoadedModel]:
        """Which registry version of each capability this server is running."""
        return list(self.champions.loaded.values())


HybridService.add_asgi_middleware(ReadinessReport, readiness=READINESS)
# one error body, /docs.json that says what is sent, and a size limit on bodies
HybridService.add_asgi_middleware(ApiContract, max_body_bytes=int(settings.serve.max_body_mb * 2**20))
# BentoML finds a list response's media type by building its JSON schema, on every response (a tenth of a
# /classify request's time under load, bench/serving.py); it is fixed, so say it once.
for _method in HybridService.apis.values():
    if _method.output_spec.media_type is None and _method.output_spec.mime_type() == "application/json":
        _method.output_spec.media_type = "application/json"
HybridService.apis["ask_stream"].output_spec.media_type = "text/event-stream"  # what it sends, not text/plain


@contextmanager
def _http_errors() -> Iterator[None]:
    """Errors a caller can fix, as 4xx responses whose message says how."""
    try:
        yield
    except UnknownCollection as error:
        raise bentoml.exceptions.NotFound(str(error)) from error
    except InputError as error:  # what pydantic cannot see, e.g. timestamps out of order
        raise bentoml.exceptions.BadInput(str(error)) from error
    except NoChampionError as error:
        # 404, not 503: BentoML replaces the body of every 5xx with a generic message, and the
        # caller needs to read which model is missing and how to train it.
        raise bentoml.exceptions.NotFound(str(error)) from error


def _sse(first: dict[str, Any], rest: Iterator[dict[str, Any]]) -> Iterator[str]:
    """Server-sent events framing: one `data:` line per event, a blank line after each."""
    for event in itertools.chain([first], rest):
        if "response" in event:
            event = {"response": event["response"].model_dump(mode="json")}
        yield f"data: {json.dumps(event, ensure_ascii=False)}\n\n"
    yield "data: [DONE]\n\n"
