"""The GenAI branch of the hybrid pipeline: a guarded question and the ML facts in, a grounded, cited
answer out, with the signals the confidence scorer reads.

    genai = AskPipeline.from_settings(settings, encoder, retrievers, route_model)  # HybridPipeline builds it
    genai.check(request)                                              # bad input fails before anything runs
    for event in genai.answer_stream(request, request_id, guarded, facts): ...
        # {"token": "..."} while it writes, then {"response": AskResponse, "signals": AnswerSignals,
        #                                         "passages": {chunk_id: text} of the context}

One way through typed objects (the input guard and the ML models ran before, in fusion/pipeline.py):

    guarded question + ML facts ─► SemanticCache (per tenant, collection version and intent) ─► retrieve
        ─► context ─► Router ─► prompt ─► LLMGateway (tier, retries, fallback chain) or ExtractiveGenerator
        ─► OutputGuard ─► AskResponse + AnswerSignals

It only sees the redacted question, so no PII reaches an endpoint or the cache. A failing dependency
never fails the request: every tier down means the extractive generator answers, a cache that cannot
be reached is skipped, and ``degraded`` says what happened. A streamed answer is released sentence by
sentence, each screened by the content policy first, so what a client has received never contains
what the final answer withholds.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from fusion.schemas import AskResponse, Citation, GuardrailEvent, RouteInfo, UsageInfo
from models.base import InputError
from models.guardrails.guards import GuardedOutput, GuardEvent, OutputGuard
from models.llm.cache import SemanticCache
from models.llm.extractive import NO_ANSWER, ExtractiveAnswer, ExtractiveGenerator
from models.llm.gateway import AllTiersFailed, Completion, LLMGateway
from models.llm.prompts import PromptTemplate
from models.llm.router import RouteDecision, Router
from models.rag.context import CITATION, Context, assemble_context, cited_source_ids
from models.rag.retriever import Retriever
from models.rag.sparse import BM25Index, analyse

REFUSAL = "I can't help with that request."
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
class GuardedQuestion:
    """What the input guard let through: the question with PII redacted, and the caller's facts, checked."""

    text: str
    events: tuple[GuardEvent, ...] = ()
    given: dict[str, Any] = field(default_factory=dict)   # the caller's facts, flattened under "given."


@dataclass(frozen=True)
class AnswerSignals:
    """What the answer's confidence rests on, computed on the way and handed to the confidence scorer."""

    retrieval_top: float | None = None        # the best hit's score in the search mode used
    retrieval_gap: float | None = None        # best minus second best
    dense_top: float | None = None            # the best cosine between a hit and the question
    bm25_top: float | None = None
    uncovered_terms: float | None = None      # share of the question's terms no retrieved passage contains
    uncovered_weight: float | None = None     # the same, each term weighted by its IDF in the collection
    unknown_terms: float | None = None        # share of the question's terms the whole collection never uses
    grounding_support_min: float | None = None
    grounding_support_mean: float | None = None
    router_complexity: float | None = None
    n_citations: int = 0
    answered: bool = False                    # false: the answer says the knowledge base does not cover it
    cache_similarity: float | None = None

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.__dict__.items() if v is not None}


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
    hits: list                        # what retrieval returned, best first


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
        output_guard: OutputGuard,
        cache: SemanticCache | None = None,
        retrieve_k: int = 8,
        context_tokens: int = 1500,
        search_mode: str = "hybrid",
    ) -> None:
        """``retrievers``: collection name -> retriever (with a ``collection.version``); ``counter``: the
        TokenCounter the context budget is counted with."""
        self.retrievers = retrievers
        self.counter = counter
        self.router = router
        self.gateway = gateway
        self.extractive = extractive
        self.template = template
        self.output_guard = output_guard
        self.cache = cache
        self.retrieve_k = retrieve_k
        self.context_tokens = context_tokens
        self.search_mode = search_mode

    @classmethod
    def from_settings(cls, settings, encoder, retrievers: Callable[[str], Retriever], route_model=None,
                      router_examples=None) -> AskPipeline:
        """``encoder``: the sentence encoder shared with search (remembering); ``route_model``: the
        ``llm_router`` champion, or None for the rules; ``router_examples``: for the similarity strategy."""
        from models.llm.router import build_router
        from models.rag.tokens import TokenCounter

        gateway = LLMGateway.from_settings(settings.llm)
        return cls(
            retrievers=retrievers,
            counter=TokenCounter(settings.rag.embedding_model),
            router=build_router(settings, gateway=gateway, encoder=encoder, model=route_model, examples=router_examples),
            gateway=gateway,
            extractive=ExtractiveGenerator(encoder, max_sentences=settings.llm.extractive_sentences),
            template=PromptTemplate.load(settings.llm.prompt_template),
            output_guard=OutputGuard(settings.guardrails, encoder=encoder),
            cache=SemanticCache.from_settings(settings.cache, encoder) if settings.cache.enabled else None,
            retrieve_k=settings.llm.retrieve_k,
            context_tokens=settings.rag.context_tokens,
            search_mode=settings.rag.default_mode,
        )

    # -- the entry points ----------------------------------------------------------------------

    def check(self, request: AskRequest) -> Retriever:
        """Validate what the request names (tenant, tier, collection) before anything runs; its retriever."""
        if not _TENANT.fullmatch(request.tenant):
            raise InputError(f"tenant: {request.tenant!r} must be 1-64 letters, digits, '_' or '-'")
        if request.tier is not None and request.tier not in self.gateway.tiers:
            raise InputError(f"tier: {request.tier!r} is not configured; configured tiers: {sorted(self.gateway.tiers)} "
                             "([llm.tiers.NAME] in hybrid.toml)")
        return self.retrievers(request.collection)   # an unknown collection fails here

    def answer_stream(self, request: AskRequest, request_id: str, guarded: GuardedQuestion, facts: dict[str, Any],
                      stream: bool = True) -> Iterator[dict[str, Any]]:
        """``{"token": text}`` events as the answer is written (only when ``stream``), then
        ``{"response": AskResponse, "signals": AnswerSignals, "passages": {chunk_id: text}}``. ``facts``: the ML results on the question,
        for the generator to explain, not recompute. The response's guardrail events are the input guard's
        (``guarded.events``) and the output guard's."""
        retriever = self.check(request)
        events = list(guarded.events)
        facts = facts | guarded.given
        intent = facts.get("intent.label")
        # Caller facts make an answer specific to them; a cached one would ignore them.
        use_cache = request.use_cache and self.cache is not None and not guarded.given
        cache_scope = _cache_scope(request, retriever) if use_cache else None
        degraded: list[str] = []
        if cache_scope is not None:
            cached = self._cached(guarded.text, cache_scope, intent, degraded)
            if cached is not None:
                if stream:
                    yield {"token": cached.payload["answer"]}
                response = self._from_cache(request_id, cached, facts, events, degraded)
                yield {"response": response, "signals": _cached_signals(response, cached.similarity), "passages": {}}
                return
        prepared = self._prepare(request, request_id, retriever, guarded.text, facts, events)
        generated = yield from self._generate(prepared, stream)
        response, support = self._answer_response(prepared, generated, degraded)
        if cache_scope is not None and _cacheable(response):
            self._store(prepared.question, response, cache_scope, intent, degraded)
        passages = {p.chunk_id: p.text for p in prepared.context.passages}
        sparse = getattr(getattr(retriever, "collection", None), "sparse", None)
        yield {"response": response, "signals": _signals(prepared, response, support, sparse), "passages": passages}

    def refusal(self, request_id: str, events: list[GuardEvent]) -> AskResponse:
        """The answer to a question (or a caller's fact) the input guard blocked."""
        return self._finish(request_id, REFUSAL, "guardrail", events, [])

    def route(self, question: str) -> RouteInfo:
        """The router's decision on an already guarded question; nothing is generated."""
        decision = self.router.route(question)
        return RouteInfo(tier=decision.tier, strategy=decision.strategy, complexity=decision.complexity, reason=decision.reason)

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
        return _Prepared(request_id, question, facts, context, route, messages, events, hits)

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

    def _answer_response(self, prepared: _Prepared, generated: _Generated,
                         degraded: list[str]) -> tuple[AskResponse, tuple[float, ...]]:
        """The response, and the grounding support of each of its sentences."""
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
        ), checked.sentence_support

    def _finish(self, request_id: str, answer: str, generator: str, events: list[GuardEvent], degraded: list[str],
                **fields: Any) -> AskResponse:
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


def _signals(prepared: _Prepared, response: AskResponse, support: tuple[float, ...],
             sparse: BM25Index | None) -> AnswerSignals:
    scores = [h.score for h in prepared.hits]
    dense = [h.dense_score for h in prepared.hits if h.dense_score is not None]
    bm25 = [h.bm25_score for h in prepared.hits if h.bm25_score is not None]
    return AnswerSignals(
        retrieval_top=scores[0] if scores else None,
        retrieval_gap=scores[0] - scores[1] if len(scores) > 1 else None,
        dense_top=max(dense) if dense else None,
        bm25_top=max(bm25) if bm25 else None,
        **answerability(prepared.question, [p.text for p in prepared.context.passages], sparse),
        grounding_support_min=min(support) if support else None,
        grounding_support_mean=sum(support) / len(support) if support else None,
        router_complexity=prepared.route.complexity,
        n_citations=len(response.citations),
        answered=response.answer.strip() != NO_ANSWER,
    )


def _cached_signals(response: AskResponse, similarity: float) -> AnswerSignals:
    return AnswerSignals(n_citations=len(response.citations), answered=response.answer.strip() != NO_ANSWER,
                         cache_similarity=similarity)


@lru_cache(maxsize=1)
def _function_words() -> frozenset[str]:
    """Words BM25's short stopword list keeps ("how", "my", "can"): they carry no topic, and a knowledge
    base that never writes "my" does not fail to answer the question for it."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(t for terms in analyse(sorted(ENGLISH_STOP_WORDS)) for t in terms)


def answerability(question: str, passages: list[str], sparse: BM25Index | None) -> dict[str, float]:
    """How much of the question the knowledge base speaks to, over its distinct terms (stemmed, stopwords
    removed). A question about something the knowledge base never mentions ("can I pay with bitcoin?")
    retrieves a related article on its other words; what gives it away is the term nothing covers, and
    rare terms ("bitcoin") say more than common ones ("pay"): ``uncovered_weight`` weights each term by
    its IDF in the collection (a term it never uses weighs most), ``unknown_terms`` counts those."""
    [asked, *found] = analyse([question, *passages])
    asked_terms = sorted(set(asked) - _function_words())
    if not asked_terms:
        return {}
    present = set().union(*(set(terms) for terms in found))
    uncovered = np.array([t not in present for t in asked_terms])
    signals = {"uncovered_terms": float(uncovered.mean())}
    if sparse is not None and len(sparse):
        df = sparse.document_frequency(asked_terms)
        idf = np.log1p((len(sparse) - df + 0.5) / (df + 0.5))
        signals |= {"uncovered_weight": float(idf[uncovered].sum() / idf.sum()), "unknown_terms": float((df == 0).mean())}
    return signals
