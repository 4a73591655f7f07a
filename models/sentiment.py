"""Sentiment classification, for any label set (binary SST-2 style or negative/neutral/positive).

Same machinery as intent (models/text_classifier.py), with a fine-tuned MiniLM as the strong
option and TF-IDF logistic regression as the fast baseline beside it. Probabilities are calibrated
by temperature scaling on validation data; sentiment never abstains by default.
"""

from __future__ import annotations

from typing import ClassVar

from models.text_classifier import TextClassifier


class SentimentClassifier(TextClassifier):
    name: ClassVar[str] = "sentiment"
