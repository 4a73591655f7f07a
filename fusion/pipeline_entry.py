"""MLflow "models from code" entry point of the registered pipeline (``models:/hybrid@champion``).

MLflow runs this file when it loads the model; the pipeline itself is rebuilt from the model's artifacts
(see fusion/pipeline_model.py).
"""

from mlflow.models import set_model

from fusion.pipeline_model import PipelineModel

set_model(PipelineModel())
