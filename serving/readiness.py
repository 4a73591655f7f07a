"""``GET /readyz`` that says what is ready: an ASGI middleware in front of BentoML's own probe.

BentoML's ``/readyz`` answers 200 with an empty body once the service is up; a caller (or an
operator behind a load balancer) also wants to know which capabilities this worker loaded, which
champions failed to load and why, and which search collections exist. The service publishes that
at the end of its ``__init__``; until then the request falls through to BentoML's probe (503).
"""

from __future__ import annotations

import json
from typing import Any

PATH = "/readyz"


class Readiness:
    """What one worker process has ready; set once the service has loaded everything."""

    def __init__(self) -> None:
        self.report: dict[str, Any] | None = None


class ReadinessReport:
    def __init__(self, app: Any, readiness: Readiness) -> None:
        self.app = app
        self.readiness = readiness

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        report = self.readiness.report
        if scope["type"] != "http" or scope.get("path") != PATH or scope.get("method") != "GET" or report is None:
            await self.app(scope, receive, send)
            return
        body = json.dumps({"ready": True, **report}).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
