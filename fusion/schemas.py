"""Typed objects that cross the service boundary."""

from __future__ import annotations

from pydantic import BaseModel, Field


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
