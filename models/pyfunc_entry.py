"""MLflow "models from code" entry point: logged as the model's code instead of a pickle.

MLflow runs this file when it loads the model; the capability itself comes from the model's
artifacts (see models/pyfunc.py).
"""

from mlflow.models import set_model

from models.pyfunc import CapabilityModel

set_model(CapabilityModel())
