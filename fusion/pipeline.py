"""HybridPipeline: one request in; guarded, routed by the input classifier, dispatched, fused and scored.

    pipeline = HybridPipeline.from_settings(settings)      # loads every champion once
    response = pipeline.predict(PredictRequest(text="my card was stolen, can I still use it?"))
    response.route.path, response.results.intent, response.answer, response.confidence.overall

    pipeline.ask(AskRequest(question=...))                 # /ask: the GenAI door into the same pipeline

The one way through (DESIGN.md):

    request ─► InputGuard ─► dispatcher (or the request's tasks) ─┬─► ML capabilities, concurrently
                                                                  └─► GenAI branch (fusion/ask.py), after them,
                                                                      with their results as facts
            response ◄─ confidence scorer ◄─ combiner ◄───────────┘

The service, the CLI, batch scoring, the benchmarks and the notebooks all build it here, so there is
one wiring to read. Nothing fails a request that can still be answered: a capability without a
champion, or without its input (a forecast with no series), is skipped and named in ``degraded``;
bad input is an ``InputError`` whose message names the field.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pandas as pd

from fusion.ask import AskPipeline, AskRequest, GuardedQuestion
from fusion.champions import Champions
from fusion.combiner import combine
from fusion.schemas import (
    TASKS,
    AnomalyResult,
    AnswerResult,
    AskResponse,
    Confidence,
    EntitySpan,
    ForecastResult,
    GuardrailEvent,
    IntentPrediction,
    PredictRequest,
    PredictResponse,
    PredictResults,
    PredictRoute,
    RouteInfo,
    SentimentPrediction,
    SeriesIn,
    TabularAnomalyResult,
    check_series_points,
)
from fusion.signals import part_signals
from models.base import InputError
from models.guardrails.audit import AuditLog
from models.guardrails.guards import GuardEvent, InputGuard
from models.memo import SharedMemo
from models.series import parse_timestamps
from models.settings import HybridSettings, get_settings

#: capabilities whose results on a question become facts for /ask's answer
TEXT_FACTS = ("intent", "sentiment", "ner")
ML_TASKS = tuple(t for t in TASKS if t != "answer")
SERIES_TASKS = ("anomaly", "forecast")
#: every champion the pipeline may use: the ML capabilities and the models around them
PIPELINE_MODELS = (*ML_TASKS, "dispatcher", "confidence", "injection", "llm_router", "reranker")
#: the caller's facts, as JSON, may be at most this long (they go into the prompt)
MAX_FACTS_CHARS = 4000
REFUSED = "the input guard refused the request"
#: sentence vectors kept for reuse (6 MB): the grounding check re-reads the sentences the extractive
#: generator embedded, and popular passages come back across requests
REMEMBERED_VECTORS = 4096


@dataclass(frozen=True)
class Outcome:
    """A response and what its confidence was computed from: per part signals, and the request's own."""

    response: PredictResponse
    signals: dict[str, dict[str, float]]
    request_signals: dict[str, float]


@dataclass(frozen=True)
class _Route:
    capabilities: list[str]
    scores: dict[str, float]
    forced: bool
    reason: str

    @property
    def path(self) -> str:
        ml = any(c != "answer" for c in self.capabilities)
        return "both" if "answer" in self.capabilities and ml else ("genai" if "answer" in self.capabilities else "ml")


class HybridPipeline:
    def __init__(self, champions: Champions, genai: AskPipeline, input_guard: InputGuard, audit: AuditLog,
                 settings: HybridSettings, entities: Callable[[list[str]], list[list[dict]]] | None = None) -> None:
        """``entities``: the NER function the input guard also uses, so a text is read for names once."""
        self.champions = champions
        self.genai = genai
        self.input_guard = input_guard
        self.audit = audit
        self.settings = settings
        self._entities = entities
        self._pool = ThreadPoolExecutor(max_workers=len(ML_TASKS) + 1, thread_name_prefix="dispatch")  # + the guard

    @classmethod
    def from_settings(cls, settings: HybridSettings | None = None, champions: Champions | None = None,
                      encoder=None, retrievers: Callable | None = None,
                      remembered_vectors: int = REMEMBERED_VECTORS) -> HybridPipeline:
        """Every champion there is (or ``champions``), the input guard, and the GenAI branch over the
        collections in ``[rag].collections_dir``. ``encoder``/``retrievers`` let a caller share its own."""
        from models.embeddings import RememberingEncoder
        from models.rag.factory import open_retriever, query_encoder

        settings = settings or get_settings()
        if settings.serve.torch_threads is not None:
            import torch

            torch.set_num_threads(settings.serve.torch_threads)  # process-wide; see [serve].torch_threads
        champions = champions or Champions.from_registry(list(PIPELINE_MODELS), settings, skip_missing=True)
        _share_text_encoder(champions, settings, remembered_vectors)
        _serve_with_onnx(champions, settings)
        encoder = RememberingEncoder(encoder or query_encoder(settings), max_items=remembered_vectors)
        if retrievers is None:
            reranker = champions.get("reranker")
            opened: dict[str, Any] = {}

            def retrievers(name: str):
                if name not in opened:
                    opened[name] = open_retriever(name, settings, reranker=reranker, encoder=encoder, load_reranker=False)
                return opened[name]

        examples = None
        if settings.router.strategy == "similarity":
            from training.router_data import load_examples

            examples = load_examples(settings)
        genai = AskPipeline.from_settings(settings, encoder, retrievers, route_model=champions.get("llm_router"),
                                          router_examples=examples)
        entities = _remembering_ner(champions) if "ner" in champions else None
        input_guard = InputGuard(settings.guardrails, detector=champions.get("injection"), ner=entities)
        return cls(champions, genai, input_guard, AuditLog(settings.guardrails.audit_log), settings, entities)

    # -- /predict --------------------------------------------------------------------------------

    def predict(self, request: PredictRequest) -> PredictResponse:
        return self.run(request).response

    def run(self, request: PredictRequest) -> Outcome:
        """``predict``, with the signals the confidence scorer read (what fusion/confidence_data.py trains it on)."""
        request_id = uuid.uuid4().hex[:16]
        timings: dict[str, float] = {}
        started = time.perf_counter()
        self._check_sizes(request)
        degraded: list[str] = []
        # The input guard (injection score, PII) runs beside routing and the ML models: they do not read its
        # verdict, and a request it blocks is refused whatever they found. It and the NER part share one NER pass.
        guarding = self._pool.submit(self._guard_texts, request)
        try:
            with _timed(timings, "route"):
                route = self._route(request, degraded)
            frames = _inputs(request)
            ask_request = None
            if "answer" in route.capabilities:
                ask_request = self._ask_request(request, route, degraded)
                if ask_request is not None:
                    self.genai.check(ask_request)  # an unknown collection is a 4xx before any model runs
            with _timed(timings, "ml"):
                results, signals = self._run_ml([c for c in route.capabilities if c != "answer"], frames, request,
                                                degraded, timings)
        finally:
            guarded, timings["guard"] = guarding.result()
        events = [e for g in guarded.values() for e in g.events]
        if any(g.blocked for g in guarded.values()):
            return Outcome(self._refused(request_id, request, events, timings, started), {}, {})
        answer, passages = None, {}
        if ask_request is not None:
            with _timed(timings, "genai"):
                answer, answer_signals, passages = self._answer(ask_request, request_id, guarded, events, results)
            if answer is not None:  # the input guard's events and the output guard's
                events = [GuardEvent(e.stage, e.kind, e.action, e.detail) for e in answer.guardrail_events]
                signals["answer"] = answer_signals
        with _timed(timings, "combine"):
            conflicts = combine(results, answer, passages)
        request_signals = {"req_conflicts": float(len(conflicts)), "req_guardrail_events": float(len(events)),
                           "req_n_parts": float(len(signals))}
        if not route.forced:  # a forced route has no probability
            request_signals["req_route_probability"] = min((route.scores.get(c, 1.0) for c in route.capabilities), default=1.0)
        with _timed(timings, "confidence"):
            confidence, needs_review, reasons = self._confidence(signals, request_signals, conflicts, events, degraded)
        timings["total"] = round((time.perf_counter() - started) * 1000, 2)
        self.audit.record(request_id, events)
        response = PredictResponse(
            request_id=request_id,
            route=PredictRoute(path=route.path, capabilities=route.capabilities, scores=route.scores, forced=route.forced,
                               reason=route.reason),
            results=results, answer=_answer_result(answer) if answer is not None else None, conflicts=conflicts,
            confidence=confidence, needs_review=needs_review, review_reasons=reasons,
            models=self._versions([*signals, *([] if route.forced else ["dispatcher"]), "confidence", "injection",
                                   *(["llm_router", "reranker"] if answer is not None else [])]),
            timings_ms=timings, guardrail_events=[_event(e) for e in events], degraded=degraded,
        )
        return Outcome(response, signals, request_signals)

    def _check_sizes(self, request: PredictRequest) -> None:
        limit = self.settings.serve.max_text_chars
        for field in ("text", "question"):
            value = getattr(request, field)
            if value is not None and len(value) > limit:
                raise InputError(f"{field}: {len(value)} characters; at most {limit} ([serve].max_text_chars)")
        serve = self.settings.serve
        if request.series and len(request.series) > serve.max_series_per_request:
            raise InputError(f"series: {len(request.series)} series; at most {serve.max_series_per_request} "
                             "([serve].max_series_per_request)")
        try:
            check_series_points(request.series or [], serve.max_series_points)
        except ValueError as error:
            raise InputError(str(error)) from None
        if request.features and len(request.features) > serve.max_features:
            raise InputError(f"features: {len(request.features)} names; at most {serve.max_features} "
                             "([serve].max_features)")

    def _guard_texts(self, request: PredictRequest) -> tuple[dict[str, Any], float]:
        """The input guard's verdict on each distinct text of the request (the text, a separate question),
        and the milliseconds it took."""
        started = time.perf_counter()
        texts = [t for t in (request.text, request.question) if t and t.strip()]
        verdicts = {text: self.input_guard.check(text) for text in dict.fromkeys(texts)}
        return verdicts, round((time.perf_counter() - started) * 1000, 2)

    def _versions(self, names: list[str]) -> dict[str, int]:
        """Registry versions of the champions that took part."""
        return {name: self.champions.loaded[name].version for name in dict.fromkeys(names) if name in self.champions}

    def _route(self, request: PredictRequest, degraded: list[str]) -> _Route:
        if request.tasks:
            chosen = list(dict.fromkeys(request.tasks))
            return _Route(chosen, {}, True, f"the request asked for {', '.join(chosen)}")
        frame = pd.DataFrame({"text": [request.text or request.question or ""], "has_series": [bool(request.series)],
                              "series_length": [max((len(s.values) for s in request.series or []), default=0)],
                              "has_features": [bool(request.features)]})
        dispatcher = self.champions.get("dispatcher")
        if dispatcher is None:
            degraded.append(f"dispatcher: {self.champions.why_missing('dispatcher')}; routed by the input's structure")
            return _structural_route(request)
        row = dispatcher.predict(frame).iloc[0]
        scores = {t: round(float(row[f"p_{t}"]), 4) for t in TASKS if f"p_{t}" in row.index}
        chosen = list(row["labels"])
        top = ", ".join(f"{t} {scores.get(t, 0):.2f}" for t in chosen)
        return _Route(chosen, scores, False, f"input classifier: {top}")

    # -- the ML path ---------------------------------------------------------------------------

    def _run_ml(self, capabilities: list[str], frames: dict[str, pd.DataFrame], request: PredictRequest,
                degraded: list[str], timings: dict[str, float]) -> tuple[PredictResults, dict[str, dict[str, float]]]:
        runnable = []
        for name in capabilities:
            if name not in self.champions:
                degraded.append(f"{name}: {self.champions.why_missing(name)}")
            elif _input_of(name) not in frames:
                degraded.append(f"{name}: the request has no {_input_of(name)} for it")
            else:
                runnable.append(name)
        futures = {name: self._pool.submit(self._run_one, name, frames, request) for name in runnable}
        results, signals = {}, {}
        for name, future in futures.items():
            result, ms = future.result()  # an InputError (e.g. a series too short) surfaces as the caller's 4xx
            results[name] = result
            timings[f"ml.{name}"] = ms
            # the anomaly detectors' alarm threshold, for a score's distance from it
            threshold = getattr(self.champions.capability(name), "operating_threshold", None)
            signals[name] = part_signals(name, result, threshold)
        return PredictResults(**results), signals

    def _run_one(self, name: str, frames: dict[str, pd.DataFrame], request: PredictRequest) -> tuple[Any, float]:
        started = time.perf_counter()
        frame = frames[_input_of(name)]
        if name == "forecast":
            result = forecast_results(self.champions.capability("forecast").forecast(frame, request.horizon))
        elif name == "ner":
            result = [EntitySpan(**e) for e in self._entities([request.text or ""])[0]]
        else:
            predicted = self.champions.predict(name, frame)
            result = _RESULT_READERS[name](predicted, frame, self.champions.capability(name))
        return result, round((time.perf_counter() - started) * 1000, 2)

    # -- the GenAI path ------------------------------------------------------------------------

    def _ask_request(self, request: PredictRequest, route: _Route, degraded: list[str]) -> AskRequest | None:
        question = request.question or request.text
        if question and question.strip():
            return AskRequest(question, request.collection, request.tenant)
        if route.forced:
            raise InputError("question: the task 'answer' needs a question or a text to answer")
        degraded.append("answer: the request has no text or question to answer")
        return None

    def _answer(self, ask_request: AskRequest, request_id: str, guarded: dict[str, Any], events: list[GuardEvent],
                results: PredictResults) -> tuple[AskResponse, dict[str, float], dict[str, str]]:
        """The answer, its signals, and the text of the passages it was written from (chunk id -> text)."""
        question = guarded[ask_request.question].text   # PII redacted
        *_, last = self.genai.answer_stream(ask_request, request_id, GuardedQuestion(question, tuple(events)),
                                            _facts(results, question), stream=False)
        return last["response"], last["signals"].as_dict(), last["passages"]

    # -- /ask and /route -------------------------------------------------------------------------

    def ask(self, request: AskRequest) -> AskResponse:
        *_, last = self.ask_stream(request, stream=False)
        return last["response"]

    def ask_stream(self, request: AskRequest, stream: bool = True) -> Iterator[dict[str, Any]]:
        """/ask: the GenAI path with the text models' facts. ``{"token": ...}`` events (when ``stream``), then
        ``{"response": AskResponse}``. Bad input raises InputError before the first event."""
        request_id = uuid.uuid4().hex[:16]
        self.genai.check(request)
        guarded = self.input_guard.check(request.question)
        events = list(guarded.events)
        given, refused = self._guard_given_facts(request.facts, events)
        if guarded.blocked or refused:
            self.audit.record(request_id, events)
            yield {"response": self.genai.refusal(request_id, events)}
            return
        frame = pd.DataFrame({"text": [request.question]})
        names = [n for n in TEXT_FACTS if n in self.champions]
        results, _ = self._run_ml(names, {"text": frame}, PredictRequest(text=request.question), [], {})
        question = GuardedQuestion(guarded.text, tuple(events), given)
        for event in self.genai.answer_stream(request, request_id, question, _facts(results, guarded.text), stream):
            if "response" in event:
                self.audit.record(request_id, [GuardEvent(e.stage, e.kind, e.action, e.detail)
                                               for e in event["response"].guardrail_events])
                yield {"response": event["response"]}
            else:
                yield event

    def route(self, question: str) -> RouteInfo:
        """Which tier would answer the guarded question; a question the guard refuses is an InputError."""
        guarded = self.input_guard.check(question)
        if guarded.blocked:
            raise InputError(f"question: refused by the input guard ({'; '.join(e.detail for e in guarded.events)})")
        return self.genai.route(guarded.text)

    def _guard_given_facts(self, facts: dict[str, Any], events: list[GuardEvent]) -> tuple[dict[str, Any], bool]:
        """The caller's facts, flattened under ``given.``, each text value through the input guard (they reach
        the prompt as the question does). Returns them and whether the guard refused one."""
        if len(json.dumps(facts, default=str)) > MAX_FACTS_CHARS:
            raise InputError(f"facts: at most {MAX_FACTS_CHARS} characters of JSON; send the results the answer "
                             "should explain, not raw series")
        checked: dict[str, Any] = {}
        refused = False
        for key, value in _flatten(facts, "given.").items():
            if isinstance(value, str):
                guarded = self.input_guard.check(value)
                events.extend(GuardEvent(e.stage, e.kind, e.action, f"facts[{key!r}]: {e.detail}") for e in guarded.events)
                refused |= guarded.blocked
                value = guarded.text
            checked[key] = value
        return checked, refused

    # -- confidence ------------------------------------------------------------------------------

    def _confidence(self, signals: dict[str, dict[str, float]], request_signals: dict[str, float], conflicts: list,
                    events: list[GuardEvent], degraded: list[str]) -> tuple[Confidence, bool, list[str]]:
        scorer = self.champions.get("confidence")
        if not signals:
            return Confidence(overall=0.0, parts={}, scorer="fallback"), True, ["nothing ran: " + "; ".join(degraded)]
        reasons = [f"conflict ({c.kind}): {c.detail}" for c in conflicts]
        if scorer is not None:
            frame = pd.DataFrame([{"request_id": "r", "part": part, **values, **request_signals}
                                  for part, values in signals.items()])
            scored = scorer.predict(frame)
            parts = {part: round(float(p), 4) for part, p in zip(signals, scored["confidence"])}
            overall = round(float(scored["overall"].iloc[0]), 4)
            needs_review = bool(scored["needs_review"].iloc[0])
            threshold = getattr(scorer, "operating_threshold", None)
            if needs_review:
                reasons.insert(0, f"overall confidence {overall:.2f} is under the review threshold"
                                  + (f" {threshold:.2f}" if threshold is not None else ""))
            kind = "trained"
        else:
            # No trained scorer: a part's own calibrated probability where it has one; the rest go to review.
            parts = {part: round(float(v["p_self"]), 4) for part, v in signals.items() if "p_self" in v}
            unscored = [p for p in signals if p not in parts]
            overall = round(min(parts.values(), default=0.0), 4) if not unscored else 0.0
            needs_review = bool(unscored) or overall < 0.5
            if unscored:
                reasons.insert(0, f"no confidence champion (run `hybrid train confidence`): {', '.join(unscored)} not scored")
            elif needs_review:
                reasons.insert(0, f"lowest part confidence {overall:.2f} is under 0.5 (no confidence champion)")
            kind = "fallback"
        reasons += [f"{part}: low confidence {p:.2f}" for part, p in parts.items() if p < 0.5]
        if any(e.action in ("blocked", "withheld") for e in events):
            needs_review = True
        return Confidence(overall=overall, parts=parts, scorer=kind), needs_review or bool(conflicts), reasons

    def _refused(self, request_id: str, request: PredictRequest, events, timings: dict[str, float],
                 started: float) -> PredictResponse:
        timings["total"] = round((time.perf_counter() - started) * 1000, 2)
        self.audit.record(request_id, list(events))
        return PredictResponse(
            request_id=request_id,
            route=PredictRoute(path="genai", capabilities=[], scores={}, forced=bool(request.tasks), reason=REFUSED),
            results=PredictResults(), answer=None, confidence=Confidence(overall=0.0, parts={}, scorer="fallback"),
            needs_review=True, review_reasons=[REFUSED], models={}, timings_ms=timings,
            guardrail_events=[_event(e) for e in events], degraded=[],
        )


# -- helpers ----------------------------------------------------------------------------------------

@contextmanager
def _timed(timings: dict[str, float], stage: str):
    started = time.perf_counter()
    yield
    timings[stage] = round((time.perf_counter() - started) * 1000, 2)


def _structural_route(request: PredictRequest) -> _Route:
    """Without a trained dispatcher: what the request's structure allows, said so in the reason."""
    chosen = []
    if request.text and request.text.strip():
        chosen.append("answer")
    if request.series:
        chosen += list(SERIES_TASKS)
    if request.features:
        chosen.append("tabular_anomaly")
    return _Route(chosen, {}, False, "no dispatcher champion: text -> answer, series -> anomaly + forecast, "
                                     "features -> tabular_anomaly")


def _input_of(capability: str) -> str:
    if capability in SERIES_TASKS:
        return "series"
    return "features" if capability == "tabular_anomaly" else "text"


def _inputs(request: PredictRequest) -> dict[str, pd.DataFrame]:
    """The request as the frames the capabilities read: text, the long series frame, the feature row."""
    frames = {}
    if request.text and request.text.strip():
        frames["text"] = pd.DataFrame({"text": [request.text]})
    if request.series:
        frames["series"] = series_frame(request.series)
    if request.features:
        frames["features"] = pd.DataFrame([request.features])
    return frames


def series_frame(series: list[SeriesIn]) -> pd.DataFrame:
    """Request series as one long frame (series_id, timestamp, value)."""
    if len({s.series_id for s in series}) < len(series):
        raise InputError("series: each series needs its own series_id within a request")
    frame = pd.concat([pd.DataFrame({"series_id": s.series_id, "timestamp": s.timestamps, "value": s.values})
                       for s in series], ignore_index=True)
    # Offsets in the request ("...Z", "+02:00") become naive UTC, the models' datetime type.
    return frame.assign(timestamp=parse_timestamps(frame["timestamp"], "series"))


def anomaly_results(predicted: pd.DataFrame, frame: pd.DataFrame, capability=None) -> list[AnomalyResult]:
    joined = predicted.join(frame)
    return [AnomalyResult(series_id=str(name), scores=rows["score"].tolist(), alarms=rows["alarm"].tolist(),
                          anomalies=rows.loc[rows["alarm"], "timestamp"].tolist())
            for name, rows in joined.groupby("series_id", sort=False)]


def forecast_results(predicted: pd.DataFrame) -> list[ForecastResult]:
    """The forecaster's table (one row per series and future step) as one result per series: the combiner's
    view of a forecast, where every other capability gives one result per input row."""
    return [ForecastResult(series_id=str(name), timestamps=rows["timestamp"].tolist(), model=rows["model"].iloc[0],
                           **{c: rows[c].tolist() for c in ("forecast", "lo_80", "hi_80", "lo_95", "hi_95")})
            for name, rows in predicted.groupby("series_id", sort=False)]


def _tabular_result(predicted: pd.DataFrame, frame: pd.DataFrame, capability) -> TabularAnomalyResult:
    row = predicted.iloc[0]
    return TabularAnomalyResult(score=float(row["score"]), alarm=bool(row["alarm"]), threshold=capability.operating_threshold)


_RESULT_READERS = {
    "intent": lambda p, f, c: IntentPrediction(label=p["label"].iloc[0], confidence=float(p["confidence"].iloc[0])),
    "sentiment": lambda p, f, c: SentimentPrediction(label=p["label"].iloc[0], confidence=float(p["confidence"].iloc[0])),
    "anomaly": anomaly_results,
    "tabular_anomaly": _tabular_result,
}


def _facts(results: PredictResults, guarded_text: str) -> dict[str, Any]:
    """The ML results as facts for the generator. Entities the input guard redacted stay out: the facts
    reach the prompt, and no PII may."""
    facts: dict[str, Any] = {}
    for name in ("intent", "sentiment"):
        result = getattr(results, name)
        if result is not None:
            facts[f"{name}.label"] = result.label
            facts[f"{name}.confidence"] = round(result.confidence, 3)
    if results.ner is not None:
        facts["entities"] = [f"{e.text} ({e.label})" for e in results.ner if e.text in guarded_text]
    for result in results.anomaly or []:
        facts[f"anomaly.{result.series_id}.alarms"] = len(result.anomalies)
        if result.anomalies:
            facts[f"anomaly.{result.series_id}.last_alarm"] = result.anomalies[-1].isoformat()
    for result in results.forecast or []:
        facts[f"forecast.{result.series_id}.next"] = round(result.forecast[0], 4)
        facts[f"forecast.{result.series_id}.last_step"] = round(result.forecast[-1], 4)
    if results.tabular_anomaly is not None:
        facts["tabular_anomaly.score"] = round(results.tabular_anomaly.score, 4)
        facts["tabular_anomaly.alarm"] = results.tabular_anomaly.alarm
    return facts


def _answer_result(answer: AskResponse) -> AnswerResult:
    return AnswerResult(**answer.model_dump(include=set(AnswerResult.model_fields)))


def _event(event: GuardEvent) -> GuardrailEvent:
    return GuardrailEvent(stage=event.stage, kind=event.kind, action=event.action, detail=event.detail)


def _flatten(facts: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in facts.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat |= _flatten(value, f"{name}.")
        else:
            flat[name] = value
    return flat


def _share_text_encoder(champions: Champions, settings: HybridSettings, remembered: int) -> None:
    """The input classifier and the intent (and an embedding-based sentiment) model each embed the request's
    text with MiniLM; hand them one ONNX Runtime encoder of it (PyTorch for big batches), which remembers
    recent texts, so a routed request embeds its text once, in about half the time. Same model, same
    length limit, so the same vectors (the export is checked against PyTorch's); a model trained on
    another embedding model keeps its own."""
    from models.embeddings import DEFAULT_MODEL, RememberingEncoder, SentenceEncoder
    from models.rag.factory import query_encoder

    shared = None
    for name in ("dispatcher", "intent", "sentiment"):
        capability = champions.get(name)
        if capability is None or not hasattr(capability, "share_encoder"):
            continue
        if getattr(capability, "embedding_model", None) not in (None, DEFAULT_MODEL):
            continue
        if shared is None:
            # the models' own length limit (not retrieval's); as many threads as each torch call gets, since
            # these models run side by side ([serve].torch_threads)
            onnx = query_encoder(settings, SentenceEncoder(), threads=settings.serve.torch_threads)
            shared = RememberingEncoder(onnx, max_items=remembered)
        capability.share_encoder(shared)


def _serve_with_onnx(champions: Champions, settings: HybridSettings) -> None:
    """The fine-tuned MiniLMs (NER's features, a fine-tuned sentiment or intent model) answer a request
    through ONNX Runtime: the same outputs (checked against PyTorch at the first call, which falls back
    to PyTorch on any difference), in about half the time on a short text."""
    threads = settings.serve.torch_threads or 1
    for name in ("ner", "sentiment", "intent"):
        capability = champions.get(name)
        if capability is not None and hasattr(capability, "serve_with_onnx"):
            capability.serve_with_onnx(threads)


def _remembering_ner(champions: Champions, size: int = 256) -> Callable[[list[str]], list[list[dict]]]:
    """The NER champion as a function of texts that remembers recent ones: the input guard reads the text
    for names while the NER part reports them, at the same time, on the same text; one model run serves both."""
    memo: SharedMemo[tuple[dict, ...]] = SharedMemo(size)

    def entities_of(text: str) -> tuple[dict, ...]:
        return memo.get(text, lambda: tuple(champions.predict("ner", pd.DataFrame({"text": [text]}))["entities"].iloc[0]))

    return lambda texts: [list(entities_of(text)) for text in texts]
