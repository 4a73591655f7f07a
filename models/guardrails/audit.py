"""An append-only audit log of guardrail interventions, one JSON object per line.

    log = AuditLog(Path("logs/audit.jsonl"))            # the folder is created on first write
    log.record("req-42", guarded_input.events)          # every GuardEvent of one request
    # {"time": "2026-01-05T10:00:00.123+00:00", "request_id": "req-42", "stage": "input",
    #  "kind": "pii", "action": "redacted", "detail": "1 EMAIL"}

Details are written by the guards without raw values; the log scrubs them once more with the PII
patterns, so a detail that quotes user text by mistake still cannot leak an email or card number.
Writes from many threads (a BentoML worker) are serialised by a lock and appended whole.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from models.guardrails.pii import redact


class Event(Protocol):
    stage: str
    kind: str
    action: str
    detail: str


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def record(self, request_id: str, events: Iterable[Event]) -> int:
        """Append one line per event; returns how many were written."""
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        lines = [
            json.dumps({
                "time": now, "request_id": request_id, "stage": e.stage, "kind": e.kind,
                "action": e.action, "detail": redact(e.detail).text,
            }, ensure_ascii=False) + "\n"
            for e in events
        ]
        if not lines:
            return 0
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write("".join(lines))
        return len(lines)

    def read(self) -> list[dict]:
        """Every record so far, oldest first (for tests and reviewers)."""
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line]
