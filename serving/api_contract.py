"""Make what the service sends match what ``/docs.json`` promises: one error body, and honest nulls.

BentoML documents every error as ``{"error": str, "detail": str}`` but sends three other shapes: a
validation error as ``{"error": "1 validation error for classify__Input", "detail": [...]}`` (a message
that names no field), an exception raised by the service as ``[{"error": ...}]`` (a list), and a 5xx as
``{"error": ...}``. And it declares OpenAPI 3.0.2 over pydantic's JSON Schema 2020-12, where an optional
field is ``anyOf: [..., {"type": "null"}]``, which 3.0 has no word for, so a client generated from the
schema treats ``null`` as a violation. This ASGI middleware, in front of BentoML:

- refuses a body larger than ``[serve].max_body_mb`` with a 413, before anything reads it into memory;
- rewrites every JSON error body to ``ERROR_SCHEMA``: ``{"error": "<field>: <what is wrong>", "detail":
  [{"loc": [...], "msg": ..., "type": ...}, ...]}`` (``detail`` empty when there is no field to name);
- serves ``/docs.json`` as OpenAPI 3.1.0 (whose schemas are JSON Schema 2020-12, so ``null`` means what
  pydantic meant; the response models BentoML inlines get back the nulls it flattened away), with that
  error schema on every documented error status, 503 included, and ``/ask/stream`` described per event.
"""

from __future__ import annotations

import json
from typing import Any

SPEC_PATH = "/docs.json"
ERROR_STATUSES = {400: "Bad Request: the message names the field", 404: "Not Found: a model, collection or route",
                  413: "Payload Too Large: the body is past [serve].max_body_mb", 500: "Internal Server Error",
                  503: "Service Unavailable: not ready yet, or overloaded"}
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "ErrorResponse",
    "required": ["error", "detail"],
    "properties": {
        "error": {"type": "string", "description": "what is wrong, naming the field where there is one"},
        "detail": {"type": "array", "description": "one entry per invalid field (empty otherwise)",
                   "items": {"type": "object", "properties": {
                       "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                       "msg": {"type": "string"}, "type": {"type": "string"}}}},
    },
}
#: one server-sent event of /ask/stream (its ``data`` is JSON: {"token": ...}, then {"response": ...}, then [DONE])
SSE_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["data"],
    "properties": {"data": {"type": "string", "description": 'JSON {"token": ...} or {"response": ...}, or [DONE]'},
                   "event": {"type": "string"}, "id": {"type": "string"}, "retry": {"type": "integer"}},
}
_BENTOML_ERRORS = ("InvalidArgument", "NotFound", "InternalServerError")


def error_body(payload: Any) -> dict[str, Any]:
    """Any of BentoML's error shapes as ``ERROR_SCHEMA``."""
    if isinstance(payload, list) and len(payload) == 1 and isinstance(payload[0], dict):
        payload = payload[0]  # an exception the service raised: BentoML wraps it in a one-element list
    if not isinstance(payload, dict):
        return {"error": str(payload), "detail": []}
    detail = payload.get("detail")
    if isinstance(detail, list) and detail and all(isinstance(d, dict) for d in detail):
        detail = [{"loc": list(d.get("loc", ())), "msg": str(d.get("msg", "")), "type": str(d.get("type", ""))}
                  for d in detail]
        return {"error": _naming_fields(detail), "detail": detail}
    message = str(payload.get("error") or payload.get("detail") or "error")
    return {"error": message, "detail": []}


def _naming_fields(detail: list[dict[str, Any]]) -> str:
    """``texts.0: String should have at least 1 character`` (and how many more), not "1 validation error"."""
    def one(d: dict[str, Any]) -> str:
        where = ".".join(str(p) for p in d["loc"] if p not in ("body", "root")) or "body"
        return f"{where}: {d['msg']}"

    more = f" (and {len(detail) - 3} more)" if len(detail) > 3 else ""
    return "; ".join(one(d) for d in detail[:3]) + more


def openapi_31(spec: dict[str, Any]) -> dict[str, Any]:
    """BentoML's spec, declared as the OpenAPI version its schemas are written in, with the real error body."""
    spec["openapi"] = "3.1.0"
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for name in _BENTOML_ERRORS:
        schemas.pop(name, None)
    schemas["ErrorResponse"] = ERROR_SCHEMA
    reference = {"$ref": "#/components/schemas/ErrorResponse"}
    _nullable_where_null_is_the_default(spec)
    for item in spec.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            stream = responses.get("200", {}).get("content", {}).get("text/event-stream")
            if stream is not None:
                stream["schema"] = SSE_EVENT_SCHEMA
            for status, description in ERROR_STATUSES.items():
                responses[str(status)] = {"description": description,
                                          "content": {"application/json": {"schema": reference}}}
    return spec


def _nullable_where_null_is_the_default(node: Any) -> None:
    """BentoML inlines each response model with ``X | None = None`` flattened to ``{"type": X, "default":
    null}``, a schema that refuses the null the service sends; give such a property back its null."""
    if isinstance(node, list):
        for item in node:
            _nullable_where_null_is_the_default(item)
        return
    if not isinstance(node, dict):
        return
    for name, prop in (node.get("properties") or {}).items():
        if isinstance(prop, dict) and "default" in prop and prop["default"] is None and "anyOf" not in prop \
                and prop.get("type") != "null":
            kept = {k: v for k, v in prop.items() if k in ("title", "description", "default")}
            shape = {k: v for k, v in prop.items() if k not in kept}
            node["properties"][name] = {"anyOf": [shape, {"type": "null"}], **kept}
    for value in node.values():
        _nullable_where_null_is_the_default(value)


class ApiContract:
    """The ASGI middleware: a body past ``max_body_bytes`` refused with a 413 before anything parses it, error
    bodies rewritten as they leave, the spec rewritten when it is asked for."""

    def __init__(self, app: Any, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await _send_json(send, 413, {"error": f"body: {int(declared):,} bytes is more than the "
                                                  f"{self.max_body_bytes:,} this service takes ([serve].max_body_mb); "
                                                  "split the request", "detail": []})
            return
        if declared is None and scope.get("method") in ("POST", "PUT", "PATCH"):
            receive = await self._bounded(receive, send)  # a chunked body: read it, up to the limit
            if receive is None:
                return
        is_spec = scope.get("path") == SPEC_PATH and scope.get("method") == "GET"
        held: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def rewriting_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers") or [])
                json_body = headers.get(b"content-type", b"").startswith(b"application/json")
                if json_body and (is_spec or message["status"] >= 400):
                    held["start"] = message
                    return
                await send(message)
                return
            if "start" not in held:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            await self._send_rewritten(send, held["start"], b"".join(chunks), is_spec)

        await self.app(scope, receive, rewriting_send)

    async def _bounded(self, receive: Any, send: Any) -> Any:
        """The whole body of a request that did not say its length, or None (and a 413 sent) past the limit."""
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            size += len(message.get("body", b""))
            if size > self.max_body_bytes:
                await _send_json(send, 413, {"error": f"body: more than the {self.max_body_bytes:,} bytes this "
                                                      "service takes ([serve].max_body_mb); split the request",
                                             "detail": []})
                return None
            if message["type"] != "http.request" or not message.get("more_body"):
                break

        async def replay() -> dict:
            return messages.pop(0) if messages else await receive()

        return replay

    @staticmethod
    async def _send_rewritten(send: Any, start: dict, body: bytes, is_spec: bool) -> None:
        try:
            payload = json.loads(body)
            body = json.dumps(openapi_31(payload) if is_spec else error_body(payload), ensure_ascii=False).encode()
        except (ValueError, TypeError, AttributeError):
            pass  # not the JSON it claims to be: passed on untouched
        headers = [(k, v) for k, v in start.get("headers") or [] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _send_json(send: Any, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
