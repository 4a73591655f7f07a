"""Which capabilities exist, and how each is built from the settings.

A capability's hyperparameters live in the settings section of the same name
(``[intent]`` in hybrid.toml, ``HYBRID_INTENT__*`` in the environment); a setting two parts of the
service must agree on is read from the one section that owns it (``SHARED``).
"""

from __future__ import annotations

import importlib

from models.base import Capability, InputError
from models.settings import HybridSettings

CAPABILITIES: dict[str, str] = {
    "intent": "models.intent:IntentClassifier",
    "sentiment": "models.sentiment:SentimentClassifier",
    "ner": "models.ner:EntityRecognizer",
    "anomaly": "models.anomaly:StreamingAnomalyDetector",
    "forecast": "models.forecast:Forecaster",
    "tabular_anomaly": "models.tabular_anomaly:TabularAnomalyDetector",
    "reranker": "models.reranker:SearchReranker",
    "llm_router": "models.llm.router_model:RouteClassifier",
    "injection": "models.guardrails.injection:InjectionDetector",
    "dispatcher": "models.dispatcher:DispatchClassifier",
    "confidence": "models.confidence:ConfidenceScorer",
}


#: capability -> (section, fields) it takes from that section rather than keeping its own copy
SHARED: dict[str, tuple[str, tuple[str, ...]]] = {
    # The router and the classifier it consults must order the tiers the same way.
    "llm_router": ("router", ("tier_order",)),
}


def capability_class(name: str) -> type[Capability]:
    if name not in CAPABILITIES:
        raise InputError(f"unknown capability {name!r}; choose one of {sorted(CAPABILITIES)}")
    module_name, _, qualname = CAPABILITIES[name].partition(":")
    return getattr(importlib.import_module(module_name), qualname)


def build_capability(name: str, settings: HybridSettings) -> Capability:
    """A fresh, unfitted capability configured from the settings."""
    cls = capability_class(name)
    section, fields = SHARED.get(name, ("", ()))
    shared = {field: getattr(getattr(settings, section), field) for field in fields}
    return cls(**getattr(settings, name).model_dump(), **shared, seed=settings.training.seed)
