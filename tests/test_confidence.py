"""The confidence scorer on signal rows whose correctness follows a known noisy rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.base import InputError
from models.confidence import ConfidenceScorer


def _signals(n_requests: int, seed: int) -> pd.DataFrame:
    """Requests of 1-3 parts. ML parts are right with their own p_self (sometimes missing); the answer is right
    more often the closer its passages (dense_top) and the fewer of the question's terms they miss."""
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(n_requests):
        for part in rng.choice(["intent", "ner", "answer", "anomaly"], size=rng.integers(1, 4), replace=False):
            if part == "answer":
                dense, uncovered = rng.normal(), rng.uniform()
                signals, p = {"dense_top": dense, "uncovered_terms": uncovered}, 1 / (1 + np.exp(-(1.5 * dense - 2 * uncovered + 1)))
            else:
                p_self = rng.uniform(0.2, 1.0)
                missing = rng.uniform() < 0.1
                signals, p = {"p_self": np.nan if missing else p_self}, 0.6 if missing else p_self
            rows.append({"request_id": f"{seed}-{r}", "part": part, **signals, "req_conflicts": float(rng.integers(0, 2)),
                         "correct": int(rng.uniform() < p)})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def fitted() -> ConfidenceScorer:
    return ConfidenceScorer(target_precision=0.85).fit(_signals(2500, seed=1))


@pytest.fixture(scope="module")
def unseen() -> pd.DataFrame:
    return _signals(2500, seed=2)


def test_calibrated_and_discriminative_on_unseen_requests(fitted, unseen) -> None:
    metrics = fitted.evaluate(unseen)
    assert metrics["ece_overall"] <= 0.05 and metrics["auroc_overall"] >= 0.75
    for part in ("intent", "ner", "answer", "anomaly"):
        assert metrics[f"ece_{part}"] <= 0.05 and metrics[f"auroc_{part}"] >= 0.7, part
    assert metrics["accuracy_at_80_coverage"] > metrics["accuracy_overall"]


def test_the_review_threshold_keeps_the_target_precision(fitted, unseen) -> None:
    metrics = fitted.evaluate(unseen)
    assert metrics["target_reached"] == 1.0 and metrics["precision_without_review"] >= 0.85 - 0.04
    assert metrics["review_threshold"] == fitted.operating_threshold == fitted.review_threshold_


def test_a_review_threshold_in_the_settings_overrides_the_tuned_one(fitted, unseen) -> None:
    import copy

    lenient = copy.copy(fitted)
    lenient.review_threshold = 0.0
    assert not lenient.predict(unseen)["needs_review"].any()
    assert fitted.predict(unseen)["needs_review"].any()


def test_unknown_parts_and_missing_signals_are_still_scored(fitted) -> None:
    rows = pd.DataFrame({"request_id": ["x", "x"], "part": ["forecast", "intent"], "p_self": [0.7, 0.9]})
    scored = fitted.predict(rows)
    assert scored["confidence"].iloc[0] == pytest.approx(0.7) and 0 < scored["confidence"].iloc[1] <= 1
    assert scored["overall"].nunique() == 1 and scored["overall"].iloc[0] <= scored["confidence"].max()


def test_more_support_means_more_confidence_in_the_answer(fitted) -> None:
    rows = pd.DataFrame({"request_id": ["a", "b"], "part": ["answer", "answer"], "dense_top": [1.5, -1.5],
                         "uncovered_terms": [0.1, 0.9]})
    low, high = fitted.predict(rows)["confidence"].iloc[::-1]
    assert high > low + 0.3


def test_save_load_round_trip(fitted, unseen, tmp_path) -> None:
    fitted.save(tmp_path)
    pd.testing.assert_frame_equal(ConfidenceScorer.load(tmp_path).predict(unseen), fitted.predict(unseen))
    assert set(fitted.figures(unseen)) == {"reliability.png", "risk_coverage.png"}


def test_holdout_keeps_requests_whole(unseen) -> None:
    train, test = ConfidenceScorer().holdout(unseen, 0.2, 0)
    assert not set(train["request_id"]) & set(test["request_id"]) and len(train) + len(test) == len(unseen)


def test_bad_input_names_the_column() -> None:
    frame = _signals(50, seed=3)
    with pytest.raises(InputError, match="part"):
        ConfidenceScorer().fit(frame.drop(columns="part"))
    with pytest.raises(InputError, match="dense_top"):
        ConfidenceScorer().fit(frame.assign(dense_top=frame["dense_top"].astype(object).fillna("high")))
