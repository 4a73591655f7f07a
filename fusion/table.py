"""The pipeline as a table: one ``PredictRequest`` per input row, one flat row per ``PredictResponse``.

Batch scoring (pandas and Spark) and the registered pipeline model (``models:/hybrid@champion``) read and
write these columns, so every engine gives the same table:

    requests:  text, question, series (JSON), features (JSON object), tasks (JSON list or "a,b"),
               collection, tenant, horizon -- every one optional but at least one of text/series/features
    responses: RESPONSE_COLUMNS -- route, each capability's label/confidence and its own fields, the answer,
               overall confidence, review, what degraded, and ``error`` for a row that could not be scored

Values with structure (lists, entities, series results) are JSON strings, so a CSV, a Parquet file and a
Spark DataFrame hold the same thing. A row that fails validation gets ``error`` naming the field, and the
rest of its columns empty; it never stops the job.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pandas as pd
from pydantic import ValidationError

from fusion.schemas import PredictRequest, PredictResponse
from models.base import InputError

#: the request fields a table may carry; any other column is passed through untouched
REQUEST_COLUMNS = ("text", "question", "series", "features", "tasks", "collection", "tenant", "horizon")
_JSON_FIELDS = ("series", "features", "tasks")

#: column -> type of the flat response (the pyfunc signature and Spark's result schema are built from it)
RESPONSE_COLUMNS: dict[str, str] = {
    "request_id": "string",
    "route_path": "string",
    "route_capabilities": "string",          # JSON list
    "route_forced": "boolean",
    "intent_label": "string",
    "intent_confidence": "double",
    "sentiment_label": "string",
    "sentiment_confidence": "double",
    "ner_entities": "string",                # JSON list of {label, start, end, text, score}
    "ner_confidence": "double",
    "anomaly_timestamps": "string",          # JSON: series_id -> the timestamps that raised an alarm
    "anomaly_count": "double",
    "anomaly_confidence": "double",
    "forecast": "string",                    # JSON list of ForecastResult
    "forecast_confidence": "double",
    "tabular_anomaly_alarm": "boolean",
    "tabular_anomaly_score": "double",
    "tabular_anomaly_confidence": "double",
    "answer": "string",
    "answer_generator": "string",
    "answer_citations": "string",            # JSON list of doc ids
    "answer_tier": "string",
    "answer_confidence": "double",
    "conflicts": "string",                   # JSON list of {kind, detail, resolution}
    "confidence_overall": "double",
    "needs_review": "boolean",
    "review_reasons": "string",              # JSON list
    "degraded": "string",                    # JSON list
    "models": "string",                      # JSON: capability -> registry version
    "error": "string",
}


def request_frame(frame: pd.DataFrame, text_col: str = "text") -> pd.DataFrame:
    """The request columns of ``frame`` in the registered model's input types: ``text`` from ``text_col``,
    structured cells as JSON strings, numbers as text (a bad one is reported by its row, not lost), a missing
    column or cell as ""."""
    if text_col != "text" and text_col not in frame.columns:
        raise InputError(f"--text-col: the input has no column {text_col!r} (columns: {list(frame.columns)})")
    if not any(c in frame.columns for c in (text_col, "series", "features")):
        raise InputError(f"the input needs a {text_col!r}, 'series' or 'features' column (columns: {list(frame.columns)})")
    out = pd.DataFrame(index=frame.index)
    for name in REQUEST_COLUMNS:
        source = text_col if name == "text" else name
        column = frame[source] if source in frame.columns else pd.Series([None] * len(frame), index=frame.index)
        out[name] = [_cell_text(v) for v in column]
    return out


def _cell_text(value: Any) -> str:
    if hasattr(value, "tolist"):
        value = value.tolist()
    if _empty(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 12.0 from a numeric column with gaps
    return value if isinstance(value, str) else _json(value)


def request_from_row(row: dict[str, Any]) -> PredictRequest:
    """One table row as a request; JSON columns parsed, empty cells (None, NaN, "") left out.

    Raises ``InputError`` naming the column when a value is not what the field takes."""
    given = {}
    for name in REQUEST_COLUMNS:
        value = row.get(name)
        if hasattr(value, "tolist"):  # a Parquet list column arrives as a numpy array
            value = value.tolist()
        if _empty(value):
            continue
        if name in _JSON_FIELDS and isinstance(value, str):
            value = _parse_json_cell(name, value)
        if name == "horizon":
            value = _whole_number(value)
        given[name] = value
    try:
        return PredictRequest(**given)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "request"
        raise InputError(f"{where}: {first['msg'].removeprefix('Value error, ')}") from None


def flatten(response: PredictResponse) -> dict[str, Any]:
    """The response as one row of ``RESPONSE_COLUMNS``."""
    results, parts = response.results, response.confidence.parts
    row: dict[str, Any] = dict.fromkeys(RESPONSE_COLUMNS)
    row.update(
        request_id=response.request_id,
        route_path=response.route.path,
        route_capabilities=_json(response.route.capabilities),
        route_forced=response.route.forced,
        conflicts=_json([c.model_dump() for c in response.conflicts]),
        confidence_overall=response.confidence.overall,
        needs_review=response.needs_review,
        review_reasons=_json(response.review_reasons),
        degraded=_json(response.degraded),
        models=_json(response.models),
    )
    if results.intent is not None:
        row.update(intent_label=results.intent.label, intent_confidence=parts.get("intent"))
    if results.sentiment is not None:
        row.update(sentiment_label=results.sentiment.label, sentiment_confidence=parts.get("sentiment"))
    if results.ner is not None:
        row.update(ner_entities=_json([e.model_dump() for e in results.ner]), ner_confidence=parts.get("ner"))
    if results.anomaly is not None:
        row.update(anomaly_timestamps=_json({a.series_id: [t.isoformat() for t in a.anomalies] for a in results.anomaly}),
                   anomaly_count=float(sum(len(a.anomalies) for a in results.anomaly)),
                   anomaly_confidence=parts.get("anomaly"))
    if results.forecast is not None:
        row.update(forecast=_json([f.model_dump(mode="json") for f in results.forecast]),
                   forecast_confidence=parts.get("forecast"))
    if results.tabular_anomaly is not None:
        row.update(tabular_anomaly_alarm=results.tabular_anomaly.alarm, tabular_anomaly_score=results.tabular_anomaly.score,
                   tabular_anomaly_confidence=parts.get("tabular_anomaly"))
    if response.answer is not None:
        row.update(answer=response.answer.answer, answer_generator=response.answer.generator,
                   answer_citations=_json(list(dict.fromkeys(c.doc_id for c in response.answer.citations))),
                   answer_tier=response.answer.tier, answer_confidence=parts.get("answer"))
    return row


def score_table(frame: pd.DataFrame, predict: Callable[[PredictRequest], PredictResponse]) -> pd.DataFrame:
    """``RESPONSE_COLUMNS`` for every row of ``frame`` (same index); a row that fails gets only ``error``."""
    rows = []
    for record in frame.to_dict(orient="records"):
        try:
            rows.append(flatten(predict(request_from_row(record))))
        except InputError as error:
            rows.append({**dict.fromkeys(RESPONSE_COLUMNS), "error": str(error)})
    return typed(pd.DataFrame(rows, columns=list(RESPONSE_COLUMNS), index=frame.index))


def typed(table: pd.DataFrame) -> pd.DataFrame:
    """Response columns in stable dtypes, whatever rows happened to be in a chunk: pandas' nullable
    string, float and boolean, so chunks concatenate and every file format round-trips them."""
    dtypes = {"string": "string", "double": "Float64", "boolean": "boolean"}
    return table.astype({c: dtypes[t] for c, t in RESPONSE_COLUMNS.items() if c in table.columns})


def _parse_json_cell(name: str, value: str) -> Any:
    text = value.strip()
    if name == "tasks" and not text.startswith("["):  # "intent,ner" reads as well as '["intent", "ner"]'
        return [t.strip() for t in text.split(",") if t.strip()]
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"{name}: not JSON ({error.msg} at character {error.pos}); give a JSON "
                         f"{'object' if name == 'features' else 'list'}") from None


def _whole_number(value: Any) -> Any:
    """A horizon read from a CSV column with gaps arrives as a float (12.0), or as its text ("12.0")."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value  # the request's validation names the field
    return int(number) if number.is_integer() else value


def _empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, str) and not value.strip():
        return True
    return value is pd.NA or value is pd.NaT


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)
