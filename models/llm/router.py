"""Which LLM tier answers a prompt: four strategies behind one interface.

    router = build_router(get_settings())          # [router] strategy in hybrid.toml
    decision = router.route("Compare Premium and Business Plus for 12 people over two years")
    decision.tier, decision.complexity, decision.reason

- ``rules``       keyword and phrase rules, tier -> words; the tier with the most matches wins
- ``similarity``  a k-nearest-neighbour vote over example utterances (MiniLM embeddings, cosine)
- ``classifier``  the trained ``llm_router`` champion from the MLflow registry (the default; handed in):
                  a complexity score in [0, 1] cut by thresholds along the tier order
- ``llm``         asks a configured tier to name the tier; any failure or unreadable answer falls back

Any number of tiers works; ``[router] tier_order`` lists them weakest first and
``specialist_tiers`` names the ones chosen by their own signal (e.g. ``code``). Every decision
says which strategy made it and why, so a log line explains the cost of each call.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np
import pandas as pd

from models.base import InputError
from models.llm.router_model import RouteClassifier
from models.settings import HybridSettings

#: the LLM strategy's reply budget: enough for any tier name
ROUTER_MAX_TOKENS = 16

@dataclass(frozen=True)
class RouteDecision:
    tier: str
    strategy: str
    complexity: float | None
    #: per-tier evidence: probabilities (classifier), vote shares (similarity), match counts (rules)
    scores: dict[str, float]
    reason: str


class Router(Protocol):
    strategy: str

    def route(self, text: str) -> RouteDecision: ...


def _check_text(text: object) -> str:
    if not isinstance(text, str):
        raise InputError(f"text: expected the prompt as a string, got {type(text).__name__}")
    if not text.strip():
        raise InputError("text: the prompt is empty; pass the user's question")
    return text


def builtin_rules(tier_order: Sequence[str] = ("cheap", "small", "large"),
                  specialist_tiers: Sequence[str] = ("code",)) -> dict[str, list[str]]:
    """Rules used when ``[router] rules`` is empty: code words to the first specialist, analysis words to
    the strongest tier, greetings and one-line lookups to the weakest."""
    rules: dict[str, list[str]] = {}
    if specialist_tiers:
        rules[specialist_tiers[0]] = [
            "sql", "query", "regex", "regular expression", "python", "pandas", "function", "script", "code",
            "traceback", "exception", "yaml", "json", "toml", "docker", "kubernetes", "config file", "select",
            "def", "stack trace", "compile", "unit test", "pytest", "bash",
        ]
    rules[tier_order[-1]] = [
        "compare", "comparison", "versus", "vs", "pros and cons", "explain why", "step by step", "analyse",
        "analyze", "analysis", "trade-off", "tradeoff", "which is better", "in what order", "which should",
        "root cause", "interpret", "estimate", "draft", "rewrite",
    ]
    rules.setdefault(tier_order[0], [
        "hi", "hello", "hey", "thanks", "thank you", "bye", "opening hours", "phone number", "how much",
        "what time", "support email", "do you accept", "do you ship",
    ])
    return rules


class RulesRouter:
    """Case-insensitive whole-word / whole-phrase matches; the tier with the most matches wins, ties
    going to the tier listed first; no match at all goes to ``default_tier``."""

    strategy = "rules"

    def __init__(self, rules: dict[str, list[str]], default_tier: str) -> None:
        self.rules = dict(rules) if rules else builtin_rules()
        self.default_tier = default_tier
        self._patterns = {
            tier: [(phrase, re.compile(rf"(?<!\w){re.escape(phrase.lower())}(?!\w)")) for phrase in phrases]
            for tier, phrases in self.rules.items()
        }

    def route(self, text: str) -> RouteDecision:
        lowered = _check_text(text).lower()
        hits = {tier: [phrase for phrase, pattern in patterns if pattern.search(lowered)]
                for tier, patterns in self._patterns.items()}
        scores = {tier: float(len(found)) for tier, found in hits.items()}
        best = max(scores.values(), default=0.0)
        if best == 0:
            return RouteDecision(self.default_tier, self.strategy, None, scores, f"no rule matched; default tier {self.default_tier!r}")
        tier = next(t for t, s in scores.items() if s == best)  # dicts keep order: the first tier listed wins ties
        return RouteDecision(tier, self.strategy, None, scores, f"matched {', '.join(repr(p) for p in hits[tier])}")


class SimilarityRouter:
    """A vote of the ``k`` most similar example utterances (cosine of MiniLM embeddings), each weighted by
    its similarity; ``scores`` are the vote shares per tier."""

    strategy = "similarity"

    def __init__(self, examples: pd.DataFrame, encoder: Any, k: int = 10) -> None:
        if not isinstance(examples, pd.DataFrame) or not {"text", "tier"} <= set(examples.columns):
            raise InputError("examples: expected a DataFrame with columns 'text' and 'tier' (one example utterance per row)")
        examples = examples.dropna(subset=["text", "tier"])
        if examples.empty:
            raise InputError("examples: no usable rows; give at least one (text, tier) example per tier")
        if k < 1:
            raise InputError(f"k must be at least 1, got {k}")
        self.k = min(k, len(examples))
        self.encoder = encoder
        self.tiers_ = examples["tier"].astype(str).to_numpy()
        self.vectors_ = np.asarray(encoder.encode(examples["text"].astype(str).tolist()), dtype=np.float32)

    def route(self, text: str) -> RouteDecision:
        return self.route_many([_check_text(text)])[0]

    def route_many(self, texts: list[str]) -> list[RouteDecision]:
        """Decisions for many prompts, embedded in one batch."""
        texts = [_check_text(t) for t in texts]
        similarity = np.asarray(self.encoder.encode(texts), dtype=np.float32) @ self.vectors_.T
        nearest = np.argsort(-similarity, axis=1, kind="stable")[:, : self.k]
        decisions = []
        for row, neighbours in zip(similarity, nearest):
            weights = np.clip(row[neighbours], 0.0, None) + 1e-6  # dissimilar neighbours still count a little
            votes: dict[str, float] = {}
            for tier, weight in zip(self.tiers_[neighbours], weights):
                votes[tier] = votes.get(tier, 0.0) + float(weight)
            total = sum(votes.values())
            scores = {tier: vote / total for tier, vote in votes.items()}
            tier = max(scores, key=scores.get)
            decisions.append(RouteDecision(tier, self.strategy, None, scores,
                                           f"{scores[tier]:.0%} of the {self.k} nearest examples (best cosine {row[neighbours[0]]:.2f})"))
        return decisions


class ClassifierRouter:
    """The trained ``RouteClassifier``: its tier, complexity score and per-tier probabilities. The cuts are the
    model's own (``[llm_router] thresholds`` when it was trained with them, else the tuned ones), so what
    routes is what ``hybrid train llm-router`` evaluated."""

    strategy = "classifier"

    def __init__(self, model: RouteClassifier) -> None:
        self.model = model

    def route(self, text: str) -> RouteDecision:
        return self.route_many([_check_text(text)])[0]

    def route_many(self, texts: list[str]) -> list[RouteDecision]:
        texts = [_check_text(t) for t in texts]
        predicted = self.model.predict(pd.DataFrame({"text": texts}))
        ordered, cuts = self.model.ordered_tiers_, self.model.operating_thresholds
        decisions = []
        for _, row in predicted.iterrows():
            scores = {c.removeprefix("p_"): float(row[c]) for c in predicted.columns if c.startswith("p_")}
            tier, complexity = str(row["tier"]), float(row["complexity"])
            if tier in ordered:
                k = ordered.index(tier)
                low = f"{cuts[k - 1]:.2f}" if k else "0"
                high = f"{cuts[k]:.2f}" if k < len(cuts) else "1"
                reason = f"complexity {complexity:.2f} in [{low}, {high}) -> {tier}"
            else:
                reason = f"specialist {tier!r} is the most probable tier ({scores[tier]:.0%})"
            decisions.append(RouteDecision(tier, self.strategy, complexity, scores, reason))
        return decisions


_ROUTING_PROMPT = (
    "You route requests to language models. Choose the cheapest tier that will answer the request well.\n"
    "Tiers (general ones cheapest first, then specialists): {tiers}.\n"
    "Reply with the tier name only."
)


class LLMRouter:
    """Asks ``tier`` (through ``gateway``) to name the tier; falls back to ``fallback`` on any failure or an
    answer that names no tier, saying so in the reason."""

    strategy = "llm"

    def __init__(self, gateway: Any, tier: str, tiers: list[str], fallback: Router) -> None:
        if not tiers:
            raise InputError("tiers: give the tier names the LLM may choose from")
        self.gateway = gateway
        self.tier = tier
        self.tiers = list(tiers)
        self.fallback = fallback

    def messages(self, text: str) -> list[dict[str, str]]:
        system = _ROUTING_PROMPT.format(tiers=", ".join(self.tiers))
        return [{"role": "system", "content": system}, {"role": "user", "content": text}]

    def route(self, text: str) -> RouteDecision:
        text = _check_text(text)
        try:
            # A tier name is a few tokens; a long answer is a wrong one.
            answer = str(self.gateway.complete(self.messages(text), self.tier, max_tokens=ROUTER_MAX_TOKENS).text)
        except Exception as error:  # noqa: BLE001 - any failure of the routing call must not fail the request
            return self._fall_back(text, f"the {self.tier!r} tier failed ({type(error).__name__}: {error})")
        tier = parse_tier(answer, self.tiers)
        if tier is None:
            return self._fall_back(text, f"the {self.tier!r} tier answered {answer[:60]!r}, which names no tier")
        return RouteDecision(tier, self.strategy, None, {tier: 1.0}, f"the {self.tier!r} tier chose {tier!r}")

    def _fall_back(self, text: str, why: str) -> RouteDecision:
        decision = self.fallback.route(text)
        return replace(decision, reason=f"llm router: {why}; fell back to {decision.strategy}: {decision.reason}")


def parse_tier(answer: str, tiers: Sequence[str]) -> str | None:
    """The tier an answer names: the whole answer, or the only tier mentioned as a word; else None."""
    cleaned = answer.strip().strip("`'\".:!* \n").lower()
    by_name = {t.lower(): t for t in tiers}
    if cleaned in by_name:
        return by_name[cleaned]
    named = {by_name[t] for t in by_name if re.search(rf"(?<!\w){re.escape(t)}(?!\w)", cleaned)}
    return named.pop() if len(named) == 1 else None


class _ExplainedRouter:
    """A stand-in router whose every reason starts with why it stands in."""

    def __init__(self, router: Router, note: str) -> None:
        self.router = router
        self.note = note
        self.strategy = router.strategy

    def route(self, text: str) -> RouteDecision:
        decision = self.router.route(text)
        return replace(decision, reason=f"{self.note}; {decision.reason}")


def rules_router(settings: HybridSettings) -> RulesRouter:
    router = settings.router
    rules = router.rules or builtin_rules(router.tier_order, router.specialist_tiers)
    return RulesRouter(rules, router.default_tier)


def classifier_router(settings: HybridSettings, model: RouteClassifier | None = None) -> Router:
    """``model`` (the ``llm_router`` champion the caller loaded), else the rules with a reason that says
    how to train one."""
    if model is None:
        return _ExplainedRouter(rules_router(settings), "no llm_router champion: run `hybrid train llm-router`")
    return ClassifierRouter(model)


def build_router(settings: HybridSettings, gateway: Any = None, encoder: Any = None,
                 model: RouteClassifier | None = None, examples: pd.DataFrame | None = None) -> Router:
    """The router ``[router] strategy`` names. ``model`` is the trained classifier (the ``llm_router``
    champion, or None for the rules); ``llm`` uses ``gateway`` (default: the ``[llm]`` tiers) and falls back
    to the classifier; ``similarity`` votes over ``examples`` (text, tier rows: training/router_data.py
    ``load_examples`` reads ``[router] examples`` or the bundled labelled prompts)."""
    strategy = settings.router.strategy
    if strategy == "rules":
        return rules_router(settings)
    if strategy == "similarity":
        from models.embeddings import SentenceEncoder

        if examples is None:
            raise InputError("[router] strategy 'similarity' needs example (text, tier) rows: set [router] examples")
        return SimilarityRouter(examples, encoder or SentenceEncoder())
    if strategy == "classifier":
        return classifier_router(settings, model)
    if gateway is None:
        from models.llm.gateway import LLMGateway

        gateway = LLMGateway.from_settings(settings.llm)
    configured = getattr(gateway, "tiers", None)
    if isinstance(configured, dict) and settings.router.llm_tier not in configured:
        raise InputError(
            f"[router] llm_tier {settings.router.llm_tier!r} is not a configured [llm.tiers] entry "
            f"({sorted(configured)}); configure it, set llm_tier to one of them, or choose another strategy"
        )
    tiers = [*settings.router.tier_order, *settings.router.specialist_tiers]
    return LLMRouter(gateway, settings.router.llm_tier, tiers, classifier_router(settings, model))
