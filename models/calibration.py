"""Turning scores into honest probabilities, and deciding when not to answer.

Both are fitted on validation data, never on the data the model was trained on: a model is
over-confident on its own training set, so calibrating there would undo the point.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax


def fit_temperature(scores: np.ndarray, targets: np.ndarray) -> float:
    """The temperature T minimising the negative log-likelihood of softmax(scores / T).

    ``scores`` are unnormalised log-probabilities (n, k); ``targets`` are column indices (n,).
    """
    rows = np.arange(len(targets))

    def nll(log_t: float) -> float:
        return float(-log_softmax(scores / np.exp(log_t), axis=1)[rows, targets].mean())

    return float(np.exp(minimize_scalar(nll, bounds=(-3.0, 3.0), method="bounded").x))


def calibrated_proba(scores: np.ndarray, temperature: float) -> np.ndarray:
    return np.exp(log_softmax(scores / temperature, axis=1))


def abstention_threshold(
    confidence: np.ndarray, correct: np.ndarray, is_out_of_scope: np.ndarray, max_in_scope_rejection: float
) -> float:
    """The confidence below which to answer ``out_of_scope``.

    With out-of-scope examples in the validation data, pick the threshold that maximises
    accuracy when abstaining counts as right on them and wrong elsewhere. Without them, reject at
    most ``max_in_scope_rejection`` of the in-scope validation examples, the least confident first.
    """
    if max_in_scope_rejection <= 0 and not is_out_of_scope.any():
        return 0.0
    if is_out_of_scope.any():
        candidates = np.unique(np.concatenate([[0.0], np.quantile(confidence, np.linspace(0, 1, 201))]))
        scores = [np.where(confidence < t, is_out_of_scope, correct).mean() for t in candidates]
        return float(candidates[int(np.argmax(scores))])
    return float(np.quantile(confidence[~is_out_of_scope], max_in_scope_rejection))
