"""The GenAI path: a question in, a grounded, cited answer out, with everything that happened on the way.

    asker = AskPipeline.from_settings(settings, ml=HybridPipeline.from_registry([...], skip_missing=True))
    response = asker.ask(AskRequest(question="can I use a card I reported lost?"))
    for event in asker.ask_stream(request): ...     # {"token": "..."} dicts, then {"response": AskResponse}

One way through typed objects:

    question ─► InputGuard (size, injection, PII redaction) ─► ML facts (intent, sentiment, entities)
             ─► SemanticCache (per tenant, gated by intent) ─► retrieve ─► context ─► Router ─► prompt
             ─► LLMGateway (tier, retries, fallback chain) or ExtractiveGenerator ─► OutputGuard ─► AskResponse

Everything past the input guard sees the redacted question, so no PII reaches an endpoint, the cache
or the audit log. A failing dependency never fails the request: every tier down means the extractive
generator answers, and ``degraded`` says which tiers failed and why. Every guardrail intervention is
in the response and in the audit log.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from fusion.schemas import AskResponse, Citation, GuardrailEvent, RouteInfo, UsageInfo
from models.base import InputError
from models.guardrails.audit import AuditLog
from models.guardrails.guards import GuardedOutput, GuardEvent, InputGuard, OutputGuard
from models.llm.cache import SemanticCache
from models.llm.extractive import NO_ANSWER, ExtractiveAnswer, ExtractiveGenerator
from models.llm.gateway import AllTiersFailed, Completion, LLMGateway
from models.llm.prompts import PromptTemplate
from models.llm.router import RouteDecision, Router
from models.rag.context import Context, assemble_context
from models.rag.retriever import Retriever

_CITATION = re.compile(r"\[(\d+)\]")
REFUSAL = "I can't help with that request."
#: capabilities whose predictions on the question become facts for the generator
TEXT_FACTS = ("intent", "sentiment", "ner")


@dataclass(frozen=True)
class AskRequest:
    question: str
    collection: str = "kb"
    tenant: str = "default"
    #: answer with this tier instead of the router's choice (the fallback chain still applies)
    tier: str | None = None
    #: ML results the caller already has (e.g. from /anomaly or /forecast), for the answer to explain
    facts: dict[str, Any] = field(default_factory=dict)
    use_cache: bool = True


@dataclass
class _Prepared:
    """What every answer needs, gathered before generation starts."""

    request_id: str
    question: str                     # redacted
    facts: dict[str, Any]
    intent: str | None
    context: Context
    route: RouteDecision
    messages: list[dict[str, str]]
    events: list[GuardEvent]


class AskPipeline:
    def __init__(
        self,
        retrievers: Callable[[str], Retriever],
        counter,
        router: Router,
        gateway: LLMGateway,
        extractive: ExtractiveGenerator,
        template: PromptTemplate,
        input_guard: InputGuard,
        output_guard: OutputGuard,
        audit: AuditLog,
        cache: SemanticCache | None = None,
        ml=None,
        retrieve_k: int = 8,
        context_tokens: int = 1500,
        search_mode: str = "hybrid",
    ) -> None:
        """``retrievers``: collection name -> retriever; ``counter``: the TokenCounter the context budget is
        counted with; ``ml``: a HybridPipeline whose loaded text capabilities supply facts (or None)."""
        self.retrievers = retrievers
        self.counter = counter
        self.router = router
        self.gateway = gateway
        self.extractive = extractive
        self.template = template
        self.input_guard = input_guard
        self.output_guard = output_guard
        self.audit = audit
        self.cache = cache
        self.ml = ml
        self.retrieve_k = retrieve_k
        self.context_tokens = context_tokens
        self.search_mode = search_mode

    @classmethod
    def from_settings(cls, settings, ml=None, encoder=None, retrievers: Callable[[str], Retriever] | None = None) -> AskPipeline:
        """Every part built from ``settings``; ``ml`` also lends its injection, router and NER champions."""
        from models.llm.router import build_router
        from models.rag.factory import open_retriever, query_encoder
        from models.rag.tokens import TokenCounter

        encoder = encoder or query_encoder(settings)
        gateway = LLMGateway.from_settings(settings.llm)
        loaded = set(ml.models) if ml is not None else set()
        detector = ml.capability("injection") if "injection" in loaded else None
        ner = (lambda texts: ml.predict("ner", pd.DataFrame({"text": texts}))["entities"].tolist()) if "ner" in loaded else None
        cache = SemanticCache.from_settings(settings.cache, encoder) if settings.cache.enabled else None
        return cls(
            retrievers=retrievers or (lambda name: open_retriever(name, settings, encoder=encoder)),
            counter=TokenCounter(settings.rag.embedding_model),
            router=build_router(settings, gateway=gateway, encoder=encoder),
            gateway=gateway,
            extractive=ExtractiveGenerator(encoder, max_sentences=settings.llm.extractive_sentences),
            template=PromptTemplate.load(settings.llm.prompt_template),
            input_guard=InputGuard(settings.guardrails, detector=detector, ner=ner),
            output_guard=OutputGuard(settings.guardrails, encoder=encoder),
            audit=AuditLog(settings.guardrails.audit_log),
            cache=cache,
            ml=ml,
            retrieve_k=settings.llm.retrieve_k,
            context_tokens=settings.rag.context_tokens,
            search_mode=settings.rag.default_mode,
        )

    # -- the two entry points ------------------------------------------------------------------

    def ask(self, request: AskRequest) -> AskResponse:
        final = None
        for event in self.ask_stream(request, stream=False):
            final = event.get("response", final)
        return final

    def ask_stream(self, request: AskRequest, stream: bool = True) -> Iterator[dict[str, Any]]:
        """``{"token": text}`` events as the answer is written, then ``{"response": AskResponse}``."""
        request_id = uuid.uuid4().hex[:16]
        guarded = self.input_guard.check(request.question)
        events = list(guarded.events)
        if guarded.blocked:
            yield {"response": self._finish(request_id, REFUSAL, "guardrail", events, [])}
            return
        facts, intent = self._facts(guarded.text, request.facts)
        if request.use_cache and self.cache is not None:
            hit = self.cache.lookup(guarded.text, tenant=request.tenant, intent=intent)
            if hit is not None:
                cached = AskResponse.model_validate(hit.payload)
                yield {"token": cached.answer}
                yield {"response": self._finish(
                    request_id, cached.answer, "cache", events, [], citations=cached.citations, facts=facts,
                    prompt=cached.prompt, cache_hit=True, cache_similarity=round(hit.similarity, 4))}
                return
        prepared = self._prepare(request, request_id, guarded.text, facts, intent, events)
        degraded: list[str] = []
        answer, completion = None, None
        if self.gateway.available:
            try:
                parts = self.gateway.stream(prepared.messages, prepared.route.tier) if stream else \
                    [self.gateway.complete(prepared.messages, prepared.route.tier)]
                for part in parts:
                    if isinstance(part, Completion):
                        completion = part
                    else:
                        yield {"token": part}
                answer = completion.text
                degraded += _fallback_notes(completion)
            except AllTiersFailed as failure:
                degraded.append(f"no LLM tier answered ({failure}); the answer is extractive")
        # With no tier configured the extractive answer is the design, not a degradation: `generator` says so.
        if answer is None:
            extracted = None
            for part in self.extractive.stream(prepared.question, prepared.context):
                if isinstance(part, ExtractiveAnswer):
                    extracted = part
                elif stream:
                    yield {"token": part}
            answer = extracted.text
        response = self._answer_response(prepared, answer, completion, degraded)
        if request.use_cache and self.cache is not None and _cacheable(response):
            self.cache.store(prepared.question, response.model_dump(mode="json"), tenant=request.tenant, intent=intent)
        yield {"response": response}

    # -- the stages ----------------------------------------------------------------------------

    def _facts(self, question: str, given: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """The loaded text capabilities' results on the question, plus what the caller gave."""
        facts: dict[str, Any] = {}
        loaded = set(self.ml.models) if self.ml is not None else set()
        batch = pd.DataFrame({"text": [question]})
        for name in (c for c in TEXT_FACTS if c in loaded):
            row = self.ml.predict(name, batch).iloc[0]
            if name == "ner":
                facts["entities"] = [f"{e['text']} ({e['label']})" for e in row["entities"]]
            else:
                facts[f"{name}.label"] = row["label"]
                facts[f"{name}.confidence"] = round(float(row["confidence"]), 3)
        facts |= _flatten(given)
        return facts, facts.get("intent.label")

    def _prepare(self, request: AskRequest, request_id: str, question: str, facts: dict[str, Any],
                 intent: str | None, events: list[GuardEvent]) -> _Prepared:
        hits = self.retrievers(request.collection).search(question, k=self.retrieve_k, mode=self.search_mode)
        context = assemble_context(hits, self.counter, self.context_tokens)
        route = self.router.route(question)
        if request.tier:
            if request.tier not in self.gateway.tiers:
                raise InputError(f"tier: {request.tier!r} is not configured; configured tiers: {sorted(self.gateway.tiers)} "
                                 "([llm.tiers.NAME] in hybrid.toml)")
            route = RouteDecision(request.tier, "request", None, {}, f"asked for tier {request.tier!r} (router chose {route.tier!r})")
        messages = self.template.render(question, context.render(), facts)
        return _Prepared(request_id, question, facts, intent, context, route, messages, events)

    def _answer_response(self, prepared: _Prepared, answer: str, completion: Completion | None,
                         degraded: list[str]) -> AskResponse:
        passages = [p.text for p in prepared.context.passages]
        if answer == NO_ANSWER:  # claims nothing, so there is nothing to check
            checked = GuardedOutput(answer, (), ())
        else:
            checked = self.output_guard.check(answer, passages, prepared.facts, system_prompt=prepared.messages[0]["content"])
        cited = {n for n in _CITATION.findall(checked.text)}
        citations = [Citation(source_id=p.source_id, chunk_id=p.chunk_id, doc_id=p.doc_id, title=p.title, source=p.source)
                     for p in prepared.context.passages if p.source_id in cited]
        usage = UsageInfo()
        if completion is not None:
            usage = UsageInfo(prompt_tokens=completion.usage.prompt_tokens, completion_tokens=completion.usage.completion_tokens,
                              cost_usd=round(completion.usage.cost_usd, 6), estimated=completion.usage.estimated)
        route = prepared.route
        return self._finish(
            prepared.request_id, checked.text, "llm" if completion is not None else "extractive",
            prepared.events + list(checked.events), degraded, citations=citations, facts=prepared.facts,
            prompt=self.template.id, usage=usage,
            tier=completion.tier if completion is not None else None,
            model=completion.model if completion is not None else None,
            route=RouteInfo(tier=route.tier, strategy=route.strategy, complexity=route.complexity, reason=route.reason),
        )

    def _finish(self, request_id: str, answer: str, generator: str, events: list[GuardEvent], degraded: list[str],
                **fields: Any) -> AskResponse:
        self.audit.record(request_id, events)
        return AskResponse(
            request_id=request_id, answer=answer, generator=generator, degraded=degraded,
            guardrail_events=[GuardrailEvent(stage=e.stage, kind=e.kind, action=e.action, detail=e.detail) for e in events],
            **{"citations": [], **fields},
        )


def _fallback_notes(completion: Completion) -> list[str]:
    """What failed before the answering tier succeeded, one line per failed attempt."""
    return [f"tier {a.tier!r}: {a.outcome} ({a.detail})" for a in completion.attempts if a.outcome != "ok"]


def _cacheable(response: AskResponse) -> bool:
    """Only clean answers are reused: a degraded or flagged one should be retried, not repeated."""
    return not response.degraded and not response.guardrail_events and bool(response.citations)


def _flatten(facts: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in facts.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat |= _flatten(value, f"{name}.")
        else:
            flat[name] = value
    return flat
