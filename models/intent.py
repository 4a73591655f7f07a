"""Intent classification: which support request is this, or is it none we know (``out_of_scope``)?

The default is the ``ensemble`` of TF-IDF and MiniLM-embedding logistic regressions (see
models/text_classifier.py); it declines to answer the least confident ``max_in_scope_rejection``
share of in-scope validation examples, or learns its threshold from ``out_of_scope`` examples
when the validation data has them.
"""

from __future__ import annotations

from typing import ClassVar

from models.text_classifier import OUT_OF_SCOPE, TextClassifier

__all__ = ["IntentClassifier", "OUT_OF_SCOPE"]


class IntentClassifier(TextClassifier):
    name: ClassVar[str] = "intent"
