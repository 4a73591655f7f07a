"""What every benchmark records beside its figures, and how it writes them."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path


def machine() -> dict[str, object]:
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}


def write_report(report: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))


def parse_overrides(pairs: list[str]) -> dict[str, object]:
    """``--set key=value`` pairs: values read as JSON when they parse (numbers, lists as tuples), else as text."""
    overrides: dict[str, object] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        overrides[key] = tuple(parsed) if isinstance(parsed, list) else parsed
    return overrides
