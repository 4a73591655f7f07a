"""Which capabilities exist, and how each is built from the settings.

A capability's hyperparameters live in the settings section of the same name
(``[intent]`` in hybrid.toml, ``HYBRID_INTENT__*`` in the environment).
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
}


def capability_class(name: str) -> type[Capability]:
    if name not in CAPABILITIES:
        raise InputError(f"unknown capability {name!r}; choose one of {sorted(CAPABILITIES)}")
    module_name, _, qualname = CAPABILITIES[name].partition(":")
    return getattr(importlib.import_module(module_name), qualname)


def build_capability(name: str, settings: HybridSettings) -> Capability:
    """A fresh, unfitted capability configured from the settings."""
    cls = capability_class(name)
    return cls(**getattr(settings, name).model_dump(), seed=settings.training.seed)
