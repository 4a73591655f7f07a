"""The capability contract, the generic pyfunc wrapper, and the intent model's behaviour."""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest

from models.base import Capability, InputError, load_capability, save_capability
from models.intent import OUT_OF_SCOPE, IntentClassifier
from models.pyfunc import ARTIFACT_KEY, CapabilityModel


def test_intent_follows_the_contract(fitted_intent: IntentClassifier) -> None:
    assert isinstance(fitted_intent, Capability)
    assert fitted_intent.primary_metric in fitted_intent.evaluate(pd.DataFrame({"text": ["refund"], "label": ["refund_request"]}))


def test_init_only_stores_configuration() -> None:
    clf = IntentClassifier(C=3.0, model="lightgbm")
    assert clf.get_params()["C"] == 3.0
    assert not hasattr(clf, "pipeline_")
    with pytest.raises(RuntimeError, match="not fitted"):
        clf.predict(pd.DataFrame({"text": ["hello"]}))


def test_predict_keeps_the_index_and_returns_probabilities(fitted_intent: IntentClassifier) -> None:
    batch = pd.DataFrame({"text": ["my card never arrived", "I want a refund", None]}, index=[10, 7, 42])
    out = fitted_intent.predict(batch)
    assert list(out.index) == [10, 7, 42]
    assert list(out.columns) == ["label", "confidence"]
    assert set(out["label"]) <= set(fitted_intent.classes_) | {OUT_OF_SCOPE}
    assert out.loc[10, "label"] == "card_not_arrived"
    assert out.loc[42, "label"] == OUT_OF_SCOPE  # no text: nothing to be confident about
    assert ((out["confidence"] > 0) & (out["confidence"] <= 1)).all()
    proba = fitted_intent.predict_proba(batch)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(proba.max(axis=1), out["confidence"])


def test_empty_batch_gives_empty_frame(fitted_intent: IntentClassifier) -> None:
    out = fitted_intent.predict(pd.DataFrame({"text": pd.Series([], dtype=str)}))
    assert out.empty and list(out.columns) == ["label", "confidence"]


def test_missing_column_is_named(fitted_intent: IntentClassifier) -> None:
    with pytest.raises(InputError, match="'text'"):
        fitted_intent.predict(pd.DataFrame({"body": ["hello"]}))


def test_one_label_is_not_a_classification_problem() -> None:
    with pytest.raises(InputError, match="at least 2"):
        IntentClassifier().fit(pd.DataFrame({"text": ["a", "b"], "label": ["x", "x"]}))


def test_save_load_round_trip(fitted_intent: IntentClassifier, intent_frames, tmp_path: Path) -> None:
    test = intent_frames[1].head(100)
    folder = save_capability(fitted_intent, tmp_path / "intent")
    loaded = load_capability(folder)
    assert type(loaded) is IntentClassifier and loaded.get_params() == fitted_intent.get_params()
    pd.testing.assert_frame_equal(loaded.predict(test), fitted_intent.predict(test))


def test_generic_pyfunc_serves_the_capability(fitted_intent: IntentClassifier, intent_frames, tmp_path: Path) -> None:
    test = intent_frames[1].head(100)
    folder = save_capability(fitted_intent, tmp_path / "intent")
    mlflow.pyfunc.save_model(
        tmp_path / "pyfunc", python_model=CapabilityModel(), artifacts={ARTIFACT_KEY: str(folder)}, pip_requirements=[]
    )
    model = mlflow.pyfunc.load_model(str(tmp_path / "pyfunc"))
    pd.testing.assert_frame_equal(model.predict(test[["text"]]), fitted_intent.predict(test[["text"]]))
    assert isinstance(model.unwrap_python_model().capability, IntentClassifier)


def test_evaluate_is_held_out_and_sensible(fitted_intent: IntentClassifier, intent_frames) -> None:
    _, test = intent_frames
    metrics = fitted_intent.evaluate(test)
    assert metrics["n_samples"] == len(test)
    assert 0.8 < metrics["accuracy"] <= 1.0
    assert 0.0 <= metrics["ece"] < 0.2


def test_diagnostic_figures(fitted_intent: IntentClassifier, intent_frames) -> None:
    test = intent_frames[1].head(200)
    figures = fitted_intent.figures(test)
    assert set(figures) == {"confusion_matrix.png", "calibration_curve.png"}
    image = figures["confusion_matrix.png"].axes[0].images[0].get_array()
    labels = sorted(set(test["label"]) | set(fitted_intent.predict(test)["label"]))
    assert image.shape == (len(labels), len(labels))
    true_rows = [labels.index(label) for label in set(test["label"])]
    np.testing.assert_allclose(image.sum(axis=1)[true_rows], 1.0)  # row-normalised over true labels


def test_lightgbm_option_trains_and_predicts(intent_frames) -> None:
    train, test = intent_frames
    clf = IntentClassifier(model="lightgbm", n_estimators=30, char_ngrams=False).fit(train.head(900))
    metrics = clf.evaluate(test.head(300))
    assert metrics["accuracy"] > 0.5  # 14 intents: chance is ~0.07
    assert set(clf.predict(test.head(5))["label"]) <= set(clf.classes_)


# ---- behaviour of the trained model (invariance and direction, not only a score) ----------

@pytest.mark.parametrize(
    "original, perturbed",
    [
        ("My card still hasn't arrived after two weeks", "my card still hasnt arrived after two weeks"),
        ("I want a refund for order #A7X-20931", "I want a refund for order #B2Q-11873"),
        ("Please reset my password, I forgot it", "PLEASE RESET MY PASSWORD, I FORGOT IT"),
    ],
)
def test_invariant_to_case_punctuation_and_ids(fitted_intent: IntentClassifier, original: str, perturbed: str) -> None:
    out = fitted_intent.predict(pd.DataFrame({"text": [original, perturbed]}))
    assert out["label"].iloc[0] == out["label"].iloc[1]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("I forgot my password and need to reset it", "password_reset"),
        ("please close my account permanently", "close_account"),
        ("the blender I received is broken and doesn't work", "product_defect"),
    ],
)
def test_clear_requests_get_their_intent(fitted_intent: IntentClassifier, text: str, expected: str) -> None:
    assert fitted_intent.predict(pd.DataFrame({"text": [text]}))["label"].iloc[0] == expected
