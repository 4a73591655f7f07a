"""The generic training pipeline against a real MLflow sqlite store: logging, registry, champion gate."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from conftest import StoreSwitch
from models.intent import IntentClassifier
from training.datasets import DatasetSplits
from training.pipeline import train_capability
from models.registry import champion_version, load_capability_from_uri
from training.registry import promote

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def own_store(tmp_path_factory: pytest.TempPathFactory):
    """A registry of this module's own, so the gate sees exactly the versions these tests create."""
    with StoreSwitch(tmp_path_factory.mktemp("gate-store")) as settings:
        yield settings


@pytest.fixture(scope="module")
def splits(intent_frames) -> DatasetSplits:
    train, test = intent_frames
    return DatasetSplits(train=train, test=test, description={"train_rows": str(len(train))})


# The gate does not depend on the model kind, so these use the fast TF-IDF member only.
def weak() -> IntentClassifier:
    return IntentClassifier(model="logreg", C=0.01, char_ngrams=False)


def strong() -> IntentClassifier:
    return IntentClassifier(model="logreg")


@pytest.fixture(scope="module")
def history(own_store, splits):
    """Three trainings in order: a weak model, a strong one, the weak one again."""
    return [train_capability(model, splits, own_store) for model in (weak(), strong(), weak())]


def test_first_model_becomes_champion(history) -> None:
    first = history[0]
    assert first.version == 1 and first.promoted
    assert "first champion" in first.decision


def test_better_model_is_promoted_and_worse_stays_challenger(history, own_store) -> None:
    _, strong, weak_again = history
    assert strong.promoted and strong.metrics["macro_f1"] > history[0].metrics["macro_f1"]
    assert not weak_again.promoted and "stays a challenger" in weak_again.decision
    client = MlflowClient()
    assert int(champion_version(client, "intent", "champion").version) == strong.version
    tags = client.get_model_version("intent", str(weak_again.version)).tags
    assert tags["role"] == "challenger"
    # only the champion claims the role: the version it replaced says so
    assert client.get_model_version("intent", str(strong.version)).tags["role"] == "champion"
    assert client.get_model_version("intent", str(history[0].version)).tags["role"] == "former champion"


def test_identical_retrain_does_not_displace_the_champion(own_store, splits, history) -> None:
    again = train_capability(strong(), splits, own_store)
    assert not again.promoted  # ties keep the champion: a challenger must be strictly better
    assert int(champion_version(MlflowClient(), "intent", "champion").version) == history[1].version


def test_run_logs_params_metrics_plots_and_model(history, splits) -> None:
    run = mlflow.get_run(history[1].run_id)
    assert run.data.params["model.C"] == "20.0"
    assert run.data.params["data.train_rows"] == str(len(splits.train))
    assert run.data.metrics["test_macro_f1"] == pytest.approx(history[1].metrics["macro_f1"])
    assert "train_seconds" in run.data.metrics
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "plots")}
    assert {"plots/confusion_matrix.png", "plots/calibration_curve.png"} <= artifacts
    info = mlflow.models.get_model_info(history[1].model_uri)
    assert info.signature.inputs.input_names() == ["text"]
    assert set(info.signature.outputs.input_names()) == {"label", "confidence"}
    assert info.saved_input_example_info is not None


def test_champion_loads_by_alias_and_predicts(history, splits) -> None:
    model = load_capability_from_uri("models:/intent@champion")
    assert model.evaluate(splits.test)["macro_f1"] == pytest.approx(history[1].metrics["macro_f1"])


def test_no_register_logs_but_leaves_the_registry_alone(own_store, splits) -> None:
    before = len(MlflowClient().search_model_versions("name='intent'"))
    result = train_capability(weak(), splits, own_store, register=False)
    assert result.version is None and not result.promoted
    assert len(MlflowClient().search_model_versions("name='intent'")) == before
    assert mlflow.get_run(result.run_id).data.metrics["test_accuracy"] > 0


def test_manual_promotion_rolls_back(own_store, history) -> None:
    promote(MlflowClient(), "intent", history[0].version, own_store)
    assert int(champion_version(MlflowClient(), "intent", "champion").version) == 1
    promote(MlflowClient(), "intent", history[1].version, own_store)


def test_summary_is_the_documented_json(history) -> None:
    summary = json.loads(json.dumps(history[1].summary()))
    assert {"run_id", "model_uri", "version", "promoted", "metrics"} <= set(summary)
    assert summary["model_uri"] == f"models:/intent/{history[1].version}"


def test_artifacts_stay_in_the_configured_folder(own_store, history) -> None:
    root = Path(own_store.mlflow.artifact_root)
    assert any(root.rglob("confusion_matrix.png"))

