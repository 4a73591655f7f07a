"""The LLM client: any OpenAI-compatible server (vLLM, TGI, Ollama, llama.cpp server, OpenAI) by tier.

    gateway = LLMGateway.from_settings(get_settings().llm)
    answer = gateway.complete([{"role": "user", "content": "Hi"}], tier="small")
    answer.text, answer.tier, answer.usage.cost_usd, answer.attempts
    for piece in gateway.stream(messages, tier="large"):
        if isinstance(piece, Completion):      # always last, exactly once
            print(piece.usage)
        else:
            print(piece, end="")

Each tier is tried in turn: the routed tier, then ``settings.llm.fallback`` in order. Within a tier,
rate limits (429), server errors (5xx, 408, 409), timeouts and refused connections are retried with
exponential backoff and jitter (a 429's Retry-After wins, capped at ``backoff_max_s``); other 4xx
go straight to the next tier, since repeating the same request cannot fix them. A circuit breaker
per tier skips an endpoint after ``breaker_failures`` failed calls in a row (models/llm/breaker.py);
a 4xx answer proves the endpoint is up, so it does not count against it. Every try is recorded as
an ``Attempt`` so the caller can tell the user what degraded; when no tier answers,
``AllTiersFailed`` says why for each one. One request never takes longer than ``deadline_s`` in all:
each try's timeout is what is left of it, and no try starts once it is spent.
"""

from __future__ import annotations

import email.utils
import math
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import openai

from models.base import InputError
from models.llm.breaker import CircuitBreaker
from models.settings import LLMSettings, TierSettings

# Local servers (vLLM, Ollama, llama.cpp) ignore the key but the client insists on one.
_PLACEHOLDER_KEY = "not-needed"
_RETRYABLE_STATUS = {408: "timeout", 409: "server_error", 429: "rate_limited"}


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    #: True when the server reported no usage and the counts are characters / 4
    estimated: bool = False


@dataclass(frozen=True)
class Attempt:
    tier: str
    #: "ok", "rate_limited", "server_error", "timeout", "connection_error", "bad_request",
    #: "circuit_open", "missing_key", "interrupted" or "deadline" (the request's [llm].deadline_s was spent)
    outcome: str
    detail: str
    seconds: float


@dataclass(frozen=True)
class Completion:
    text: str
    tier: str
    model: str
    usage: Usage
    attempts: tuple[Attempt, ...]


class AllTiersFailed(RuntimeError):
    """No tier produced an answer; ``attempts`` holds every try, the message one line per tier."""

    def __init__(self, message: str, attempts: tuple[Attempt, ...] = ()) -> None:
        super().__init__(message)
        self.attempts = attempts


class _Failure(Exception):
    """One failed try, classified. (Not a frozen dataclass: raising sets attributes on an exception.)"""

    def __init__(self, outcome: str, detail: str, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.outcome = outcome
        self.detail = detail
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass(frozen=True)
class _Reply:
    text: str
    model: str
    prompt_tokens: int | None
    completion_tokens: int | None


class LLMGateway:
    def __init__(self, tiers: dict[str, TierSettings], fallback: Iterable[str] = (), backoff_s: float = 0.5,
                 backoff_max_s: float = 8.0, breaker_failures: int = 3, breaker_reset_s: float = 30.0,
                 temperature: float = 0.2, deadline_s: float = 40.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.tiers = dict(tiers)
        self.fallback = list(fallback)
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.temperature = temperature
        self.deadline_s = deadline_s
        self._clock = clock
        self._sleep = sleep
        self._breakers = {name: CircuitBreaker(breaker_failures, breaker_reset_s, clock) for name in self.tiers}
        self._clients: dict[str, openai.OpenAI] = {}
        self._clients_lock = threading.Lock()

    @classmethod
    def from_settings(cls, llm: LLMSettings) -> LLMGateway:
        return cls(tiers=llm.tiers, fallback=llm.fallback, backoff_s=llm.backoff_s, backoff_max_s=llm.backoff_max_s,
                   breaker_failures=llm.breaker_failures, breaker_reset_s=llm.breaker_reset_s,
                   temperature=llm.temperature, deadline_s=llm.deadline_s)

    @property
    def available(self) -> bool:
        return bool(self.tiers)

    def chain(self, tier: str | None) -> list[str]:
        """The tiers tried, in order: the routed tier when configured, then the fallbacks."""
        order: list[str] = []
        for name in [tier, *self.fallback]:
            if name in self.tiers and name not in order:
                order.append(name)
        return order

    def complete(self, messages: list[dict[str, str]], tier: str | None, max_tokens: int | None = None) -> Completion:
        *_, completion = self._run(messages, tier, max_tokens, streaming=False)
        return completion

    def stream(self, messages: list[dict[str, str]], tier: str | None,
               max_tokens: int | None = None) -> Iterator[str | Completion]:
        """Text deltas, then one ``Completion``. Falls back only until the first delta is out."""
        return self._run(messages, tier, max_tokens, streaming=True)

    # -- the retry / fallback engine -------------------------------------------------------------

    def _run(self, messages: list[dict[str, str]], tier: str | None, max_tokens: int | None,
             streaming: bool) -> Iterator[str | Completion]:
        if not messages:
            raise InputError("messages: pass at least one {'role': ..., 'content': ...} message")
        order = self.chain(tier)
        if not order:
            raise AllTiersFailed(self._nothing_to_try(tier))
        attempts: list[Attempt] = []
        # One budget for the whole chain, so a slow tier cannot use up the time the next tier (or the
        # caller's extractive fallback) needs before the HTTP request itself times out.
        deadline = self._clock() + self.deadline_s
        for name in order:
            settings = self.tiers[name]
            if settings.api_key_env and not os.environ.get(settings.api_key_env):
                attempts.append(Attempt(name, "missing_key",
                                        f"set the environment variable {settings.api_key_env} to this tier's API key", 0.0))
                continue
            breaker = self._breakers[name]
            if not breaker.allow():
                attempts.append(Attempt(name, "circuit_open", f"skipped after {breaker.failures} failed calls in a row; "
                                        f"next try in {breaker.seconds_until_trial():.0f} s", 0.0))
                continue
            limit = max_tokens if max_tokens is not None else settings.max_tokens
            for try_number in range(settings.max_retries + 1):
                started = self._clock()
                remaining = deadline - started
                if remaining <= 0:
                    attempts.append(Attempt(name, "deadline", f"the request's {self.deadline_s:g} s budget "
                                            "([llm].deadline_s) was spent", 0.0))
                    raise AllTiersFailed(_summary(attempts), tuple(attempts))
                timeout = min(settings.timeout_s, remaining)
                delivered: list[str] = []
                try:
                    if streaming:
                        reply = yield from self._stream_once(name, messages, limit, delivered, timeout)
                    else:
                        reply = self._complete_once(name, messages, limit, timeout)
                except GeneratorExit:
                    # The caller stopped reading (e.g. its client went away) while tokens were arriving:
                    # the endpoint is healthy, and a half-open trial must not stay pending forever.
                    breaker.record_success()
                    raise
                except _Failure as failure:
                    seconds = self._clock() - started
                    if delivered:
                        # The caller already has these tokens: another tier would repeat them, so stop here.
                        attempts.append(Attempt(name, "interrupted", failure.detail, seconds))
                        breaker.record_failure()
                        partial = _Reply("".join(delivered), settings.model, None, None)
                        yield self._completion(name, partial, messages, attempts)
                        return
                    attempts.append(Attempt(name, failure.outcome, failure.detail, seconds))
                    if not failure.retryable:
                        breaker.record_success()  # the endpoint answered; the request was at fault
                        break
                    if try_number < settings.max_retries:
                        self._sleep(min(self._backoff(try_number, failure.retry_after), max(deadline - self._clock(), 0.0)))
                    continue
                except Exception:
                    breaker.record_failure()  # a bug or malformed answer must not leave a half-open trial pending
                    raise
                attempts.append(Attempt(name, "ok", "", self._clock() - started))
                breaker.record_success()
                yield self._completion(name, reply, messages, attempts)
                return
            else:
                breaker.record_failure()
        raise AllTiersFailed(_summary(attempts), tuple(attempts))

    def _backoff(self, try_number: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.backoff_max_s)
        # Jitter spreads out clients that failed together so they do not retry together.
        return min(self.backoff_s * 2 ** try_number, self.backoff_max_s) * random.uniform(0.5, 1.0)

    def _completion(self, name: str, reply: _Reply, messages: list[dict[str, str]],
                    attempts: list[Attempt]) -> Completion:
        settings = self.tiers[name]
        estimated = reply.prompt_tokens is None or reply.completion_tokens is None
        if estimated:
            prompt_tokens = math.ceil(sum(len(str(m.get("content") or "")) for m in messages) / 4)
            completion_tokens = math.ceil(len(reply.text) / 4)
        else:
            prompt_tokens, completion_tokens = reply.prompt_tokens, reply.completion_tokens
        cost = (prompt_tokens * settings.price_input_per_1k + completion_tokens * settings.price_output_per_1k) / 1000
        usage = Usage(prompt_tokens, completion_tokens, cost, estimated)
        return Completion(reply.text, name, reply.model, usage, tuple(attempts))

    def _nothing_to_try(self, tier: str | None) -> str:
        if not self.tiers:
            return ("no LLM tier is configured: add an [llm.tiers.<name>] table with base_url and model "
                    "(any OpenAI-compatible server) to hybrid.toml")
        return (f"tier {tier!r} is not configured and settings.llm.fallback names no configured tier; "
                f"configured tiers: {', '.join(self.tiers)}")

    # -- one HTTP request ----------------------------------------------------------------------

    def _client(self, name: str) -> openai.OpenAI:
        with self._clients_lock:
            if name not in self._clients:
                settings = self.tiers[name]
                key = os.environ[settings.api_key_env] if settings.api_key_env else _PLACEHOLDER_KEY
                # max_retries=0: retries, backoff and fallback are ours, and each try is recorded.
                self._clients[name] = openai.OpenAI(base_url=settings.base_url, api_key=key,
                                                    timeout=settings.timeout_s, max_retries=0)
            return self._clients[name]

    def _request(self, name: str, messages: list[dict[str, str]], max_tokens: int, timeout: float) -> dict[str, Any]:
        return {"model": self.tiers[name].model, "messages": messages, "max_tokens": max_tokens,
                "temperature": self.temperature, "timeout": timeout}

    def _complete_once(self, name: str, messages: list[dict[str, str]], max_tokens: int, timeout: float) -> _Reply:
        try:
            response = self._client(name).chat.completions.create(**self._request(name, messages, max_tokens, timeout))
        except openai.APIError as err:
            raise _classify(err, self.tiers[name]) from err
        if not response.choices:
            raise _Failure("server_error", "the server answered with no choices", retryable=True)
        usage = response.usage
        return _Reply(response.choices[0].message.content or "", response.model or self.tiers[name].model,
                      usage.prompt_tokens if usage else None, usage.completion_tokens if usage else None)

    def _stream_once(self, name: str, messages: list[dict[str, str]], max_tokens: int,
                     delivered: list[str], timeout: float) -> Iterator[str]:
        """Yields deltas (also appended to ``delivered``) and returns the ``_Reply``; raises ``_Failure``."""
        settings = self.tiers[name]
        model, usage, finish = settings.model, None, None
        try:
            with self._client(name).chat.completions.create(
                    **self._request(name, messages, max_tokens, timeout), stream=True,
                    stream_options={"include_usage": True}) as chunks:
                for chunk in chunks:
                    model = chunk.model or model
                    usage = chunk.usage or usage
                    for choice in chunk.choices:
                        finish = choice.finish_reason or finish
                        if choice.delta and choice.delta.content:
                            delivered.append(choice.delta.content)
                            yield choice.delta.content
        except openai.APIError as err:
            raise _classify(err, settings) from err
        if finish is None:
            # Every OpenAI-compatible server ends a complete answer with a finish_reason.
            raise _Failure("connection_error", "the stream ended before the answer was finished", retryable=True)
        return _Reply("".join(delivered), model, usage.prompt_tokens if usage else None,
                      usage.completion_tokens if usage else None)


def _classify(err: openai.APIError, settings: TierSettings) -> _Failure:
    if isinstance(err, openai.APITimeoutError):
        return _Failure("timeout", f"no answer within the time left (at most {settings.timeout_s:g} s)", retryable=True)
    if isinstance(err, openai.APIConnectionError):
        cause = f" ({err.__cause__})" if err.__cause__ else ""
        return _Failure("connection_error", f"{err.message}{cause} at {settings.base_url}", retryable=True)
    if not isinstance(err, openai.APIStatusError):
        # e.g. an error event inside a stream: the server failed while answering
        return _Failure("server_error", err.message, retryable=True)
    status = err.status_code
    message = err.body.get("message") if isinstance(err.body, dict) else None
    detail = f"HTTP {status}: {message or err.message}"
    if status in _RETRYABLE_STATUS:
        retry_after = _retry_after(err.response.headers) if status == 429 else None
        return _Failure(_RETRYABLE_STATUS[status], detail, retryable=True, retry_after=retry_after)
    if status >= 500:
        return _Failure("server_error", detail, retryable=True)
    if status in (401, 403) and settings.api_key_env:
        detail += f"; check the key in the environment variable {settings.api_key_env}"
    return _Failure("bad_request", detail, retryable=False)


def _retry_after(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms`` (OpenAI) or ``Retry-After`` (seconds or an HTTP date)."""
    if (millis := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _summary(attempts: list[Attempt]) -> str:
    """One clause per tier: how many tries, and the last failure."""
    by_tier: dict[str, list[Attempt]] = {}
    for attempt in attempts:
        by_tier.setdefault(attempt.tier, []).append(attempt)
    parts = []
    for name, tries in by_tier.items():
        last = tries[-1]
        count = f" after {len(tries)} tries" if len(tries) > 1 else ""
        parts.append(f"{name}: {last.outcome}{count} ({last.detail})")
    return "every LLM tier failed: " + "; ".join(parts)
