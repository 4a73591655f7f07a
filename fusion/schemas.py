"""Typed objects that cross the service boundary."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class IntentPrediction(BaseModel):
    label: str = Field(description="the predicted intent, or out_of_scope when the model is not confident")
    confidence: float = Field(ge=0.0, le=1.0, description="the calibrated probability of the best intent")


class SentimentPrediction(BaseModel):
    label: str = Field(description="the predicted sentiment, from the label set the model was trained on")
    confidence: float = Field(ge=0.0, le=1.0, description="the calibrated probability of that sentiment")


class EntitySpan(BaseModel):
    label: str = Field(description="the entity type, from the label set the model was trained on")
    start: int = Field(ge=0, description="offset of the first character in the input text")
    end: int = Field(ge=0, description="offset one past the last character")
    text: str = Field(description="the entity's text, input[start:end]")
    score: float = Field(ge=0.0, le=1.0, description="calibrated chance that this entity is right (beam-search score, mapped on validation data)")


class LoadedModel(BaseModel):
    capability: str
    version: int
    alias: str
    run_id: str


FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


MAX_HORIZON = 10_000  # forecast steps one request may ask for


def check_series_points(series: list[SeriesIn], limit: int) -> list[SeriesIn]:
    """A series past ``limit`` points is refused by its position, before any model sees it."""
    for i, one in enumerate(series):
        if len(one.values) > limit:
            raise ValueError(f"series.{i}: {len(one.values):,} points; at most {limit:,} per series "
                             "([serve].max_series_points)")
    return series


class SeriesIn(BaseModel):
    """One series: timestamps in increasing order, each with a finite value."""

    series_id: str = Field("series", min_length=1, description="a name for the series, echoed back")
    timestamps: list[datetime] = Field(min_length=1, description="ISO 8601 times, increasing, no repeats")
    values: list[FiniteFloat] = Field(min_length=1, description="one finite number per timestamp")

    @model_validator(mode="after")
    def _same_length(self) -> SeriesIn:
        if len(self.timestamps) != len(self.values):
            raise ValueError(f"timestamps has {len(self.timestamps)} items but values has {len(self.values)}; give one value per timestamp")
        for i in range(1, len(self.timestamps)):
            try:
                increasing = self.timestamps[i] > self.timestamps[i - 1]
            except TypeError:  # one with a time zone, one without
                raise ValueError(f"timestamps: item {i} has a time zone and item {i - 1} has none, or the other way "
                                 "round; give every timestamp the same kind") from None
            if not increasing:
                kind = "is a duplicate timestamp of" if self.timestamps[i] == self.timestamps[i - 1] else \
                    "comes before (not sorted)"
                raise ValueError(f"timestamps: item {i} ({self.timestamps[i].isoformat()}) {kind} item {i - 1}; "
                                 "give them in increasing order, without repeats")
        return self


class AnomalyResult(BaseModel):
    series_id: str
    scores: list[float] = Field(description="anomaly score per point in [0, 1], from that point and the ones before it")
    alarms: list[bool] = Field(description="alarm per point: score at or above the model's threshold, one per event")
    anomalies: list[datetime] = Field(description="the timestamps that raised an alarm")


class ForecastResult(BaseModel):
    series_id: str
    timestamps: list[datetime] = Field(description="the future steps, continuing the series at its own sampling step")
    forecast: list[float]
    lo_80: list[float]
    hi_80: list[float]
    lo_95: list[float]
    hi_95: list[float]
    model: str = Field(description="the candidate the backtest chose for this series (or the overall best for a new one)")


class SearchHit(BaseModel):
    chunk_id: str = Field(description="<doc_id>#<position>: the chunk's place in its document, for citations")
    doc_id: str = Field(description="the document: its record id, or its path relative to the ingested folder")
    title: str
    text: str
    source: str = Field(description="the file the document was read from")
    score: float = Field(description="the score of the mode asked for; higher is better")
    dense_score: float | None = Field(None, description="cosine similarity to the query, when the dense stage scored it")
    bm25_score: float | None = Field(None, description="BM25 score, when the sparse stage scored it")


class SearchResult(BaseModel):
    collection: str
    version: str = Field(description="the collection version searched (changes after each ingest that adds or removes)")
    mode: str
    hits: list[SearchHit]


class Citation(BaseModel):
    source_id: str = Field(description="the number the answer cites, as in [1]")
    chunk_id: str
    doc_id: str
    title: str
    source: str


class RouteInfo(BaseModel):
    tier: str = Field(description="the tier the router chose")
    strategy: str = Field(description="rules, similarity, classifier or llm")
    complexity: float | None = Field(None, description="the classifier's complexity score in [0, 1], when it has one")
    reason: str


class UsageInfo(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = Field(0.0, description="at the answering tier's prices; 0 offline and on a cache hit")
    estimated: bool = Field(False, description="true when the endpoint reported no token counts and they were estimated")


class GuardrailEvent(BaseModel):
    stage: Literal["input", "output"]
    kind: str = Field(description="size, pii, injection, ungrounded, numeric_mismatch or policy")
    action: str = Field(description="blocked, redacted, flagged or withheld")
    detail: str


class AskResponse(BaseModel):
    request_id: str
    answer: str
    generator: Literal["llm", "extractive", "cache", "guardrail"] = Field(
        description="llm: a configured endpoint wrote it; extractive: sentences quoted from the passages (no LLM); "
        "cache: a stored answer to a similar question; guardrail: the request was refused")
    citations: list[Citation] = Field(description="the passages the answer cites")
    tier: str | None = Field(None, description="the tier that answered (after any fallback)")
    model: str | None = None
    route: RouteInfo | None = None
    usage: UsageInfo = UsageInfo()
    cache_hit: bool = False
    cache_similarity: float | None = None
    guardrail_events: list[GuardrailEvent] = Field(default_factory=list)
    degraded: list[str] = Field(default_factory=list, description="what did not work as configured, and what answered instead")
    facts: dict[str, Any] = Field(default_factory=dict, description="the ML results given to the generator")
    prompt: str | None = Field(None, description="the prompt template's name@hash")


# -- /predict: one request, routed by the input classifier, fused, scored for confidence ------------

#: what a request may ask for: "answer" is the GenAI path (retrieval + generation), the rest ML capabilities
Task = Literal["answer", "intent", "sentiment", "ner", "anomaly", "forecast", "tabular_anomaly"]
TASKS: tuple[str, ...] = Task.__args__
FeatureValue = Annotated[float, Field(allow_inf_nan=False)] | int | bool | str


class PredictRequest(BaseModel):
    """Text, series, a feature row, or any mix; the input classifier decides what runs unless ``tasks`` says."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(None, description="a message, a question or an instruction")
    question: str | None = Field(None, description="what the GenAI path answers (default: text)")
    series: list[SeriesIn] | None = Field(None, description="time series for anomaly detection and forecasting")
    features: dict[str, FeatureValue] | None = Field(
        None, description="one tabular row, name -> number, string or bool, for the tabular anomaly detector")
    tasks: list[Task] | None = Field(
        None, description="run exactly these (skipping the input classifier); \"answer\" forces the GenAI path")
    collection: str = Field("kb", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$",
                            description="the search collection the GenAI path answers from")
    tenant: str = Field("default", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                        description="the semantic cache's scope")
    horizon: int | None = Field(None, ge=1, le=MAX_HORIZON, description="forecast steps ahead (default: the model's)")

    @model_validator(mode="after")
    def _something_given(self) -> PredictRequest:
        if not ((self.text and self.text.strip()) or self.series or self.features):
            raise ValueError("text, series, features: give at least one (a non-empty text, a series or a feature row)")
        if self.tasks is not None and not self.tasks:
            raise ValueError("tasks: give at least one task, or leave it out to let the input classifier choose")
        return self


class PredictRoute(BaseModel):
    path: Literal["genai", "ml", "both"] = Field(description="genai: only the answer; ml: no answer; both: answer and ML")
    capabilities: list[str] = Field(description="what was chosen: \"answer\" for the GenAI path plus ML capability names")
    scores: dict[str, float] = Field(description="the input classifier's probability per task (empty when forced)")
    forced: bool = Field(description="true when the request's tasks chose, not the classifier")
    reason: str


class TabularAnomalyResult(BaseModel):
    score: float = Field(description="isolation score in [0, 1]; higher is more unusual")
    alarm: bool = Field(description="score at or above the model's threshold")
    threshold: float


class PredictResults(BaseModel):
    """Each capability that ran, in the same shape as its own endpoint; null when it did not run."""

    intent: IntentPrediction | None = None
    sentiment: SentimentPrediction | None = None
    ner: list[EntitySpan] | None = None
    anomaly: list[AnomalyResult] | None = None
    forecast: list[ForecastResult] | None = None
    tabular_anomaly: TabularAnomalyResult | None = None


class AnswerResult(BaseModel):
    """The GenAI path's answer (what /ask returns, less what the pipeline reports once for the whole request)."""

    answer: str
    generator: Literal["llm", "extractive", "cache", "guardrail"]
    citations: list[Citation]
    tier: str | None = None
    model: str | None = None
    route: RouteInfo | None = None
    usage: UsageInfo = UsageInfo()
    cache_hit: bool = False
    prompt: str | None = None


class Conflict(BaseModel):
    kind: str = Field(description="number, entity, intent_topic or tone")
    detail: str
    resolution: str = Field(description="which side won, and why")


class Confidence(BaseModel):
    overall: float = Field(ge=0.0, le=1.0, description="calibrated probability that the whole response is right")
    parts: dict[str, float] = Field(description="calibrated probability that each part is right")
    scorer: str = Field(description="\"trained\": the confidence champion; \"fallback\": its parts' own probabilities")


class PredictResponse(BaseModel):
    request_id: str
    route: PredictRoute
    results: PredictResults
    answer: AnswerResult | None = Field(None, description="the GenAI answer, when that path ran")
    conflicts: list[Conflict] = Field(default_factory=list)
    confidence: Confidence
    needs_review: bool
    review_reasons: list[str] = Field(default_factory=list)
    models: dict[str, int] = Field(description="capability -> the registry version that answered")
    timings_ms: dict[str, float]
    guardrail_events: list[GuardrailEvent] = Field(default_factory=list)
    degraded: list[str] = Field(default_factory=list, description="what could not run as asked, and why")
