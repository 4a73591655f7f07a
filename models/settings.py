"""One validated settings object for the whole service.

Precedence, highest first: constructor arguments, ``HYBRID_*`` environment variables
(nested with ``__``, e.g. ``HYBRID_INTENT__MODEL=lightgbm``), the TOML file
(``hybrid.toml`` in the working directory, or the path in ``HYBRID_CONFIG``), then defaults.
The standard ``MLFLOW_TRACKING_URI`` still wins over everything for the tracking store, so a team
can point every tool at a shared tracking server the usual way.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class _Section(BaseModel):
    # A typo in hybrid.toml should fail loudly, not be ignored.
    model_config = ConfigDict(extra="forbid")


class MlflowSettings(_Section):
    tracking_uri: str = "sqlite:///mlruns/mlflow.db"
    artifact_root: Path = Path("mlruns/artifacts")
    experiment: str = "hybrid"
    champion_alias: str = "champion"


class DataSettings(_Section):
    sample_dir: Path = Path("data/sample")
    seed: int = 7


class TrainingSettings(_Section):
    test_size: float = Field(0.2, gt=0.0, lt=1.0)
    seed: int = 42


class TextClassifierSettings(_Section):
    """Hyperparameters of a text classifier (see models/text_classifier.py)."""

    model: Literal["logreg", "lightgbm", "embedding", "ensemble", "finetune"] = "ensemble"
    C: float = Field(20.0, gt=0.0)
    embedding_C: float = Field(10.0, gt=0.0)
    max_features: int = Field(200_000, gt=0)
    char_ngrams: bool = True
    n_estimators: int = Field(200, gt=0)
    learning_rate: float = Field(0.1, gt=0.0)
    valid_size: float = Field(0.1, gt=0.0, lt=1.0)
    max_in_scope_rejection: float = Field(0.0, ge=0.0, lt=1.0)
    embedding_model: str | None = None
    # one pass over SST-2 (60k texts) takes ~12 min on 2 CPU cores
    finetune_epochs: int = Field(1, gt=0)
    finetune_batch_size: int = Field(32, gt=0)
    finetune_learning_rate: float = Field(5e-5, gt=0.0)
    finetune_max_length: int = Field(64, gt=0)


class IntentSettings(TextClassifierSettings):
    max_in_scope_rejection: float = Field(0.02, ge=0.0, lt=1.0)


class SentimentSettings(TextClassifierSettings):
    model: Literal["logreg", "lightgbm", "embedding", "ensemble", "finetune"] = "finetune"


class NerSettings(_Section):
    #: a spaCy config file; None means the bundled models/configs/ner.cfg
    config: str | None = None
    max_epochs: int = Field(5, gt=0)
    #: training steps without a better dev F1 before stopping early
    patience: int = Field(1600, ge=0)
    #: training steps between dev evaluations (at most one epoch apart)
    eval_frequency: int = Field(400, gt=0)
    #: parses kept by the beam search that scores each entity (1 gives every entity score 1.0)
    beam_width: int = Field(8, gt=0)
    #: "greedy" keeps spaCy's trained decoder for the entities (the beam only scores them)
    decode: Literal["greedy", "beam"] = "greedy"
    valid_size: float = Field(0.1, gt=0.0, lt=1.0)


class AnomalySettings(_Section):
    """Streaming anomaly detector (see models/anomaly.py); windows are counted in points."""

    short_window: int = Field(64, ge=4)
    long_window: int = Field(1000, ge=4)
    #: z-distance that maps to a surprise of 1 - 1/e
    softness: float = Field(3.0, gt=0.0)
    average: int = Field(30, gt=0)
    history: int = Field(8640, gt=1)
    learning: int = Field(150, gt=1)
    min_std: float = Field(0.03, gt=0.0)
    breach_tolerance: float = Field(0.05, ge=0.0)
    quiet: int = Field(75, ge=0)
    profile: Literal["standard", "reward_low_FP_rate", "reward_low_FN_rate"] = "standard"
    threshold: float = Field(0.5, gt=0.0, le=1.0)


class TabularAnomalySettings(_Section):
    """Isolation forest over feature rows (see models/tabular_anomaly.py)."""

    n_estimators: int = Field(200, gt=0)
    max_samples: int | Literal["auto"] = "auto"
    #: share of training rows above the alarm threshold when no labels tune it
    contamination: float = Field(0.01, gt=0.0, lt=0.5)


class ForecastSettings(_Section):
    """Forecaster (see models/forecast.py): candidates chosen per series by rolling-origin backtest."""

    horizon: int = Field(48, gt=0)
    #: seasonal period in steps; None infers it from the sampling step (24 hourly, 7 daily, 12 monthly)
    season: int | None = Field(None, gt=0)
    candidates: tuple[Literal["seasonal_naive", "ets", "theta", "arima", "lightgbm", "combined"], ...] = (
        "seasonal_naive", "ets", "theta", "arima", "lightgbm", "combined")
    backtest_windows: int = Field(2, gt=0)
    selection: Literal["per_series", "global"] = "per_series"
    lags: int = Field(48, gt=0)
    seasonal_lags: int = Field(7, ge=0)
    n_estimators: int = Field(500, gt=0)
    learning_rate: float = Field(0.05, gt=0.0)
    num_leaves: int = Field(63, gt=1)
    max_rows: int = Field(1_000_000, gt=0)
    #: processes fitting the per-series statistical models (-1: one per core)
    n_jobs: int = -1


class RagSettings(_Section):
    """Ingestion and search (see models/rag/)."""

    collections_dir: Path = Path("collections")
    chunker: Literal["recursive", "semantic"] = "recursive"
    #: chunk size in the embedding model's own word pieces (MiniLM reads at most 512)
    chunk_tokens: int = Field(512, gt=16, le=512)
    chunk_overlap: int = Field(64, ge=0)
    #: a sentence-transformers folder; None means the bundled all-MiniLM-L6-v2
    embedding_model: str | None = None
    #: "auto" is exact (flat) below 200k chunks, HNSW above
    dense_index: Literal["auto", "flat", "hnsw"] = "auto"
    #: how deep each first-stage list goes; fusion and the reranker see the union of both lists
    candidates: int = Field(100, gt=0)
    fusion: Literal["rrf", "normalised"] = "normalised"
    rrf_k: int = Field(60, gt=0)
    #: normalised fusion: weight of the dense scores (BM25 gets 1 - this)
    dense_weight: float = Field(0.5, ge=0.0, le=1.0)
    default_mode: Literal["dense", "bm25", "hybrid", "rerank"] = "hybrid"
    #: a local sentence-transformers CrossEncoder folder; when set, "rerank" uses it instead of the LambdaMART champion
    cross_encoder: str | None = None
    #: how many of the best fused candidates the cross-encoder reads
    cross_encoder_depth: int = Field(30, gt=0)
    #: context assembly: word pieces of retrieved text handed to the generator
    context_tokens: int = Field(1500, gt=0)


class RerankerSettings(_Section):
    """LambdaMART over retrieval features (see models/reranker.py)."""

    n_estimators: int = Field(300, gt=0)
    learning_rate: float = Field(0.03, gt=0.0)
    num_leaves: int = Field(15, gt=1)
    min_child_samples: int = Field(20, gt=0)


class TierSettings(_Section):
    """One LLM tier: an OpenAI-compatible endpoint (vLLM, TGI, Ollama, llama.cpp server, OpenAI)."""

    base_url: str = Field(min_length=1, description="e.g. http://127.0.0.1:8000/v1")
    model: str = Field(min_length=1)
    #: the name of the environment variable holding the API key (never the key itself); None sends a placeholder
    api_key_env: str | None = None
    price_input_per_1k: float = Field(0.0, ge=0.0)
    price_output_per_1k: float = Field(0.0, ge=0.0)
    timeout_s: float = Field(30.0, gt=0.0)
    max_retries: int = Field(2, ge=0)
    max_tokens: int = Field(512, gt=0)


class LLMSettings(_Section):
    """Generation (see models/llm/): tiers by name; with none configured, answers are extractive."""

    tiers: dict[str, TierSettings] = Field(default_factory=dict)
    #: tiers tried, in order, after the routed tier fails; the extractive generator is always the last resort
    fallback: list[str] = Field(default_factory=list)
    backoff_s: float = Field(0.5, ge=0.0)
    backoff_max_s: float = Field(8.0, ge=0.0)
    #: consecutive failures of a tier that open its circuit, and how long it then stays open
    breaker_failures: int = Field(3, gt=0)
    breaker_reset_s: float = Field(30.0, gt=0.0)
    temperature: float = Field(0.2, ge=0.0, le=2.0)
    #: seconds one request may spend across all tiers, retries and backoff (the service answers within 60 s)
    deadline_s: float = Field(40.0, gt=0.0)
    #: a file in models/llm/prompts/ (name.version.txt), or a path to your own
    prompt_template: str = "answer.v1"
    #: passages retrieved for an answer, and sentences the extractive generator keeps
    retrieve_k: int = Field(8, gt=0)
    extractive_sentences: int = Field(3, gt=0)


class RouterSettings(_Section):
    """Which tier answers (see models/llm/router.py)."""

    strategy: Literal["rules", "similarity", "classifier", "llm"] = "classifier"
    #: tiers from weakest (cheapest) to strongest; the classifier's complexity score picks along this order
    tier_order: list[str] = Field(default_factory=lambda: ["cheap", "small", "large"])
    #: tiers outside the order chosen by their own signal (e.g. code)
    specialist_tiers: list[str] = Field(default_factory=lambda: ["code"])
    #: keyword rules: tier -> words or phrases that send a prompt there
    rules: dict[str, list[str]] = Field(default_factory=dict)
    #: similarity strategy: a JSONL/CSV of (text, tier) example utterances; None uses the project's labelled set
    examples: str | None = None
    #: llm strategy: the tier asked to choose
    llm_tier: str = "small"
    default_tier: str = "small"


class LLMRouterSettings(_Section):
    """The trained routing classifier (the ``llm_router`` capability, models/llm/router_model.py)."""

    C: float = Field(4.0, gt=0.0)
    valid_size: float = Field(0.15, gt=0.0, lt=1.0)
    #: goal instead of accuracy: at most this share of validation prompts go to the strongest tier
    strong_budget: float | None = Field(None, gt=0, le=1)
    #: goal instead of accuracy: the fewest strongest-tier calls whose validation PGR reaches this (not with strong_budget)
    quality_target: float | None = Field(None, gt=0, le=1)
    #: complexity cuts between the ordered tiers, weakest first, overriding the ones tuned at fit (saved with the model)
    thresholds: list[float] | None = None
    # The tiers' order is [router].tier_order (models/catalog.py SHARED); labels outside it are
    # specialists (e.g. code), chosen when most probable.


class DispatcherSettings(_Section):
    """The input classifier (the ``dispatcher`` capability, models/dispatcher.py): which paths a request needs."""

    C: float = Field(4.0, gt=0.0)
    #: share of the template families held out of train to tune the per-label thresholds (when no --valid)
    valid_size: float = Field(0.2, gt=0.0, lt=1.0)
    #: per-label decision thresholds that override the ones tuned at fit, e.g. {"answer" = 0.3}
    thresholds: dict[str, float] | None = None


class ConfidenceSettings(_Section):
    """The confidence scorer (the ``confidence`` capability, models/confidence.py)."""

    #: needs_review below the lowest overall score whose responses were fully right this often (out of fold)
    target_precision: float = Field(0.9, gt=0.0, lt=1.0)
    #: overrides the review threshold tuned at fit
    review_threshold: float | None = Field(None, ge=0.0, le=1.0)
    C: float = Field(1.0, gt=0.0)
    model: Literal["auto", "logreg", "lightgbm"] = "auto"
    calibration: Literal["platt", "isotonic"] = "platt"
    min_part_rows: int = Field(30, gt=0)
    folds: int = Field(5, ge=2)


class InjectionSettings(_Section):
    """The trained prompt-injection detector (the ``injection`` capability, models/guardrails/injection.py)."""

    C: float = Field(8.0, gt=0.0)
    valid_size: float = Field(0.15, gt=0.0, lt=1.0)
    #: the tuned threshold keeps this share of benign validation texts below it: blocking customers costs more than a miss the rules may catch
    max_false_positive_rate: float = Field(0.01, ge=0.0, lt=1.0)
    #: the score at or above which the input guard blocks; None: the threshold tuned at fit (what was evaluated)
    threshold: float | None = Field(None, gt=0.0, lt=1.0)


class GuardrailSettings(_Section):
    """Checks on what goes into and comes out of the LLM (see models/guardrails/)."""

    max_question_chars: int = Field(2000, gt=0)
    redact_pii: bool = True
    #: ISO 3166 regions whose national phone numbers (without +) are redacted; international ones always are
    phone_regions: list[str] = Field(default_factory=lambda: ["US", "GB"], min_length=1)
    block_injection: bool = True
    #: an answer sentence whose best support in the context is below this is flagged ungrounded
    grounding_threshold: float = Field(0.5, gt=0.0, le=1.0)
    #: numbers the answer states about ML results may differ from the facts by this relative amount
    numeric_tolerance: float = Field(0.01, ge=0.0)
    #: content policy: phrases an answer must not contain (case-insensitive)
    blocked_phrases: list[str] = Field(default_factory=list)
    audit_log: Path = Path("logs/audit.jsonl")


class CacheSettings(_Section):
    """Semantic cache of answers (see models/llm/cache.py)."""

    enabled: bool = True
    backend: Literal["memory", "redis"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    #: cosine similarity at or above which a cached answer is reused
    threshold: float = Field(0.90, gt=0.0, le=1.0)
    ttl_s: float = Field(3600.0, gt=0.0)
    max_entries: int = Field(10_000, gt=0)
    #: refuse a match whose questions differ in negation, a number, an antonym, a named entity or one swapped word
    key_term_guard: bool = True
    #: per-intent thresholds (e.g. learned by bench/cache.py); an intent not listed uses ``threshold``
    intent_thresholds: dict[str, float] = Field(default_factory=dict)


class ServeSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(3000, ge=1, le=65535)
    #: merge concurrent /classify, /sentiment and /ner requests into one model call (BentoML adaptive batching).
    #: Off by default: on 2 CPU cores it gained 1.18x in one bench/serving.py run and lost (0.84x) in another,
    #: and its dispatcher answers 503 "process is overloaded" to a burst it expects to exceed max_latency_ms.
    adaptive_batching: bool = False
    max_batch_size: int = Field(256, gt=0)
    max_latency_ms: int = Field(1000, gt=0)
    max_texts_per_request: int = Field(1000, gt=0)
    max_text_chars: int = Field(10_000, gt=0)
    max_series_per_request: int = Field(100, gt=0)
    max_series_points: int = Field(100_000, gt=0)
    max_features: int = Field(1_000, gt=0)   # names in one /predict feature row
    #: a request body past this is refused (413) before it is parsed
    max_body_mb: float = Field(32.0, gt=0)
    #: torch threads per model call in a process that runs the hybrid pipeline (None: torch's default, one per
    #: core). The pipeline runs a request's models side by side, and each using every core oversubscribes them:
    #: on 2 cores an ML-only text request took 98 ms at p50 with 2 threads, 50 ms with 1 (bench/hybrid.py).
    torch_threads: int | None = Field(1, ge=1)
    #: requests a worker computes at once (BentoML runs synchronous endpoints through a limiter of this many
    #: threads; its default, 1, serialises every request, so one slow /ask holds up every /classify)
    threads: int = Field(4, ge=1)
    #: service worker processes, each with its own copy of the models (about 1.1 GB each on the sample models).
    #: The models' Python (tokenising, sklearn) holds the GIL, so one process keeps about one core busy: on 2
    #: cores, /classify served about 50/s with one worker and 80/s with two (a profiling run). None: one per core,
    #: at most 4. Several workers share the semantic cache only through Redis ([cache].backend = "redis").
    workers: int | None = Field(None, ge=1)

    def worker_count(self) -> int:
        return self.workers or min(os.cpu_count() or 1, 4)


class ScoreSettings(_Section):
    chunk_size: int = Field(2000, gt=0)


class HybridSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HYBRID_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    mlflow: MlflowSettings = MlflowSettings()
    data: DataSettings = DataSettings()
    training: TrainingSettings = TrainingSettings()
    intent: IntentSettings = IntentSettings()
    sentiment: SentimentSettings = SentimentSettings()
    ner: NerSettings = NerSettings()
    anomaly: AnomalySettings = AnomalySettings()
    forecast: ForecastSettings = ForecastSettings()
    tabular_anomaly: TabularAnomalySettings = TabularAnomalySettings()
    rag: RagSettings = RagSettings()
    reranker: RerankerSettings = RerankerSettings()
    llm: LLMSettings = LLMSettings()
    router: RouterSettings = RouterSettings()
    llm_router: LLMRouterSettings = LLMRouterSettings()
    dispatcher: DispatcherSettings = DispatcherSettings()
    confidence: ConfidenceSettings = ConfidenceSettings()
    injection: InjectionSettings = InjectionSettings()
    guardrails: GuardrailSettings = GuardrailSettings()
    cache: CacheSettings = CacheSettings()
    serve: ServeSettings = ServeSettings()
    score: ScoreSettings = ScoreSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = Path(os.environ.get("HYBRID_CONFIG", "hybrid.toml"))
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=toml_file))

    @property
    def tracking_uri(self) -> str:
        return os.environ.get("MLFLOW_TRACKING_URI") or self.mlflow.tracking_uri


@lru_cache(maxsize=1)
def get_settings() -> HybridSettings:
    """The process-wide settings, read once."""
    return HybridSettings()
