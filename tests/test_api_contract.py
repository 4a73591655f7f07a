"""The error body and the OpenAPI document the service promises (serving/api_contract.py), without a server;
tests/test_service.py checks the same against a running one, and fuzzes it from its own schema."""

from __future__ import annotations

import copy

from serving.api_contract import ERROR_SCHEMA, error_body, openapi_31

VALIDATION = {  # what BentoML sends for a pydantic error
    "error": "2 validation errors for classify__Input",
    "detail": [{"type": "string_too_short", "loc": ["texts", 0], "msg": "String should have at least 1 character"},
               {"type": "missing", "loc": ["body", "horizon"], "msg": "Field required"}],
}


def test_a_validation_error_names_its_fields() -> None:
    body = error_body(VALIDATION)
    assert body["error"] == "texts.0: String should have at least 1 character; horizon: Field required"
    assert [d["loc"] for d in body["detail"]] == [["texts", 0], ["body", "horizon"]]


def test_many_validation_errors_say_how_many_more() -> None:
    detail = [{"type": "missing", "loc": [f"f{i}"], "msg": "Field required"} for i in range(5)]
    assert error_body({"error": "5 validation errors", "detail": detail})["error"].endswith("(and 2 more)")


def test_every_bentoml_error_shape_becomes_one_body() -> None:
    assert error_body([{"error": "no 'champion' model for 'sentiment'"}]) == \
        {"error": "no 'champion' model for 'sentiment'", "detail": []}  # a raised BadInput / NotFound
    assert error_body({"error": "An unexpected error has occurred"}) == \
        {"error": "An unexpected error has occurred", "detail": []}  # a 5xx
    assert error_body({"detail": "Not Found"}) == {"error": "Not Found", "detail": []}  # starlette's own
    assert error_body("overloaded") == {"error": "overloaded", "detail": []}


def test_the_spec_is_31_with_the_real_error_body_on_every_operation() -> None:
    spec = {"openapi": "3.0.2", "paths": {
        "/classify": {"post": {"responses": {"200": {"description": "ok"}, "400": {"description": "old"}}}},
        "/readyz": {"get": {"responses": {"200": {"description": "ok"}}}}},
        "components": {"schemas": {"InvalidArgument": {"type": "object"}, "IntentPrediction": {"type": "object"}}}}
    fixed = openapi_31(copy.deepcopy(spec))
    assert fixed["openapi"] == "3.1.0"
    schemas = fixed["components"]["schemas"]
    assert "InvalidArgument" not in schemas and schemas["ErrorResponse"] == ERROR_SCHEMA
    assert "IntentPrediction" in schemas
    for item in fixed["paths"].values():
        responses = item[next(iter(item))]["responses"]
        assert responses["200"] == {"description": "ok"}
        for status in ("400", "404", "413", "500", "503"):
            assert responses[status]["content"]["application/json"]["schema"] == \
                {"$ref": "#/components/schemas/ErrorResponse"}


def test_inlined_response_models_get_back_their_nulls_and_the_stream_is_described_per_event() -> None:
    flattened = {"type": "object", "properties": {
        "model": {"type": "string", "default": None, "title": "Model"},        # BentoML's flattening of str | None
        "tier": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},  # already right
        "answer": {"type": "string", "title": "Answer"},                        # required: left alone
        "k": {"type": "integer", "default": 10}}}
    spec = {"openapi": "3.0.2", "paths": {
        "/ask": {"post": {"responses": {"200": {"content": {"application/json": {"schema": flattened}}}}}},
        "/ask/stream": {"post": {"responses": {"200": {"content": {"text/event-stream": {"schema": {"type": "string"}}}}}}}}}
    fixed = openapi_31(spec)
    properties = fixed["paths"]["/ask"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]["properties"]
    assert properties["model"] == {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None, "title": "Model"}
    assert properties["tier"] == {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}
    assert properties["answer"] == {"type": "string", "title": "Answer"} and properties["k"]["type"] == "integer"
    event = fixed["paths"]["/ask/stream"]["post"]["responses"]["200"]["content"]["text/event-stream"]["schema"]
    assert event["required"] == ["data"] and event["properties"]["data"]["type"] == "string"
