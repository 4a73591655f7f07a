"""Reading the model registry: find a champion and load it (the writing half is training/registry.py).

Model code, the composition layer and the service all load models the same way, so this half lives
beside models/pyfunc.py, below everything that calls it:

    connect_store(settings)
    capability = load_capability_from_uri(champion_uri("intent", settings))
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import mlflow.models
import mlflow.pyfunc
from mlflow.models.model import ModelInfo
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from models.base import Capability
from models.settings import HybridSettings


class NoChampionError(LookupError):
    """No model version carries the champion alias yet."""


def connect_store(settings: HybridSettings) -> MlflowClient:
    """Point MLflow (tracking and registry) at the configured store."""
    uri = settings.tracking_uri
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def champion_uri(name: str, settings: HybridSettings) -> str:
    return f"models:/{name}@{settings.mlflow.champion_alias}"


def champion_version(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def load_pyfunc(uri: str) -> mlflow.pyfunc.PyFuncModel:
    """Load a registry model, saying what to do when there is none yet."""
    try:
        return mlflow.pyfunc.load_model(uri)
    except MlflowException as error:
        raise _no_model(uri, error) from error


def model_info(uri: str) -> ModelInfo:
    """A registry model's metadata (signature, run) without loading its weights; the same hint when it is missing."""
    try:
        return mlflow.models.get_model_info(uri)
    except MlflowException as error:
        raise _no_model(uri, error) from error


def _no_model(uri: str, error: MlflowException) -> NoChampionError:
    name = uri.removeprefix("models:/").split("@")[0].split("/")[0]
    return NoChampionError(f"cannot load {uri}: {error.message}. Train and promote one first: `hybrid train {name}`.")


def load_capability_from_uri(uri: str) -> Capability:
    return load_pyfunc(uri).unwrap_python_model().capability
