"""A catalogue of hand-written bad requests against the real server, for every endpoint: each is a 4xx
whose message names the field, never a 5xx, and the server keeps serving afterwards."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import httpx
import pytest

pytestmark = pytest.mark.integration

LONG = "x" * 10_001  # one past [serve].max_text_chars


def _series(n: int = 30, **override) -> dict:
    start = datetime(2024, 1, 1)
    body = {"series_id": "s", "timestamps": [(start + timedelta(minutes=i)).isoformat() for i in range(n)],
            "values": [float(i % 5) for i in range(n)]}
    return {**body, **override}


def _nested(depth: int) -> str:
    return '{"text": "hi", "features": ' + '{"a": ' * depth + "1" + "}" * depth + "}"


# (route, raw JSON body or bytes, the field the message must name)
CATALOGUE = [
    # empty bodies and the wrong top-level type
    *[(route, b"", None) for route in ("/predict", "/classify", "/sentiment", "/ner", "/anomaly", "/forecast",
                                        "/search", "/ask", "/ask/stream", "/route")],
    ("/predict", "[]", None),
    ("/predict", "{}", "text"),
    ("/classify", "null", None),
    # wrong types and nulls
    ("/predict", {"text": 5}, "text"),
    ("/predict", {"text": None, "series": None, "features": None}, "text"),
    ("/predict", {"text": "hi", "tasks": "intent"}, "tasks"),
    ("/predict", {"text": "hi", "horizon": "soon"}, "horizon"),
    ("/predict", {"text": "hi", "collection": None}, "collection"),
    ("/classify", {"texts": [None]}, "texts"),
    ("/classify", {"texts": {"a": "b"}}, "texts"),
    ("/sentiment", {"texts": None}, "texts"),
    ("/ner", {"texts": [["nested"]]}, "texts"),
    ("/search", {"query": 3}, "query"),
    ("/search", {"query": "card", "k": "ten"}, "k"),
    ("/ask", {"question": ["a"]}, "question"),
    ("/ask", {"question": "hi", "use_cache": "maybe"}, "use_cache"),
    ("/route", {"question": None}, "question"),
    ("/anomaly", {"series": "x"}, "series"),
    ("/forecast", {"series": [_series()], "horizon": -1}, "horizon"),
    ("/forecast", {"series": [_series()], "horizon": 10 ** 9}, "horizon"),
    # past the limits
    ("/predict", {"text": LONG}, "text"),
    ("/predict", {"text": "hi", "question": LONG}, "question"),
    ("/classify", {"texts": [LONG]}, "texts"),
    ("/classify", {"texts": ["x"] * 1001}, "texts"),
    ("/search", {"query": LONG}, "query"),
    ("/ask", {"question": LONG}, "question"),
    ("/anomaly", {"series": [_series()] * 101}, "series"),
    ("/predict", {"series": [_series()] * 101, "tasks": ["anomaly"]}, "series"),
    ("/anomaly", {"series": [_series(100_001)]}, "series"),
    ("/predict", {"features": {f"f{i}": i for i in range(1001)}, "tasks": ["tabular_anomaly"]}, "features"),
    # NaN and infinity (Python's JSON writes them as bare literals)
    ("/anomaly", {"series": [_series(values=[float("nan")] * 30)]}, "values"),
    ("/forecast", {"series": [_series(values=[float("inf")] * 30)]}, "values"),
    ("/predict", {"series": [_series(values=[float("-inf")] * 30)], "tasks": ["anomaly"]}, "values"),
    ("/predict", {"features": {"amount": float("nan")}, "tasks": ["tabular_anomaly"]}, "amount"),
    # series that are not series
    ("/anomaly", {"series": [_series(timestamps=["2024-01-02T00:00:00", "2024-01-01T00:00:00"], values=[1.0, 2.0])]},
     "timestamps"),
    ("/forecast", {"series": [_series(timestamps=["2024-01-01T00:00:00"] * 2, values=[1.0, 2.0])]}, "timestamps"),
    ("/anomaly", {"series": [_series(values=[1.0])]}, "values"),
    ("/anomaly", {"series": [_series(timestamps=["yesterday"], values=[1.0])]}, "timestamps"),
    # unknown tasks, modes, capabilities and fields
    ("/predict", {"text": "hi", "tasks": ["fly"]}, "tasks"),
    ("/predict", {"text": "hi", "tasks": []}, "tasks"),
    ("/predict", {"text": "hi", "colour": "red"}, "colour"),
    ("/search", {"query": "card", "mode": "semantic"}, "mode"),
    ("/ask", {"question": "hi", "tier": "../../etc"}, "tier"),
    ("/ask", {"question": "hi", "collection": "no such"}, "collection"),
    # not JSON, and not UTF-8
    ("/predict", b'{"text": "unterminated', None),
    ("/classify", b'{"texts": ["\xff\xfe broken"]}', None),
    ("/predict", b"\x00\x01\x02", None),
    # deeply nested JSON
    ("/predict", _nested(10_000), None),
]


def _send(server, route: str, body) -> httpx.Response:
    if isinstance(body, (dict, list)):
        content = json.dumps(body).encode()  # allow_nan: NaN and Infinity go out as the literals
    else:
        content = body.encode() if isinstance(body, str) else body
    return httpx.post(f"{server.url}{route}", content=content, headers={"content-type": "application/json"},
                      timeout=60)


@pytest.mark.parametrize("route, body, field", CATALOGUE,
                         ids=[f"{i}{route}" for i, (route, _, _) in enumerate(CATALOGUE)])
def test_a_bad_request_is_a_4xx_naming_the_field(server, route: str, body, field: str | None) -> None:
    response = _send(server, route, body)
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    payload = response.json()
    assert set(payload) == {"error", "detail"}, payload
    if field:
        assert field in payload["error"], payload["error"]


def test_a_50_mb_body_is_refused_before_it_is_read(server) -> None:
    body = json.dumps({"texts": ["x" * 1000] * 50_000}).encode()  # 50 MB
    response = _send(server, "/classify", body)
    assert response.status_code == 413 and "body" in response.json()["error"]


def test_the_server_keeps_serving_after_the_catalogue(server) -> None:
    for route, body, _ in CATALOGUE[::3]:
        _send(server, route, body)
    assert httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200
    answered = httpx.post(f"{server.url}/classify", json={"texts": ["my card was stolen"]}, timeout=60)
    assert answered.status_code == 200 and answered.json()[0]["label"]
