"""Champions: the registry champions one process has loaded, each pinned to the version its alias named.

    champions = Champions.from_registry(["intent", "ner"], skip_missing=True)
    champions.predict("intent", pd.DataFrame({"text": ["my card has not arrived"]}))
    "ner" in champions, champions.loaded["intent"].version

Loading is the heavy step, so it happens here once, in one visible place; the hybrid pipeline, the
service, batch scoring and the benchmarks are handed this object.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Self

import mlflow.pyfunc
import pandas as pd

from fusion.schemas import LoadedModel
from models.base import Capability
from models.settings import HybridSettings, get_settings
from models.registry import NoChampionError, champion_version, connect_store, load_pyfunc


class Champions:
    def __init__(self, models: dict[str, mlflow.pyfunc.PyFuncModel], loaded: dict[str, LoadedModel],
                 failed: dict[str, str] | None = None) -> None:
        self.models = models
        self.loaded = loaded
        #: capability -> why its champion could not be loaded (only with ``skip_missing``)
        self.failed = failed or {}

    @classmethod
    def from_registry(
        cls, capabilities: list[str], settings: HybridSettings | None = None, skip_missing: bool = False
    ) -> Self:
        """Load the champion of each capability, pinned to the version the alias points at now.

        With ``skip_missing``, capabilities without a champion are left out instead of failing, and so is
        one whose champion fails to load (an artifact from an incompatible version, a missing file): the
        rest still serve, and ``failed`` says what went wrong and how to fix it.
        """
        settings = settings or get_settings()
        client = connect_store(settings)
        alias = settings.mlflow.champion_alias
        models, loaded, failed = {}, {}, {}
        for name in capabilities:
            version = champion_version(client, name, alias)
            if version is None and skip_missing:
                continue
            if version is None:
                raise NoChampionError(
                    f"no {alias!r} model for {name!r} in {settings.tracking_uri}. "
                    f"Train one first: `hybrid train {name}` (or `make demo`)."
                )
            try:
                models[name] = load_pyfunc(f"models:/{name}/{version.version}")
            except Exception as error:  # noqa: BLE001 - whatever broke inside the artifact, the others still load
                if not skip_missing:
                    raise
                failed[name] = (f"version {version.version} failed to load ({type(error).__name__}: {error}); "
                                f"retrain it: `hybrid train {name.replace('_', '-')}`")
                warnings.warn(f"champion {name!r}: {failed[name]}", RuntimeWarning, stacklevel=2)
                continue
            loaded[name] = LoadedModel(capability=name, version=int(version.version), alias=alias, run_id=version.run_id)
        return cls(models, loaded, failed)

    @classmethod
    def from_model_folders(cls, folders: dict[str, Path], pinned: dict[str, LoadedModel]) -> Self:
        """Load MLflow model folders already on disk (a registered pipeline carries its champions' copies):
        no registry look-up, so this works in a fresh process or on a Spark executor."""
        return cls({name: mlflow.pyfunc.load_model(str(folder)) for name, folder in folders.items()},
                   {name: pinned[name] for name in folders})

    def input_columns(self, capability: str) -> list[str]:
        return self._model(capability).metadata.get_input_schema().input_names()

    def predict(self, capability: str, batch: pd.DataFrame) -> pd.DataFrame:
        """One capability's predictions for ``batch`` (same index)."""
        model = self._model(capability)
        return model.predict(batch[self.input_columns(capability)])

    def __contains__(self, capability: str) -> bool:
        return capability in self.models

    def why_missing(self, name: str) -> str:
        """Why ``name`` is not loaded, and what to run: its champion failed to load, or it has none."""
        if name in self.failed:
            return f"champion {self.failed[name]}"
        return f"no champion model; run `hybrid train {name.replace('_', '-')}`"

    def get(self, name: str) -> Capability | None:
        """The capability object of a loaded champion, or None when it is not loaded."""
        return self.capability(name) if name in self.models else None

    def capability(self, name: str) -> Capability:
        """The capability object inside a loaded model, for what goes beyond ``predict`` (e.g. a chosen horizon)."""
        return self._model(name).unwrap_python_model().capability

    def run(self, batch: pd.DataFrame) -> pd.DataFrame:
        """Every loaded capability over ``batch``; columns prefixed by capability name."""
        parts = [self.predict(name, batch).add_prefix(f"{name}_") for name in self.models]
        return pd.concat(parts, axis=1) if parts else pd.DataFrame(index=batch.index)

    def _model(self, capability: str) -> mlflow.pyfunc.PyFuncModel:
        if capability not in self.models:
            raise NoChampionError(
                f"no {capability!r} model is loaded (loaded: {sorted(self.models)}): "
                f"run `hybrid train {capability}`, then restart the service"
            )
        return self.models[capability]
