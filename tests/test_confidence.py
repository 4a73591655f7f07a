"""The confidence scorer on signal rows whose correctness follows a known noisy rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.base import InputError
from models.confidence import ConfidenceScorer


def _sigmoid(z: float) -> float:
    return float(1 / (1 + np.exp(-z)))


def _signals(n_requests: int, seed: int) -> pd.DataFrame:
    """Requests of 1-3 parts (and, rarely, a sentiment part: too few rows to learn from). Intent and anomaly
    are right with their own p_self (sometimes missing); ner the higher its weakest span score (none when
    it found no entity, then usually right); the answer the closer its passages (dense_top), the fewer of
    the question's terms they miss and the surer the route (a request-level signal, sometimes missing)."""
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(n_requests):
        parts = list(rng.choice(["intent", "ner", "answer", "anomaly"], size=rng.integers(1, 4), replace=False))
        if rng.uniform() < 0.006:
            parts.append("sentiment")
        route = np.nan if rng.uniform() < 0.2 else rng.uniform(0.4, 1.0)
        for part in parts:
            if part == "answer":
                dense, uncovered = rng.normal(), rng.uniform()
                z = 1.5 * dense - 2 * uncovered + 1 + (0 if np.isnan(route) else 2.0 * (route - 0.7))
                signals, p = {"dense_top": dense, "uncovered_terms": uncovered}, _sigmoid(z)
            elif part == "ner":
                n_entities = int(rng.integers(0, 4))
                span = np.nan if n_entities == 0 else rng.uniform(0.3, 1.0)
                signals = {"n_entities": float(n_entities), "span_score_min": span}
                p = 0.9 if n_entities == 0 else _sigmoid(8 * (span - 0.6))
            else:
                p_self = rng.uniform(0.2, 1.0)
                missing = rng.uniform() < 0.1
                signals, p = {"p_self": np.nan if missing else p_self}, 0.6 if missing else p_self
            rows.append({"request_id": f"{seed}-{r}", "part": part, **signals, "req_conflicts": float(rng.integers(0, 2)),
                         "req_route_probability": route, "correct": int(rng.uniform() < p)})
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
    with pytest.raises(InputError, match="part"):
        ConfidenceScorer().fit(frame.drop(columns="part")).predict(frame)
    scorer = ConfidenceScorer().fit(frame)
    with pytest.raises(InputError, match="part"):
        scorer.predict(frame.drop(columns="part"))
    with pytest.raises(InputError, match="p_self"):
        scorer.predict(frame.assign(p_self="high"))


def test_rare_parts_fall_back_and_unseen_parts_without_p_self_use_the_pooled_model(fitted) -> None:
    assert fitted.part_kind_["sentiment"] == "prior"
    assert {fitted.part_kind_[p] for p in ("intent", "ner", "answer", "anomaly")} <= {"logreg", "lightgbm"}
    rows = pd.DataFrame({"request_id": ["x", "x"], "part": ["sentiment", "tabular_anomaly"], "p_self": [0.55, np.nan],
                         "unheard_of": [1.0, 2.0]})
    scored = fitted.predict(rows)
    assert scored["confidence"].iloc[0] == pytest.approx(0.55) and 0 < scored["confidence"].iloc[1] < 1


def test_one_request_as_the_pipeline_sends_it_scores_fast(fitted) -> None:
    import time

    rows = pd.DataFrame([{"request_id": "r", "part": part, "p_self": 0.8, "dense_top": 0.5, "uncovered_terms": 0.2,
                          "n_entities": 2.0, "span_score_min": 0.7, "req_conflicts": 0.0, "req_route_probability": 0.9}
                         for part in ("intent", "sentiment", "ner", "anomaly", "forecast", "tabular_anomaly", "answer")])
    fitted.predict(rows)
    started = time.perf_counter()
    for _ in range(50):
        scored = fitted.predict(rows)
    assert (time.perf_counter() - started) / 50 < 0.005
    assert list(scored.columns) == ["confidence", "overall", "needs_review"] and scored["overall"].nunique() == 1


def test_evaluate_reports_every_key(fitted, unseen) -> None:
    metrics = fitted.evaluate(unseen)
    for key in ("ece_overall", "auroc_overall", "brier_overall", "accuracy_at_80_coverage", "review_share",
                "precision_without_review", "target_reached", "review_threshold", "n_requests",
                "ece_answer", "auroc_answer", "n_answer"):
        assert key in metrics, key
    assert np.isfinite(metrics["brier_overall"]) and 0 < metrics["review_share"] < 1


def test_built_from_the_settings() -> None:
    from models.catalog import build_capability
    from models.settings import HybridSettings

    scorer = build_capability("confidence", HybridSettings())
    assert isinstance(scorer, ConfidenceScorer) and scorer.target_precision == 0.9 and scorer.review_threshold is None
    assert ConfidenceScorer.higher_is_better is False


def test_a_response_of_one_part_is_as_likely_right_as_that_part(fitted, unseen) -> None:
    single = unseen[unseen.groupby("request_id")["part"].transform("size") == 1]
    predicted = fitted.predict(single)
    assert len(single) > 100
    np.testing.assert_allclose(predicted["overall"], predicted["confidence"])
    many = unseen[unseen.groupby("request_id")["part"].transform("size") > 1]
    scored = fitted.predict(many)
    assert (scored.groupby(many["request_id"])["overall"].nunique() == 1).all()  # one overall per request
