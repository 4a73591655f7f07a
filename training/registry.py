"""Writing to the model registry: the training experiment, and the champion/challenger gate.

Reading it (finding and loading a champion) is models/registry.py.

The gate is fair by construction: the current champion is re-evaluated on the *same* held-out
test set as the challenger, and the challenger is promoted only if it scores strictly higher on
the capability's primary metric. Comparing numbers logged on different test sets would not be.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient

from models.base import Capability
from models.registry import champion_version, connect_store, load_capability_from_uri
from models.settings import HybridSettings

log = logging.getLogger(__name__)


def configure_mlflow(settings: HybridSettings) -> MlflowClient:
    """Connect to the store and make sure the training experiment exists."""
    client = connect_store(settings)
    name, uri = settings.mlflow.experiment, settings.tracking_uri
    if mlflow.get_experiment_by_name(name) is None:
        # A remote tracking server decides where artifacts go; a local store keeps them in mlruns/.
        local = not uri.startswith(("http://", "https://", "databricks"))
        location = settings.mlflow.artifact_root.resolve().as_uri() if local else None
        mlflow.create_experiment(name, artifact_location=location)
    mlflow.set_experiment(name)
    return client


@dataclass(frozen=True)
class PromotionDecision:
    promoted: bool
    reason: str
    champion_version: int | None = None
    champion_score: float | None = None


def promote_if_better(
    client: MlflowClient,
    capability: Capability,
    version: int,
    challenger_score: float,
    test: pd.DataFrame,
    settings: HybridSettings,
) -> PromotionDecision:
    """Move the champion alias to ``version`` only if it beats the current champion on ``test``."""
    name, alias, metric = capability.name, settings.mlflow.champion_alias, capability.primary_metric
    current = champion_version(client, name, alias)
    if current is None:
        decision = PromotionDecision(True, f"first champion of {name!r}")
    else:
        try:
            champion_score = load_capability_from_uri(f"models:/{name}/{current.version}").evaluate(test)[metric]
        except Exception as error:  # an old champion that cannot score this data must not block the report
            log.warning("champion v%s could not be evaluated on this test set: %s", current.version, error)
            decision = PromotionDecision(
                False,
                f"kept champion v{current.version}: it could not be evaluated on this test set ({error}); "
                f"promote by hand with `hybrid promote {name} {version}` if intended",
                int(current.version),
            )
        else:
            higher_is_better = getattr(capability, "higher_is_better", True)
            margin = challenger_score - champion_score if higher_is_better else champion_score - challenger_score
            # a composition of champions is promoted when it is not worse; a model must beat the champion
            better = margin >= 0 if getattr(capability, "promote_on_tie", False) else margin > 0
            verdict = "promoted to champion" if better else f"stays a challenger; champion is still v{current.version}"
            decision = PromotionDecision(
                better,
                f"{verdict}: {metric} {challenger_score:.4f} vs champion v{current.version} {champion_score:.4f} "
                "on the same test set",
                int(current.version),
                float(champion_score),
            )
    if decision.promoted:
        _move_alias(client, name, alias, version)
    else:
        client.set_model_version_tag(name, str(version), "role", "challenger")
    client.set_model_version_tag(name, str(version), "gate", decision.reason)
    return decision


def promote(client: MlflowClient, name: str, version: int, settings: HybridSettings) -> None:
    """Make ``version`` the champion unconditionally (a human decision, e.g. a rollback)."""
    client.get_model_version(name, str(version))  # fails clearly if it does not exist
    _move_alias(client, name, settings.mlflow.champion_alias, version)


def _move_alias(client: MlflowClient, name: str, alias: str, version: int) -> None:
    """Point ``alias`` at ``version``; the version it leaves is tagged as a former holder, so no two
    versions claim the role."""
    previous = champion_version(client, name, alias)
    client.set_registered_model_alias(name, alias, str(version))
    if previous is not None and int(previous.version) != int(version):
        client.set_model_version_tag(name, str(previous.version), "role", f"former {alias}")
    client.set_model_version_tag(name, str(version), "role", alias)
