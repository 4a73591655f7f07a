"""The whole hybrid pipeline as one registered MLflow model, ``models:/hybrid@champion``.

    hybrid register pipeline                                   # pins today's champions, evaluates, gates
    model = mlflow.pyfunc.load_model("models:/hybrid@champion")  # no registry look-ups after this
    model.predict(pd.DataFrame({"text": ["my card was stolen"], "tasks": ['["intent", "ner"]']}))

``PipelineCapability`` follows the one contract, so the generic training pipeline logs, registers and
gates it like any capability: ``fit`` learns nothing, it *assembles* -- it copies the model folder of every
champion the pipeline uses (each pinned to the version its alias names now), the search collections'
current versions and the settings into one folder; ``load`` rebuilds ``HybridPipeline`` from that folder
alone, so a fresh process, a Spark executor or a container needs the model and nothing else. Its input
and output are the tables of fusion/table.py. ``evaluate`` runs fresh labelled requests end to end; a new
version is promoted when it is not worse than the champion on the same requests.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, ClassVar, Self

import mlflow
import mlflow.artifacts
import mlflow.pyfunc
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from fusion.champions import Champions
from fusion.confidence_data import UNANSWERABLE, LabelledRequest, part_correct, sample_requests, sample_series
from fusion.pipeline import PIPELINE_MODELS, HybridPipeline
from fusion.schemas import LoadedModel, PredictRequest, PredictResponse
from fusion.table import REQUEST_COLUMNS, request_frame, request_from_row, score_table
from models.base import InputError
from models.metrics import expected_calibration_error
from models.plots import reliability_figure
from models.pyfunc import ARTIFACT_KEY
from models.rag.collection import CURRENT, CollectionStore
from models.registry import champion_version, connect_store
from models.settings import HybridSettings

#: the models-from-code file MLflow loads the pipeline with (importing it would build a model)
PIPELINE_ENTRY = str(Path(__file__).with_name("pipeline_entry.py"))
#: fresh requests for the end-to-end evaluation: a seed neither the sample data (7) nor the confidence harvest used
EVALUATION_SEED = 2029
_MANIFEST = "pipeline.json"
_SETTINGS = "settings.json"


class PipelineCapability:
    name: ClassVar[str] = "hybrid"
    primary_metric: ClassVar[str] = "parts_correct"
    #: the gate promotes a version that is not worse (the same champions score the same)
    promote_on_tie: ClassVar[bool] = True
    input_columns: ClassVar[tuple[str, ...]] = REQUEST_COLUMNS
    target_column: ClassVar[str] = "gold"
    #: packages the registered model carries as code, so it loads outside this repository
    code_packages: ClassVar[tuple[str, ...]] = ("models", "training", "fusion")

    def __init__(self, settings: HybridSettings, seed: int = 42) -> None:
        self.settings = settings
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        return {"champion_alias": self.settings.mlflow.champion_alias, "evaluation_seed": EVALUATION_SEED}

    # -- assembling ------------------------------------------------------------------------------

    def fit(self, train: pd.DataFrame | None = None, valid: pd.DataFrame | None = None) -> Self:
        """Copy every champion (the version its alias names now) and every collection's current version."""
        client = connect_store(self.settings)
        alias = self.settings.mlflow.champion_alias
        folder = Path(tempfile.mkdtemp(prefix="hybrid-pipeline-"))
        champions = {}
        for name in PIPELINE_MODELS:
            version = champion_version(client, name, alias)
            if version is None:
                continue
            mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version.version}",
                                                dst_path=str(folder / "champions" / name))
            champions[name] = {"version": int(version.version), "run_id": version.run_id}
        if not champions:
            raise InputError("hybrid: no champion to compose; train the capabilities first (`make demo`)")
        store = CollectionStore(self.settings.rag.collections_dir)
        collections = {}
        for name in store.names():
            current = store.current_version(name)
            shutil.copytree(store.folder(name) / current, folder / "collections" / name / current)
            (folder / "collections" / name / CURRENT).write_text(current)
            collections[name] = current
        encoders = store.root / ".encoders"  # the query encoder's ONNX export: a load need not export it again
        if encoders.is_dir():
            shutil.copytree(encoders, folder / "collections" / ".encoders")
        manifest = {"alias": alias, "champions": champions, "collections": collections}
        (folder / _MANIFEST).write_text(json.dumps(manifest, indent=2))
        (folder / _SETTINGS).write_text(self.settings.model_dump_json(indent=2))
        if mlflow.active_run():  # what this version pins, on its run page
            mlflow.log_params({f"pinned.{n}": c["version"] for n, c in champions.items()}
                              | {f"collection.{n}": v for n, v in collections.items()})
        self._open(folder)
        return self

    def _open(self, folder: Path) -> None:
        """Build the pipeline from ``folder`` alone: its champions, its collections, its settings."""
        self.folder_ = Path(folder)
        self.manifest_ = json.loads((self.folder_ / _MANIFEST).read_text())
        settings = _saved_settings(self.folder_)
        pinned = {name: LoadedModel(capability=name, version=c["version"], alias=self.manifest_["alias"], run_id=c["run_id"])
                  for name, c in self.manifest_["champions"].items()}
        champions = Champions.from_model_folders({n: self.folder_ / "champions" / n for n in pinned}, pinned)
        self.pipeline_ = HybridPipeline.from_settings(settings, champions=champions)

    # -- the contract ----------------------------------------------------------------------------

    def predict(self, batch: pd.DataFrame) -> pd.DataFrame:
        """The flat response (fusion/table.py's ``RESPONSE_COLUMNS``) for every request row."""
        return score_table(batch, self.pipeline_.predict)

    def evaluate(self, test: pd.DataFrame) -> dict[str, float]:
        """End to end on labelled request rows (``gold``: part -> what a right answer is, as JSON): the share
        of parts right, per part, and how well the overall confidence predicts a fully right response."""
        outcomes = self._outcomes(test)
        metrics: dict[str, float] = {"parts_correct": float(np.mean([c for o in outcomes for c in o["parts"].values()]))}
        for part in sorted({p for o in outcomes for p in o["parts"]}):
            metrics[f"{part}_accuracy"] = float(np.mean([o["parts"][part] for o in outcomes if part in o["parts"]]))
        right = np.array([all(o["parts"].values()) for o in outcomes], dtype=float)
        overall = np.array([o["overall"] for o in outcomes])
        metrics |= {"responses_correct": float(right.mean()), "overall_ece": expected_calibration_error(overall, right),
                    "review_share": float(np.mean([o["review"] for o in outcomes])), "n_samples": float(len(outcomes))}
        return metrics

    def figures(self, test: pd.DataFrame) -> dict[str, Figure]:
        outcomes = self._outcomes(test)
        right = np.array([all(o["parts"].values()) for o in outcomes], dtype=bool)
        overall = np.array([o["overall"] for o in outcomes])
        return {"reliability_overall.png": reliability_figure(overall, right)}

    def _outcomes(self, test: pd.DataFrame) -> list[dict[str, Any]]:
        """Per labelled row: which parts were right, the overall confidence, whether it went to review."""
        if "gold" not in test.columns:
            raise InputError("hybrid.evaluate: the test rows need a `gold` column (part -> right answer, JSON)")
        key = (id(test), len(test))
        if getattr(self, "_outcomes_key", None) == key:  # evaluate and figures read the same run
            return self._outcomes_cache
        outcomes = []
        for record in test.to_dict(orient="records"):
            gold = _gold(record["gold"])
            if not gold:
                continue
            response = self.pipeline_.predict(request_from_row(record))
            parts = {p: part_correct(p, g, response.results, response.answer) for p, g in gold.items()
                     if _ran(p, response)}
            if parts:
                outcomes.append({"parts": parts, "overall": response.confidence.overall, "review": response.needs_review})
        if not outcomes:
            raise InputError("hybrid.evaluate: no labelled part ran; are the champions trained (`make demo`)?")
        self._outcomes_key, self._outcomes_cache = key, outcomes
        return outcomes

    def save(self, path: Path) -> None:
        shutil.copytree(self.folder_, path)

    @classmethod
    def load(cls, path: Path) -> Self:
        model = cls(_saved_settings(Path(path)))
        model._open(Path(path))
        return model


class PipelineModel(mlflow.pyfunc.PythonModel):
    """The pyfunc face of ``PipelineCapability``: a table of requests in, the flat responses out."""

    capability: PipelineCapability

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self.capability = PipelineCapability.load(Path(context.artifacts[ARTIFACT_KEY]) / "model")

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:  # noqa: ANN001
        return self.capability.predict(model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input))


def register_pipeline(settings: HybridSettings, n_tickets: int = 40, register: bool = True):
    """Assemble today's champions into a new version of ``hybrid``, evaluate it end to end on fresh
    labelled requests and promote it unless it is worse than the champion on the same requests."""
    from training.datasets import DatasetSplits
    from training.pipeline import train_capability

    test = evaluation_requests(settings, n_tickets=n_tickets)
    splits = DatasetSplits(train=test.iloc[:0], test=test, description={
        "train_path": "the champions named by the alias", "test_path": f"{len(test)} generated requests (seed {EVALUATION_SEED})",
        "train_rows": "0", "test_rows": str(len(test))})
    capability = PipelineCapability(settings, seed=settings.training.seed)
    try:
        return train_capability(capability, splits, settings, register=register, python_model=PIPELINE_ENTRY)
    finally:  # the assembled copy is in the model's artifacts now
        if hasattr(capability, "folder_"):
            shutil.rmtree(capability.folder_, ignore_errors=True)


def evaluation_requests(settings: HybridSettings, n_tickets: int = 40, seed: int = EVALUATION_SEED) -> pd.DataFrame:
    """Labelled request rows for ``evaluate``: fresh noisy tickets and as many unanswerable questions (up to
    30; the confidence harvest's generator, another seed), after one series request that exercises the ML
    series path (its parts carry no gold, so they are not scored)."""
    series_json = json.dumps([sample_series(settings, points=60)])
    rows = [{"text": "", "series": series_json, "tasks": '["anomaly", "forecast"]', "horizon": "7", "gold": "{}"}]
    labelled = sample_requests(settings, n_tickets=n_tickets, seed=seed, unanswerable=UNANSWERABLE[:n_tickets])
    rows += [_row(request) for request in labelled]
    frame = pd.DataFrame(rows)
    frame["collection"], frame["tenant"] = "kb", "default"
    return pd.concat([request_frame(frame), frame[["gold"]]], axis=1)


def _row(labelled: LabelledRequest) -> dict[str, Any]:
    request: PredictRequest = labelled.request
    gold = {p: sorted(g) if isinstance(g, set) else g for p, g in labelled.gold.items()}
    return {"text": request.text, "tasks": json.dumps(request.tasks),
            "gold": json.dumps(gold, default=list)}


def _saved_settings(folder: Path) -> HybridSettings:
    """The settings the pipeline was assembled with, searching the collections copied beside them."""
    saved = json.loads((folder / _SETTINGS).read_text())
    saved["rag"]["collections_dir"] = str(folder / "collections")
    return HybridSettings(**saved)


def _ran(part: str, response: PredictResponse) -> bool:
    """Whether ``part`` answered (a part without its champion is degraded, not wrong)."""
    return response.answer is not None if part == "answer" else getattr(response.results, part, None) is not None


def _gold(cell: Any) -> dict[str, Any]:
    """The JSON gold back in the shapes ``part_correct`` compares: NER spans and answer doc ids as sets."""
    gold = json.loads(cell) if isinstance(cell, str) and cell.strip() else (cell or {})
    if "ner" in gold:
        gold["ner"] = {tuple(span) for span in gold["ner"]}
    if gold.get("answer") is not None and "answer" in gold:
        gold["answer"] = set(gold["answer"])
    return gold
