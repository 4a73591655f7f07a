"""Typed objects that cross the service boundary."""

from __future__ import annotations

from pydantic import BaseModel, Field


class IntentPrediction(BaseModel):
    label: str = Field(description="the predicted intent")
    confidence: float = Field(ge=0.0, le=1.0, description="the model's probability for that intent")


class LoadedModel(BaseModel):
    capability: str
    version: int
    alias: str
    run_id: str
