"""Shared fixtures: one throwaway MLflow store and one trained intent champion per test session.

The store is a real sqlite MLflow store in a temporary folder, configured through the same
environment variables a user would set, so the suite never touches the project's own mlruns/.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from models.settings import HybridSettings, get_settings

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

os.environ.update(
    MLFLOW_DISABLE_TELEMETRY="true",
    BENTOML_DO_NOT_TRACK="true",
    HF_HUB_OFFLINE="1",
    TRANSFORMERS_OFFLINE="1",
    MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false",
)


def store_env(folder: Path) -> dict[str, str]:
    """The environment that points every tool (CLI, server, notebook kernel) at a store in ``folder``."""
    return {
        "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}",
        "HYBRID_MLFLOW__ARTIFACT_ROOT": str(folder / "artifacts"),
        "HYBRID_DATA__SAMPLE_DIR": str(folder / "sample"),
        "BENTOML_HOME": str(folder / "bentoml"),
        "HYBRID_RAG__COLLECTIONS_DIR": str(folder / "collections"),
    }


class StoreSwitch:
    """Points this process at another store for a while, restoring the previous one after."""

    def __init__(self, folder: Path) -> None:
        self.env = store_env(folder)

    def __enter__(self) -> HybridSettings:
        self._saved = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)
        get_settings.cache_clear()
        return get_settings()

    def __exit__(self, *exc: object) -> None:
        from models.registry import connect_store

        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()
        # MLflow keeps the last store it was pointed at process-wide; point it back.
        connect_store(get_settings())


@pytest.fixture(scope="session")
def session_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("store")
    with StoreSwitch(folder):
        yield folder


@pytest.fixture(scope="session")
def settings(session_store: Path) -> HybridSettings:
    return get_settings()


@pytest.fixture(scope="session")
def tickets(settings: HybridSettings) -> pd.DataFrame:
    """The bundled sample tickets, generated into the session store's sample folder."""
    from training.datasets import sample_data_dir

    return pd.read_json(sample_data_dir(settings) / "tickets.jsonl", lines=True)


@pytest.fixture(scope="session")
def intent_splits(settings: HybridSettings):
    """The sample-data train/test split the pipeline itself makes (columns: text, label)."""
    from models.intent import IntentClassifier
    from training.datasets import load_splits

    return load_splits(IntentClassifier(), settings)


@pytest.fixture(scope="session")
def intent_frames(intent_splits) -> tuple[pd.DataFrame, pd.DataFrame]:
    return intent_splits.train[["text", "label"]], intent_splits.test[["text", "label"]]


@pytest.fixture(scope="session")
def champion(settings: HybridSettings, intent_splits):
    """The intent model (default settings) trained by the real pipeline into the session store, promoted."""
    from models.catalog import build_capability
    from training.pipeline import train_capability

    result = train_capability(build_capability("intent", settings), intent_splits, settings)
    assert result.promoted, result.decision
    return result


@pytest.fixture(scope="session")
def fitted_intent(champion):
    """The champion's capability, loaded back from the registry (one model fit per session)."""
    from models.registry import load_capability_from_uri

    return load_capability_from_uri(champion.model_uri)


def fast_intent_env() -> dict[str, str]:
    """For tests of the command line rather than the model: the TF-IDF member alone trains in seconds."""
    return {"HYBRID_INTENT__MODEL": "logreg"}


def requires_shared(name: str) -> Path:
    """The path of a public dataset under ../shared/data, or skip when a fresh clone has none."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"public dataset {path} is not available (a fresh clone has no ../shared)")
    return path


@pytest.fixture(scope="session")
def ner_champion(settings: HybridSettings):
    """A small NER model (sample tickets, 3 epochs) trained by the real pipeline into the session store."""
    from models.ner import EntityRecognizer
    from training.datasets import load_splits
    from training.pipeline import train_capability

    model = EntityRecognizer(**{**settings.ner.model_dump(), "max_epochs": 3}, seed=settings.training.seed)
    result = train_capability(model, load_splits(model, settings), settings)
    assert result.promoted, result.decision
    return result


def _sample_champion(name: str, settings: HybridSettings):
    """Capability ``name`` (settings' defaults) trained on its sample data by the real pipeline, promoted."""
    from models.catalog import build_capability
    from training.datasets import load_splits
    from training.pipeline import train_capability

    model = build_capability(name, settings)
    result = train_capability(model, load_splits(model, settings), settings)
    assert result.promoted, result.decision
    return result


@pytest.fixture(scope="session")
def anomaly_champion(settings: HybridSettings):
    """The streaming anomaly detector, thresholds tuned on four sample series (one held out)."""
    return _sample_champion("anomaly", settings)


@pytest.fixture(scope="session")
def forecast_champion(settings: HybridSettings):
    """The forecaster, trained on the sample series with the last 48 days of each held out."""
    return _sample_champion("forecast", settings)


@pytest.fixture(scope="session")
def kb_collection(settings: HybridSettings):
    """The sample knowledge base ingested into the collection "kb" of the session store."""
    from models.rag.factory import build_ingestor
    from models.rag.loaders import load_documents
    from training.datasets import sample_data_dir

    documents, skipped = load_documents(sample_data_dir(settings) / "knowledge_base.jsonl")
    assert documents and not skipped
    report = build_ingestor(settings, progress=False).ingest("kb", documents)
    assert report.chunks_total >= len(documents)
    return report


@pytest.fixture(scope="session")
def reranker_champion(settings: HybridSettings, kb_collection):
    """The search reranker, trained on sample tickets against the "kb" collection and promoted."""
    from models.catalog import build_capability
    from models.rag.factory import open_retriever
    from training.pipeline import train_capability
    from training.rerank_data import reranker_splits, sample_labelled_queries

    retriever = open_retriever("kb", settings, load_reranker=False)
    splits = reranker_splits(retriever, sample_labelled_queries(settings), settings)
    result = train_capability(build_capability("reranker", settings), splits, settings)
    assert result.promoted, result.decision
    return result


@pytest.fixture(scope="session")
def server(champion, ner_champion, anomaly_champion, forecast_champion, reranker_champion, kb_collection,
           tmp_path_factory: pytest.TempPathFactory):
    """One real `bentoml serve` on a free port for the session's HTTP tests (tests/test_service.py,
    tests/test_bad_requests.py), over the session's champions and knowledge base."""
    from serving.server import ServiceProcess, free_port

    log_path = tmp_path_factory.mktemp("server") / "server.log"
    with ServiceProcess(port=free_port(), log_path=log_path) as running:
        yield running
