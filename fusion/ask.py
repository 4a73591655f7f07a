"""The GenAI path: a question in, a grounded, cited answer out, with everything that happened on the way.

    asker = AskPipeline.from_settings(settings, ml=HybridPipeline.from_registry([...], skip_missing=True))
    response = asker.ask(AskRequest(question="can I use a card I reported lost?"))
    for event in asker.ask_stream(request): ...     # {"token": "..."} dicts, then {"response": AskResponse}

One way through typed objects:

    question ─► InputGuard (size, injection, PII redaction; the caller's facts too) ─► ML facts
             ─► SemanticCache (per tenant, collection version and intent) ─► retrieve ─► context ─► Router
             ─► prompt ─► LLMGateway (tier, retries, fallback chain) or ExtractiveGenerator ─► OutputGuard
             ─► AskResponse

Everything past the input guard sees the redacted question, so no PII reaches an endpoint, the cache
or the audit log. A failing dependency never fails the request: every tier down means the extractive
generator answers, a cache that cannot be reached is skipped, and ``degraded`` says what happened.
Every guardrail intervention is in the response and in the audit log. A streamed answer is released
sentence by sentence, each screened by the content policy first, so what a client has received never
contains what the final answer withholds.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import pandas as pd

from fusion.schemas import AskResponse, Citation, GuardrailEvent, RouteInfo, UsageInfo
from models.base import InputError
from models.embeddings import RememberingEncoder
from models.guardrails.audit import AuditLog
from models.guardrails.guards import GuardedOutput, GuardEvent, InputGuard, OutputGuard
from models.llm.cache import SemanticCache
from models.llm.extractive import NO_ANSWER, ExtractiveAnswer, ExtractiveGenerator
from models.llm.gateway import AllTiersFailed, Completion, LLMGateway
from models.llm.prompts import PromptTemplate
from models.llm.router import RouteDecision, Router
from models.rag.context import CITATION, Context, assemble_context, cited_source_ids
from models.rag.retriever import Retriever

REFUSAL = "I can't help with that request."
#: sentence vectors kept for reuse (6 MB): the grounding check re-reads the sentences the extractive
#: generator embedded, and popular passages come back across requests
REMEMBERED_VECTORS = 4096

#: capabilities whose predictions on the question become facts for the generator
TEXT_FACTS = ("intent", "sentiment", "ner")
#: the caller's facts, as JSON, may be at most this long (they go into the prompt)
MAX_FACTS_CHARS = 4000
_TENANT = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: where a streamed answer may be released: after a sentence's end
_SENTENCE_END = re.compile(rf"[.!?](?:\s*{CITATION.pattern})?\s+|\n")


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


@dataclass(frozen=True)
class _Prepared:
    """What generating an answer needs, gathered first."""

    request_id: str
    question: str                     # redacted
    facts: dict[str, Any]
    context: Context
    route: RouteDecision
    messages: list[dict[str, str]]
    events: list[GuardEvent]


@dataclass
class _Generated:
    answer: str
    completion: Completion | None     # None: extractive
    degraded: list[str]


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
        entities: Callable[[list[str]], list[list[dict]]] | None = None,
        retrieve_k: int = 8,
        context_tokens: int = 1500,
        search_mode: str = "hybrid",
    ) -> None:
        """``retrievers``: collection name -> retriever (with a ``collection.version``); ``counter``: the
        TokenCounter the context budget is counted with; ``ml``: a HybridPipeline whose loaded text
        capabilities supply facts (or None); ``entities``: the NER function the input guard uses, so a
        question it read is not read again for facts (by default, ``ml``'s NER champion, remembering)."""
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
        if entities is None and ml is not None and "ner" in ml.models:
            entities = _remembering_ner(ml)
        self.entities = entities
        self.retrieve_k = retrieve_k
        self.context_tokens = context_tokens
        self.search_mode = search_mode

    @classmethod
    def from_settings(cls, settings, ml=None, encoder=None, retrievers: Callable[[str], Retriever] | None = None,
                      remembered_vectors: int = REMEMBERED_VECTORS) -> AskPipeline:
        """Every part built from ``settings``; ``ml`` also lends its injection, router and NER champions."""
        from models.llm.router import build_router
        from models.rag.factory import open_retriever, query_encoder
        from models.rag.tokens import TokenCounter

        encoder = RememberingEncoder(encoder or query_encoder(settings), max_items=remembered_vectors)
        gateway = LLMGateway.from_settings(settings.llm)
        loaded = set(ml.models) if ml is not None else set()
        detector = ml.capability("injection") if "injection" in loaded else None
        route_model = ml.capability("llm_router") if "llm_router" in loaded else None
        ner = _remembering_ner(ml) if "ner" in loaded else None
        return cls(
            retrievers=retrievers or (lambda name: open_retriever(name, settings, encoder=encoder)),
            counter=TokenCounter(settings.rag.embedding_model),
            router=build_router(settings, gateway=gateway, encoder=encoder, model=route_model),
            gateway=gateway,
            extractive=ExtractiveGenerator(encoder, max_sentences=settings.llm.extractive_sentences),
            template=PromptTemplate.load(settings.llm.prompt_template),
            input_guard=InputGuard(settings.guardrails, detector=detector, ner=ner),
            output_guard=OutputGuard(settings.guardrails, encoder=encoder),
            audit=AuditLog(settings.guardrails.audit_log),
            cache=SemanticCache.from_settings(settings.cache, encoder) if settings.cache.enabled else None,
            ml=ml,
            entities=ner,
            retrieve_k=settings.llm.retrieve_k,
            context_tokens=settings.rag.context_tokens,
            search_mode=settings.rag.default_mode,
        )

    # -- the entry points ----------------------------------------------------------------------

    def ask(self, request: AskRequest) -> AskResponse:
        *_, last = self.ask_stream(request, stream=False)
        return last["response"]

    def ask_stream(self, request: AskRequest, stream: bool = True) -> Iterator[dict[str, Any]]:
        """``{"token": text}`` events as the answer is written (only when ``stream``), then
        ``{"response": AskResponse}``. Bad input raises InputError before the first event."""
        request_id = uuid.uuid4().hex[:16]
        if not _TENANT.fullmatch(request.tenant):
            raise InputError(f"tenant: {request.tenant!r} must be 1-64 letters, digits, '_' or '-'")
        self._check_tier(request.tier)
        retriever = self.retrievers(request.collection)   # an unknown collection fails here, before anything runs
        guarded = self.input_guard.check(request.question)
        events = list(guarded.events)
        given, refused = self._guard_given_facts(request.facts, events)
        if guarded.blocked or refused:
            yield {"response": self._finish(request_id, REFUSAL, "guardrail", events, [])}
            return
        facts = self._question_facts(guarded.text) | given
        intent = facts.get("intent.label")
        # Caller facts make an answer specific to them; a cached one would ignore them.
        cache_scope = _cache_scope(request, retriever) if request.use_cache and self.cache is not None and not given else None
        degraded: list[str] = []
        if cache_scope is not None:
            cached = self._cached(guarded.text, cache_scope, intent, degraded)
            if cached is not None:
                if stream:
                    yield {"token": cached.payload["answer"]}
                yield {"response": self._from_cache(request_id, cached, facts, events, degraded)}
                return
        prepared = self._prepare(request, request_id, retriever, guarded.text, facts, events)
        generated = yield from self._generate(prepared, stream)
        response = self._answer_response(prepared, generated, degraded)
        if cache_scope is not None and _cacheable(response):
            self._store(prepared.question, response, cache_scope, intent, degraded)
        yield {"response": response}

    def route(self, question: str) -> RouteInfo:
        """The router's decision on the guarded question; a question the guard refuses is an InputError."""
        guarded = self.input_guard.check(question)
        if guarded.blocked:
            raise InputError(f"question: refused by the input guard ({'; '.join(e.detail for e in guarded.events)})")
        decision = self.router.route(guarded.text)
        return RouteInfo(tier=decision.tier, strategy=decision.strategy, complexity=decision.complexity, reason=decision.reason)

    # -- input ---------------------------------------------------------------------------------

    def _check_tier(self, tier: str | None) -> None:
        if tier is not None and tier not in self.gateway.tiers:
            raise InputError(f"tier: {tier!r} is not configured; configured tiers: {sorted(self.gateway.tiers)} "
                             "([llm.tiers.NAME] in hybrid.toml)")

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

    def _question_facts(self, question: str) -> dict[str, Any]:
        """The loaded text capabilities' results on the (redacted) question."""
        facts: dict[str, Any] = {}
        loaded = set(self.ml.models) if self.ml is not None else set()
        batch = pd.DataFrame({"text": [question]})
        for name in (c for c in TEXT_FACTS if c in loaded):
            if name == "ner":
                facts["entities"] = [f"{e['text']} ({e['label']})" for e in self.entities([question])[0]]
                continue
            row = self.ml.predict(name, batch).iloc[0]
            facts[f"{name}.label"] = row["label"]
            facts[f"{name}.confidence"] = round(float(row["confidence"]), 3)
        return facts

    # -- the cache -----------------------------------------------------------------------------

    def _cached(self, question: str, scope: str, intent: str | None, degraded: list[str]):
        try:
            return self.cache.lookup(question, tenant=scope, intent=intent)
        except Exception as error:  # noqa: BLE001 - an unreachable cache (e.g. Redis down) is a miss, said so
            degraded.append(f"semantic cache unavailable ({type(error).__name__}: {error}); answered without it")
            return None

    def _store(self, question: str, response: AskResponse, scope: str, intent: str | None, degraded: list[str]) -> None:
        try:
            self.cache.store(question, response.model_dump(mode="json"), tenant=scope, intent=intent)
        except Exception as error:  # noqa: BLE001 - same as a failed lookup: the answer is still good
            degraded.append(f"semantic cache unavailable ({type(error).__name__}: {error}); the answer was not stored")

    def _from_cache(self, request_id: str, hit, facts: dict[str, Any], events: list[GuardEvent],
                    degraded: list[str]) -> AskResponse:
        cached = AskResponse.model_validate(hit.payload)
        return self._finish(request_id, cached.answer, "cache", events, degraded, citations=cached.citations,
                            facts=facts, prompt=cached.prompt, cache_hit=True, cache_similarity=round(hit.similarity, 4))

    # -- generation ----------------------------------------------------------------------------

    def _prepare(self, request: AskRequest, request_id: str, retriever: Retriever, question: str,
                 facts: dict[str, Any], events: list[GuardEvent]) -> _Prepared:
        hits = retriever.search(question, k=self.retrieve_k, mode=self.search_mode)
        context = assemble_context(hits, self.counter, self.context_tokens)
        route = self.router.route(question)
        if request.tier:
            route = RouteDecision(request.tier, "request", None, {}, f"asked for tier {request.tier!r} (router chose {route.tier!r})")
        messages = self.template.render(question, context.render(), facts)
        return _Prepared(request_id, question, facts, context, route, messages, events)

    def _generate(self, prepared: _Prepared, stream: bool) -> Iterator[dict[str, Any]]:
        """Yields token events (when ``stream``); returns the answer, the completion and what degraded."""
        degraded: list[str] = []
        if self.gateway.available:
            try:
                if stream:
                    parts = self.gateway.stream(prepared.messages, prepared.route.tier)
                    completion = yield from self._released(parts, Completion, self._policy_prompt(prepared))
                else:
                    completion = self.gateway.complete(prepared.messages, prepared.route.tier)
                degraded += [f"tier {a.tier!r}: {a.outcome} ({a.detail})" for a in completion.attempts if a.outcome != "ok"]
                return _Generated(completion.text, completion, degraded)
            except AllTiersFailed as failure:
                degraded.append(f"no LLM tier answered ({failure}); the answer is extractive")
        # With no tier configured the extractive answer is the design, not a degradation: `generator` says so.
        if stream:
            parts = self.extractive.stream(prepared.question, prepared.context)
            extracted = yield from self._released(parts, ExtractiveAnswer, self._policy_prompt(prepared))
        else:
            extracted = self.extractive.answer(prepared.question, prepared.context)
        return _Generated(extracted.text, None, degraded)

    def _released(self, parts: Iterator, final_type: type, system_prompt: str) -> Iterator[dict[str, Any]]:
        """Token events, a sentence at a time, each screened by the content policy before it goes out; once
        one is withheld nothing more is sent (the final response carries the withheld answer's replacement).
        Returns the generator's final object."""
        pending, open_ = "", True
        for part in parts:
            if isinstance(part, final_type):
                if open_ and pending and (text := self.output_guard.screen(pending, system_prompt)) is not None:
                    yield {"token": text}
                return part
            pending += part
            ends = list(_SENTENCE_END.finditer(pending))
            if ends and open_:
                cut = ends[-1].end()
                ready, pending = pending[:cut], pending[cut:]
                text = self.output_guard.screen(ready, system_prompt)
                if text is None:
                    open_ = False
                else:
                    yield {"token": text}
        raise RuntimeError("the generator ended without its final answer")

    def _policy_prompt(self, prepared: _Prepared) -> str:
        """The instructions an answer must not repeat, less the refusal sentence it is told to give."""
        return prepared.messages[0]["content"].replace(NO_ANSWER, "")

    def _answer_response(self, prepared: _Prepared, generated: _Generated, degraded: list[str]) -> AskResponse:
        passages = [p.text for p in prepared.context.passages]
        if generated.answer.strip() == NO_ANSWER:  # claims nothing, so there is nothing to check
            checked = GuardedOutput(NO_ANSWER, (), ())
        else:
            checked = self.output_guard.check(generated.answer, passages, prepared.facts, self._policy_prompt(prepared))
        cited = cited_source_ids(checked.text)
        citations = [Citation(source_id=p.source_id, chunk_id=p.chunk_id, doc_id=p.doc_id, title=p.title, source=p.source)
                     for p in prepared.context.passages if p.source_id in cited]
        completion, route = generated.completion, prepared.route
        usage = UsageInfo()
        if completion is not None:
            usage = UsageInfo(prompt_tokens=completion.usage.prompt_tokens, completion_tokens=completion.usage.completion_tokens,
                              cost_usd=round(completion.usage.cost_usd, 6), estimated=completion.usage.estimated)
        return self._finish(
            prepared.request_id, checked.text, "llm" if completion is not None else "extractive",
            prepared.events + list(checked.events), degraded + generated.degraded, citations=citations,
            facts=prepared.facts, prompt=self.template.id, usage=usage,
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


def _cache_scope(request: AskRequest, retriever: Retriever) -> str:
    """The tenant, narrowed to the collection version that answered: another collection, or the same one
    re-ingested, must not be served this answer. Fixed-length, so two tenants can never share a scope."""
    version = getattr(getattr(retriever, "collection", None), "version", "")
    digest = hashlib.sha256(f"{request.collection}\0{version}".encode()).hexdigest()[:16]
    return f"{request.tenant}.{digest}"


def _cacheable(response: AskResponse) -> bool:
    """Only clean answers are reused: a degraded or flagged one should be retried, not repeated. PII
    redacted from the question does not count: the answer was made without it and is stored under
    the redacted question, so it holds no one's personal data."""
    redactions_only = all(e.stage == "input" and e.action == "redacted" for e in response.guardrail_events)
    return not response.degraded and redactions_only and bool(response.citations)


def _flatten(facts: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in facts.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat |= _flatten(value, f"{name}.")
        else:
            flat[name] = value
    return flat


def _remembering_ner(ml) -> Callable[[list[str]], list[list[dict]]]:
    """The NER champion as a function of texts that remembers recent ones: the input guard reads the
    raw question for names, the facts the redacted one, and they are the same text unless PII was found."""

    @lru_cache(maxsize=256)
    def entities_of(text: str) -> tuple[dict, ...]:
        return tuple(ml.predict("ner", pd.DataFrame({"text": [text]}))["entities"].iloc[0])

    return lambda texts: [list(entities_of(text)) for text in texts]
