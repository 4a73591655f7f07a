"""A circuit breaker for one LLM tier: stop calling an endpoint that keeps failing, probe it later.

    breaker = CircuitBreaker(failures=3, reset_s=30.0)
    if breaker.allow():                  # False while open; one trial call once reset_s has passed
        try:
            call_the_endpoint()
        except Exception:
            breaker.record_failure()
        else:
            breaker.record_success()

closed --(``failures`` consecutive failures)--> open --(``reset_s`` later)--> half-open: one trial
call is let through; its success closes the circuit, its failure opens it again for ``reset_s``.
The clock is injectable so tests can move time without waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

State = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    def __init__(self, failures: int, reset_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if failures < 1:
            raise ValueError(f"failures must be at least 1, got {failures}")
        self.failures = failures
        self.reset_s = reset_s
        self._clock = clock
        # The service answers requests on several threads; the trial in half-open must go to one of them.
        self._lock = threading.Lock()
        self._consecutive = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False

    @property
    def state(self) -> State:
        with self._lock:
            return self._state()

    def allow(self) -> bool:
        """Whether a call may go out now. In half-open, only the first caller gets the trial."""
        with self._lock:
            state = self._state()
            if state == "closed":
                return True
            if state == "open" or self._trial_in_flight:
                return False
            self._trial_in_flight = True
            return True

    def record_success(self) -> None:
        with self._lock:
            self._consecutive = 0
            self._opened_at = None
            self._trial_in_flight = False

    def record_failure(self) -> None:
        with self._lock:
            self._consecutive += 1
            if self._trial_in_flight or self._consecutive >= self.failures:
                self._opened_at = self._clock()
            self._trial_in_flight = False

    def seconds_until_trial(self) -> float:
        """How long an open circuit stays shut (0 when a call may go out)."""
        with self._lock:
            if self._opened_at is None:
                return 0.0
            return max(0.0, self._opened_at + self.reset_s - self._clock())

    def _state(self) -> State:
        if self._opened_at is None:
            return "closed"
        return "open" if self._clock() - self._opened_at < self.reset_s else "half_open"
