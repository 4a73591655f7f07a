"""The input classifier: its generated requests, its family holdout, and a model fitted once on them."""

from __future__ import annotations

import copy

import pandas as pd
import pytest

from models.base import InputError
from models.dispatcher import DispatchClassifier, path_of
from training.dispatch_data import generate_dispatch_requests


@pytest.fixture(scope="module")
def requests() -> pd.DataFrame:
    return generate_dispatch_requests(seed=7)


@pytest.fixture(scope="module")
def split(requests):
    return DispatchClassifier().holdout(requests, 0.2, 42)


@pytest.fixture(scope="module")
def fitted(split) -> DispatchClassifier:
    return DispatchClassifier().fit(split[0])


def _row(text: str, series: int = 0, features: bool = False) -> pd.DataFrame:
    return pd.DataFrame({"text": [text], "has_series": [series > 0], "series_length": [series], "has_features": [features]})


def test_generated_requests_follow_the_label_semantics(requests) -> None:
    pd.testing.assert_frame_equal(requests, generate_dispatch_requests(seed=7))
    assert requests["family"].nunique() >= 30
    for row in requests.itertuples():
        assert row.path == path_of(row.labels)
        assert row.has_series or not {"anomaly", "forecast"} & set(row.labels)
        assert row.has_features or "tabular_anomaly" not in row.labels


def test_whole_families_are_held_out(split) -> None:
    train, test = split
    assert not set(train["family"]) & set(test["family"]) and len(test) > 0


def test_unseen_families_are_mostly_routed_right(fitted, split) -> None:
    metrics = fitted.evaluate(split[1])
    assert metrics["path_accuracy"] >= 0.7 and metrics["macro_f1"] >= 0.8, metrics  # measured: 0.80 and 0.89


def test_labels_respect_the_input_structure(fitted) -> None:
    predicted = fitted.predict(_row("forecast next week and flag anomalies"))
    assert not {"anomaly", "forecast", "tabular_anomaly"} & set(predicted["labels"].iloc[0])
    with_series = fitted.predict(_row("forecast next week and flag anomalies", series=90))
    assert {"forecast"} <= set(with_series["labels"].iloc[0])
    assert all(0.0 <= with_series[f"p_{label}"].iloc[0] <= 1.0 for label in ("answer", "intent", "ner"))
    assert len(fitted.predict(_row("", features=True))["labels"].iloc[0]) >= 1


def test_a_threshold_in_the_settings_overrides_the_tuned_one(fitted) -> None:
    row = _row("How do I update my billing address?")
    eager = copy.copy(fitted)
    eager.thresholds = {"sentiment": 0.0}
    assert "sentiment" in eager.predict(row)["labels"].iloc[0]
    assert eager.decision_thresholds()["sentiment"] == 0.0 and fitted.decision_thresholds()["sentiment"] == fitted.thresholds_["sentiment"]


def test_save_load_round_trip(fitted, split, tmp_path) -> None:
    fitted.save(tmp_path)
    test = split[1][list(fitted.input_columns)].head(50)
    pd.testing.assert_frame_equal(DispatchClassifier.load(tmp_path).predict(test), fitted.predict(test))


def test_bad_labels_name_the_field() -> None:
    frame = pd.DataFrame({"text": ["hi", "forecast this"], "has_series": [False, True], "has_features": [False, False],
                          "labels": ["answer", "translate"]})
    with pytest.raises(InputError, match="labels.*translate"):
        DispatchClassifier().fit(frame)
    with pytest.raises(InputError, match="has_series"):
        DispatchClassifier().fit(frame.drop(columns="has_series").assign(labels=["answer", "forecast"]))


def test_held_out_families_are_dispatched_right(fitted, split) -> None:
    metrics = fitted.evaluate(split[1])
    # measured on this split (10 unseen families, 880 requests, five of them among the hardest in the README's
    # leave-one-family-out table: review_and_outlook, explain_spike, intent_and_tone, captioned_series,
    # score_row): exact match 0.68, path accuracy 0.82, NER F1 0.99; a regression drops below these floors
    assert metrics["exact_match"] >= 0.6 and metrics["path_accuracy"] >= 0.75, metrics
    assert metrics["f1_ner"] >= 0.95 and metrics["f1_tabular_anomaly"] == 1.0, metrics


@pytest.mark.parametrize("task", [
    'Classify the intent of this message: "my bill is wrong this month"',
    "Extract the entities from: Maria Lopez paid $250 in Denver",
])
def test_asking_for_a_reply_adds_the_answer_path(fitted, task) -> None:
    alone = fitted.predict(_row(task))["labels"].iloc[0]
    with_reply = fitted.predict(_row(task + ", and draft a reply"))["labels"].iloc[0]
    assert "answer" not in alone and "answer" in with_reply
    assert set(alone) <= set(with_reply)


def test_dropping_the_series_drops_the_forecast(fitted) -> None:
    text = "Forecast next month's bookings and explain the trend"
    assert "forecast" in fitted.predict(_row(text, series=120))["labels"].iloc[0]
    without = fitted.predict(_row(text))
    assert "forecast" not in without["labels"].iloc[0] and without["p_forecast"].iloc[0] == 0.0


def test_labels_may_come_as_json_or_comma_separated_text() -> None:
    from models.dispatcher import normalise_labels

    assert normalise_labels(pd.Series(['["answer", "ner"]', "intent, sentiment", ["forecast"]]), "t") == [
        ["answer", "ner"], ["intent", "sentiment"], ["forecast"]]
