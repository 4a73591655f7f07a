"""One generic MLflow pyfunc that serves any capability from its saved folder.

MLflow, the BentoML service, batch scoring and ``mlflow.pyfunc.spark_udf`` all load every model
the same way: ``mlflow.pyfunc.load_model("models:/<name>@champion")``. The wrapped capability is
reachable with ``loaded.unwrap_python_model().capability`` for evaluation and plots.
"""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import pandas as pd

from models.base import Capability, load_capability

#: the key under which the capability folder is stored in the MLflow model's artifacts
ARTIFACT_KEY = "capability"


class CapabilityModel(mlflow.pyfunc.PythonModel):
    """Wraps a capability saved with ``models.base.save_capability``."""

    capability: Capability

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self.capability = load_capability(Path(context.artifacts[ARTIFACT_KEY]))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:  # noqa: ANN001
        if not isinstance(model_input, pd.DataFrame):
            model_input = pd.DataFrame(model_input)
        return self.capability.predict(model_input)
