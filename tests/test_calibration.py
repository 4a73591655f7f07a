"""Temperature scaling and the abstention threshold, on data where the right answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.calibration import abstention_threshold, calibrated_proba, fit_temperature
from models.intent import OUT_OF_SCOPE, IntentClassifier
from models.metrics import expected_calibration_error


def test_temperature_recovers_the_true_one() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(0, 3, size=(20_000, 5))
    true_proba = calibrated_proba(scores, 2.5)  # the labels really come from softmax(scores / 2.5)
    targets = np.array([rng.choice(5, p=p) for p in true_proba])
    assert fit_temperature(scores, targets) == pytest.approx(2.5, rel=0.05)


def test_calibration_lowers_ece_of_an_overconfident_model() -> None:
    rng = np.random.default_rng(1)
    scores = rng.normal(0, 3, size=(5000, 4))
    targets = np.array([rng.choice(4, p=p) for p in calibrated_proba(scores, 3.0)])
    raw = calibrated_proba(scores, 1.0)  # over-confident: pretends T=1
    fixed = calibrated_proba(scores, fit_temperature(scores, targets))
    ece = lambda p: expected_calibration_error(p.max(axis=1), p.argmax(axis=1) == targets)  # noqa: E731
    assert ece(fixed) < ece(raw) / 3


def test_threshold_without_oos_examples_rejects_the_asked_share() -> None:
    confidence = np.linspace(0.01, 1.0, 1000)
    threshold = abstention_threshold(confidence, np.ones(1000, bool), np.zeros(1000, bool), 0.05)
    assert (confidence < threshold).mean() == pytest.approx(0.05, abs=0.002)
    assert abstention_threshold(confidence, np.ones(1000, bool), np.zeros(1000, bool), 0.0) == 0.0


def test_threshold_with_oos_examples_separates_them() -> None:
    confidence = np.concatenate([np.full(100, 0.3), np.full(900, 0.9)])
    is_oos = np.concatenate([np.ones(100, bool), np.zeros(900, bool)])
    threshold = abstention_threshold(confidence, ~is_oos, is_oos, 0.0)
    assert 0.3 < threshold <= 0.9


@pytest.fixture(scope="module")
def oos_frames(intent_frames):
    """Two intents never seen in training stand in for out-of-scope requests."""
    train, test = intent_frames
    unseen = {"close_account", "upgrade_plan"}
    seen = train[~train["label"].isin(unseen)]
    valid = pd.concat([seen.tail(300), train[train["label"].isin(unseen)].head(60)])

    def relabel(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(label=frame["label"].where(~frame["label"].isin(unseen), OUT_OF_SCOPE))

    return seen.iloc[:-300], relabel(valid), relabel(test)


def test_threshold_learned_from_oos_validation_flags_unseen_intents(oos_frames) -> None:
    train, valid, test = oos_frames
    clf = IntentClassifier(model="logreg").fit(train, valid)
    assert clf.threshold_ > 0
    metrics = clf.evaluate(test)
    assert metrics["oos_recall"] > 0.3  # well above the abstention rate on in-scope requests
    assert 0.0 < metrics["abstention_rate"] < 0.5
    assert OUT_OF_SCOPE not in clf.classes_


def test_abstention_share_follows_the_setting(intent_frames) -> None:
    train, test = intent_frames
    never = IntentClassifier(model="logreg", max_in_scope_rejection=0.0).fit(train)
    often = IntentClassifier(model="logreg", max_in_scope_rejection=0.2).fit(train)
    assert never.evaluate(test)["abstention_rate"] == 0.0
    assert 0.05 < often.evaluate(test)["abstention_rate"] < 0.4
    assert (often.predict(test)["label"] == OUT_OF_SCOPE).any()


def test_tuning_uses_validation_not_training(intent_frames) -> None:
    train, test = intent_frames
    clf = IntentClassifier(model="ensemble", max_in_scope_rejection=0.0).fit(train.head(1000), test.head(200))
    assert 0.0 <= clf.embedding_weight_ <= 1.0 and clf.temperature_ > 0
    # calibrated on held-out rows: confidence tracks accuracy on the rest of the test set
    assert clf.evaluate(test.iloc[200:])["ece"] < 0.08


def test_abstaining_is_not_counted_twice_in_macro_f1(intent_frames) -> None:
    train, test = intent_frames
    clf = IntentClassifier(model="logreg", max_in_scope_rejection=0.2).fit(train)
    metrics = clf.evaluate(test)
    from sklearn.metrics import f1_score

    label = clf.predict(test)["label"]
    over_true_labels = f1_score(test["label"], label, labels=sorted(set(test["label"])), average="macro", zero_division=0)
    assert metrics["macro_f1"] == pytest.approx(over_true_labels)
    assert metrics["macro_f1"] > f1_score(test["label"], label, average="macro", zero_division=0)
