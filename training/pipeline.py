"""The generic training pipeline: any capability, one path through MLflow.

    fit -> evaluate on held-out test -> log params, metrics, plots -> log the pyfunc model with
    signature and input example -> register -> promote to champion only if it beats the champion

Stages report progress on stderr so the caller's stdout stays machine-readable.
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from importlib.metadata import requires
from importlib.metadata import version as installed_version
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
from mlflow.entities import Metric
from mlflow.models import infer_signature

from models.base import Capability, InputError, save_capability
from models.pyfunc import ARTIFACT_KEY
from models.settings import HybridSettings
from training.datasets import DatasetSplits
from training.registry import configure_mlflow, promote_if_better

# Importing it would register a model as a side effect; MLflow only needs its path.
PYFUNC_ENTRY = find_spec("models.pyfunc_entry").origin

# What a model needs at load time, recorded with it: the project's own pinned dependencies, less the ones
# only the service and the CLI use. Passed explicitly: MLflow's inference would import torch through skops
# and record a CUDA build of it.
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
SERVING_ONLY = frozenset({"bentoml", "typer"})


def runtime_requirements() -> list[str]:
    """Pinned requirements for loading a model; torch from PyTorch's CPU index (PyPI's build of the same
    version is CUDA's, gigabytes), which pip also finds in a local wheel folder when offline."""
    pinned = [r.split(";")[0].strip() for r in requires("hybrid-ai-service") or [] if "extra ==" not in r]
    return [f"--extra-index-url {TORCH_CPU_INDEX}",
            *(r for r in pinned if re.split(r"[=<>!~ \[]", r, maxsplit=1)[0].lower() not in SERVING_ONLY)]


@dataclass
class TrainResult:
    run_id: str
    model_uri: str
    version: int | None
    promoted: bool
    metrics: dict[str, float]
    decision: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The one-line JSON the CLI prints last."""
        return {k: v for k, v in asdict(self).items() if k != "timings"}


def train_capability(
    capability: Capability,
    splits: DatasetSplits,
    settings: HybridSettings,
    register: bool = True,
    python_model: str | None = None,
) -> TrainResult:
    """Fit, evaluate, log, register and gate ``capability``. ``python_model``: the models-from-code file MLflow
    loads it with (default: the generic one over models/pyfunc.py); the caller owning another wrapper hands it in."""
    client = configure_mlflow(settings)
    name = capability.name
    with mlflow.start_run(run_name=f"{name}-{time.strftime('%Y%m%d-%H%M%S')}") as run:
        mlflow.set_tags({"capability": name, "primary_metric": capability.primary_metric})
        mlflow.log_params({f"model.{k}": v for k, v in capability.get_params().items()})
        mlflow.log_params({f"data.{k}": v for k, v in splits.description.items()})

        with _stage(f"fitting {name} on {len(splits.train)} rows") as fit_time:
            capability.fit(splits.train, splits.valid)
        _log_operating_point(capability)
        _log_learning_curve(capability, run.info.run_id)
        with _stage(f"evaluating on {len(splits.test)} held-out rows") as eval_time:
            metrics = capability.evaluate(splits.test)
        mlflow.log_metrics({f"test_{k}": v for k, v in metrics.items()})
        mlflow.log_metrics({"train_seconds": fit_time.seconds, "eval_seconds": eval_time.seconds})
        _report_metrics(metrics, capability.primary_metric)

        with _stage("logging plots"):
            for filename, figure in capability.figures(splits.test).items():
                mlflow.log_figure(figure, f"plots/{filename}")

        with _stage("logging the model" + (" and registering it" if register else "")):
            model_info = _log_model(capability, splits, register, python_model or PYFUNC_ENTRY)

        version, promoted, decision = None, False, "not registered (--no-register)"
        if register:
            version = int(model_info.registered_model_version)
            gate = promote_if_better(client, capability, version, metrics[capability.primary_metric], splits.test, settings)
            promoted, decision = gate.promoted, gate.reason
            mlflow.set_tag("gate", decision)
            if gate.champion_score is not None:
                mlflow.log_metric(f"champion_{capability.primary_metric}", gate.champion_score)
            _say(f"{name} v{version}: {decision}")

    model_uri = f"models:/{name}/{version}" if version is not None else model_info.model_uri
    return TrainResult(
        run_id=run.info.run_id,
        model_uri=model_uri,
        version=version,
        promoted=promoted,
        metrics=metrics,
        decision=decision,
        timings={"fit_seconds": fit_time.seconds, "eval_seconds": eval_time.seconds},
    )


def _log_model(capability: Capability, splits: DatasetSplits, register: bool, python_model: str):
    example = splits.test[list(capability.input_columns)].head(5).reset_index(drop=True)
    signature = infer_signature(example, capability.predict(example))
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_capability(capability, Path(tmp) / capability.name)
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=python_model,  # models from code: no pickle
            artifacts={ARTIFACT_KEY: str(folder)},
            # the project's code travels with the model, so it loads outside this repository
            code_paths=[_package_dir(p) for p in getattr(capability, "code_packages", ("models",))],
            signature=signature,
            input_example=example,
            registered_model_name=capability.name if register else None,
            pip_requirements=runtime_requirements(),
            metadata={"capability": capability.name, "project_version": installed_version("hybrid-ai-service")},
        )


def _package_dir(package: str) -> str:
    """The folder of a top-level package of this project, found without importing it."""
    spec = find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(f"cannot find the package {package!r} to log with the model")
    return str(Path(next(iter(spec.submodule_search_locations))))


class _stage:
    """Times a pipeline stage and reports it on stderr."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.seconds = 0.0

    def __enter__(self) -> _stage:
        _say(f"{self.what} ...")
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._start
        if exc[0] is None:
            _say(f"  done in {self.seconds:.1f}s")


def _log_operating_point(capability: Capability) -> None:
    """A capability whose fit tunes an operating point on validation data (``operating_point_``: the goal and
    what it gave, e.g. llm_router's strongest-tier share) gets it logged as params and shown."""
    point = getattr(capability, "operating_point_", None)
    if point:
        mlflow.log_params({f"operating_point.{k}": v for k, v in point.items()})
        _say("  operating point on validation: " + ", ".join(
            f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in point.items()))


def _log_learning_curve(capability: Capability, run_id: str) -> None:
    """A capability that trains in steps keeps ``learning_curve_`` (rows of ``step`` plus values, e.g. training
    loss, dev F1); each value becomes a step metric, so the run page charts it over training."""
    curve = getattr(capability, "learning_curve_", None)
    if not curve:
        return
    now = int(time.time() * 1000)
    metrics = [Metric(f"curve_{key}", value, now, int(row["step"]))
               for row in curve for key, value in row.items() if key != "step"]
    client = mlflow.MlflowClient()
    for start in range(0, len(metrics), 1000):  # log_batch's limit per call
        client.log_batch(run_id, metrics=metrics[start : start + 1000])


def _report_metrics(metrics: dict[str, float], primary: str) -> None:
    shown = ", ".join(f"{k}={v:.4f}" for k, v in metrics.items() if k != "n_samples")
    _say(f"  test metrics (primary: {primary}): {shown}")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
