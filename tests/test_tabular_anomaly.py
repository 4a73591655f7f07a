"""The isolation-forest detector over feature rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.base import InputError, load_capability, save_capability
from models.tabular_anomaly import TabularAnomalyDetector


def _rows(n: int = 2000, outliers: int = 40, seed: int = 0) -> pd.DataFrame:
    """Two correlated features plus one that does not matter; outliers sit off the correlation line."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, n)
    frame = pd.DataFrame({"amount": x, "fee": 0.5 * x + rng.normal(0, 0.1, n), "noise": rng.normal(0, 1, n),
                          "merchant": rng.choice(["a", "b"], n), "label": 0})
    at = rng.choice(n, outliers, replace=False)
    frame.loc[at, "fee"] += rng.choice([-1, 1], outliers) * rng.uniform(2, 4, outliers)
    frame.loc[at, "label"] = 1
    return frame


def test_scores_rank_the_outliers_first_and_features_are_the_numeric_columns() -> None:
    train, test = _rows(seed=0), _rows(seed=1)
    detector = TabularAnomalyDetector().fit(train)
    assert detector.input_columns == ("amount", "fee", "noise")  # text and label left out
    metrics = detector.evaluate(test)
    assert metrics["average_precision"] > 0.3 and metrics["roc_auc"] > 0.95  # chance: 0.02 and 0.5
    predicted = detector.predict(test.drop(columns="label"))
    assert predicted["score"].between(0, 1).all() and list(predicted.index) == list(test.index)


def test_labels_tune_the_threshold_and_without_them_contamination_sets_it() -> None:
    labelled = TabularAnomalyDetector().fit(_rows(seed=0))
    unlabelled = TabularAnomalyDetector(contamination=0.05).fit(_rows(seed=0).drop(columns="label"))
    scores = unlabelled.predict(_rows(seed=0))["score"]
    assert np.mean(scores >= unlabelled.threshold_) == pytest.approx(0.05, abs=0.002)
    assert labelled.evaluate(_rows(seed=1))["f1"] > 0.5


def test_save_and_load_give_the_same_scores(tmp_path) -> None:
    detector = TabularAnomalyDetector(n_estimators=50).fit(_rows())
    loaded = load_capability(save_capability(detector, tmp_path / "tabular"))
    assert loaded.input_columns == detector.input_columns
    pd.testing.assert_frame_equal(loaded.predict(_rows(seed=2)), detector.predict(_rows(seed=2)))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns="fee"), "'fee'"),
        (lambda f: f.assign(amount=f["amount"].astype(object).where(f.index != 3, "lots")), "non-numeric"),
        (lambda f: f.assign(noise=f["noise"].where(f.index != 9)), "missing values, first at row 10"),
    ],
)
def test_bad_rows_get_an_error_naming_the_column(change, message: str) -> None:
    detector = TabularAnomalyDetector(n_estimators=20).fit(_rows(n=300, outliers=5))
    with pytest.raises(InputError, match=message):
        detector.predict(change(_rows(n=50, outliers=1)))
