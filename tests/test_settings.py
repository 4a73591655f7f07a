"""Settings: TOML file, HYBRID_* overrides, MLFLOW_TRACKING_URI precedence, validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from models.settings import HybridSettings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No HYBRID_*/MLflow variables from the session, and a TOML file of our own."""
    import os

    for key in list(os.environ):
        if key.startswith("HYBRID_") or key == "MLFLOW_TRACKING_URI":
            monkeypatch.delenv(key)
    config = tmp_path / "hybrid.toml"
    monkeypatch.setenv("HYBRID_CONFIG", str(config))
    return config


def test_defaults_follow_the_design(clean_env: Path) -> None:
    settings = HybridSettings()
    assert settings.tracking_uri == "sqlite:///mlruns/mlflow.db"
    assert settings.mlflow.artifact_root == Path("mlruns/artifacts")
    assert settings.mlflow.champion_alias == "champion"
    assert settings.intent.model == "ensemble"


def test_toml_file_is_read(clean_env: Path) -> None:
    clean_env.write_text('[intent]\nmodel = "lightgbm"\nC = 3.5\n[serve]\nport = 4100\n')
    settings = HybridSettings()
    assert settings.intent.model == "lightgbm"
    assert settings.intent.C == 3.5
    assert settings.serve.port == 4100


def test_environment_beats_toml(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clean_env.write_text("[serve]\nport = 4100\n")
    monkeypatch.setenv("HYBRID_SERVE__PORT", "4200")
    monkeypatch.setenv("HYBRID_INTENT__MODEL", "lightgbm")
    settings = HybridSettings()
    assert settings.serve.port == 4200
    assert settings.intent.model == "lightgbm"


def test_standard_mlflow_variable_wins(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clean_env.write_text('[mlflow]\ntracking_uri = "sqlite:///elsewhere.db"\n')
    assert HybridSettings().tracking_uri == "sqlite:///elsewhere.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking.internal:5000")
    assert HybridSettings().tracking_uri == "http://tracking.internal:5000"


def test_typo_in_toml_is_an_error_naming_the_key(clean_env: Path) -> None:
    clean_env.write_text("[intent]\nmodle = \"logreg\"\n")
    with pytest.raises(ValidationError, match="modle"):
        HybridSettings()


@pytest.mark.parametrize("key, value", [("HYBRID_SERVE__PORT", "70000"), ("HYBRID_INTENT__MODEL", "bert"), ("HYBRID_TRAINING__TEST_SIZE", "1.5")])
def test_invalid_values_are_rejected(clean_env: Path, monkeypatch: pytest.MonkeyPatch, key: str, value: str) -> None:
    monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError):
        HybridSettings()


def test_shipped_hybrid_toml_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYBRID_CONFIG", str(Path(__file__).resolve().parents[1] / "hybrid.toml"))
    settings = HybridSettings()
    assert settings.serve.port == 3000


# Intent and sentiment share TextClassifier's constructor; their sections set what differs between them.
SHARED_CONSTRUCTOR_OVERRIDES = {("intent", "max_in_scope_rejection"), ("sentiment", "model")}


def test_settings_sections_match_the_constructors_defaults(clean_env: Path) -> None:
    """`hybrid train X` and `X()` in a notebook must build the same model."""
    import inspect

    from models.catalog import CAPABILITIES, SHARED, capability_class

    settings = HybridSettings()
    for name in CAPABILITIES:
        parameters = inspect.signature(capability_class(name).__init__).parameters
        for key, value in getattr(settings, name).model_dump().items():
            if (name, key) in SHARED_CONSTRUCTOR_OVERRIDES:
                continue
            assert key in parameters, f"[{name}] {key} is not a constructor parameter"
            default = parameters[key].default
            assert (list(value) == list(default)) if isinstance(value, tuple | list) else value == default, (name, key)
        section, fields = SHARED.get(name, ("", ()))
        for key in fields:
            assert list(getattr(getattr(settings, section), key)) == list(parameters[key].default), (name, section, key)
