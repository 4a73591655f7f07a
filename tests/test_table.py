"""The pipeline's table view: request rows in (every engine reads them the same way), flat responses out."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from fusion.table import RESPONSE_COLUMNS, request_frame, request_from_row, score_table
from models.base import InputError


def test_a_row_becomes_a_request_with_json_cells_parsed() -> None:
    series = [{"series_id": "s", "timestamps": ["2024-01-01", "2024-01-02"], "values": [1, 2]}]
    request = request_from_row({"text": "why the dip?", "series": json.dumps(series), "tasks": "anomaly, answer",
                                "features": '{"amount": 12.5, "country": "FR"}', "horizon": "7.0", "question": float("nan")})
    assert request.tasks == ["anomaly", "answer"] and request.horizon == 7 and request.question is None
    assert request.series[0].values == [1.0, 2.0] and request.features == {"amount": 12.5, "country": "FR"}
    assert request_from_row({"text": "hi", "tasks": '["intent"]'}).tasks == ["intent"]


@pytest.mark.parametrize(("row", "field"), [
    ({"text": ""}, "text, series, features"),
    ({"text": "hi", "features": "{not json"}, "features: not JSON"),
    ({"text": "hi", "tasks": "translate"}, "tasks"),
    ({"text": "hi", "horizon": "soon"}, "horizon"),
    ({"series": '[{"timestamps": ["2024-01-01"], "values": [1, 2]}]'}, "series"),
])
def test_a_bad_row_is_an_input_error_naming_the_field(row: dict, field: str) -> None:
    with pytest.raises(InputError, match=field):
        request_from_row(row)


def test_request_frame_fills_missing_columns_and_keeps_numbers_as_text() -> None:
    frame = pd.DataFrame({"message": ["a", None], "horizon": [12.0, np.nan], "tasks": [["intent", "ner"], None]})
    requests = request_frame(frame, text_col="message")
    assert list(requests.index) == [0, 1] and requests.loc[0, "text"] == "a" and requests.loc[1, "text"] == ""
    assert requests.loc[0, "horizon"] == "12" and requests.loc[1, "horizon"] == ""
    assert json.loads(requests.loc[0, "tasks"]) == ["intent", "ner"] and requests.loc[0, "series"] == ""
    with pytest.raises(InputError, match="--text-col"):
        request_frame(frame, text_col="body")


def test_score_table_marks_a_failing_row_and_goes_on() -> None:
    seen = []

    def predict(request):
        seen.append(request.text)
        raise InputError("series: too short to forecast")  # what the pipeline raises for a bad request

    frame = pd.DataFrame({"text": ["ok", ""], "tasks": ['["intent"]', ""]}, index=[5, 9])
    table = score_table(frame, predict)
    assert list(table.columns) == list(RESPONSE_COLUMNS) and list(table.index) == [5, 9]
    assert seen == ["ok"]  # the empty row never reached the pipeline
    assert table.loc[5, "error"] == "series: too short to forecast" and "text, series, features" in table.loc[9, "error"]
    assert table["route_path"].isna().all() and str(table["confidence_overall"].dtype) == "Float64"
