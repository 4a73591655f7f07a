"""The LLM gateway against real OpenAI-compatible HTTP servers (tests/openai_stub.py): retries, fallback, breaker, streaming."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from openai_stub import OpenAIStub, count_tokens

from models.llm.breaker import CircuitBreaker
from models.llm.gateway import AllTiersFailed, Completion, LLMGateway
from models.settings import LLMSettings, TierSettings

MESSAGES = [{"role": "system", "content": "Answer from the context."},
            {"role": "user", "content": "What is the refund window?"}]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub(reply="Refunds are accepted within 30 days [1].") as server:
        yield server


@pytest.fixture
def backup() -> Iterator[OpenAIStub]:
    with OpenAIStub(reply="Backup answer.", model="backup-model") as server:
        yield server


def tier(server: OpenAIStub | str, **overrides: object) -> TierSettings:
    base_url = server if isinstance(server, str) else server.base_url
    return TierSettings(**{"base_url": base_url, "model": "m", "max_retries": 2, "timeout_s": 5.0} | overrides)


def gateway(tiers: dict[str, TierSettings], sleeps: list[float] | None = None, **options: object) -> LLMGateway:
    recorded = sleeps if sleeps is not None else []
    return LLMGateway(tiers, sleep=recorded.append, **options)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def outcomes(completion: Completion | AllTiersFailed) -> list[tuple[str, str]]:
    return [(a.tier, a.outcome) for a in completion.attempts]


def test_completion_reports_text_tokens_and_cost(stub: OpenAIStub) -> None:
    llm = gateway({"small": tier(stub, model="qwen", price_input_per_1k=0.5, price_output_per_1k=2.0, max_tokens=64)},
                  temperature=0.3)
    answer = llm.complete(MESSAGES, tier="small")

    assert answer.text == "Refunds are accepted within 30 days [1]."
    assert (answer.tier, answer.model) == ("small", "stub-model")
    prompt = sum(count_tokens(m["content"]) for m in MESSAGES)
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (prompt, 7)
    assert answer.usage.cost_usd == pytest.approx(prompt * 0.5 / 1000 + 7 * 2.0 / 1000)
    assert not answer.usage.estimated
    assert outcomes(answer) == [("small", "ok")]
    sent = stub.requests[-1]
    assert (sent["model"], sent["messages"], sent["max_tokens"], sent["temperature"]) == ("qwen", MESSAGES, 64, 0.3)
    assert llm.complete(MESSAGES, tier="small", max_tokens=3).text == "Refunds are accepted"


def test_rate_limit_is_retried_with_growing_backoff(stub: OpenAIStub) -> None:
    sleeps: list[float] = []
    llm = gateway({"small": tier(stub)}, sleeps, backoff_s=0.5, backoff_max_s=8.0)
    stub.fail_next(status=429, times=2)
    answer = llm.complete(MESSAGES, tier="small")

    assert answer.text.startswith("Refunds")
    assert outcomes(answer) == [("small", "rate_limited"), ("small", "rate_limited"), ("small", "ok")]
    assert "429" in answer.attempts[0].detail
    assert len(stub.requests) == 3
    assert len(sleeps) == 2
    assert 0.25 <= sleeps[0] <= 0.5 and 0.5 <= sleeps[1] <= 1.0  # base * 2**n with jitter in [0.5, 1]


def test_retry_after_is_honoured_and_capped(stub: OpenAIStub) -> None:
    sleeps: list[float] = []
    llm = gateway({"small": tier(stub)}, sleeps, backoff_s=0.01, backoff_max_s=5.0)
    stub.fail_next(status=429, retry_after=3)
    stub.fail_next(status=429, retry_after=120)
    llm.complete(MESSAGES, tier="small")
    assert sleeps == [3.0, 5.0]


def test_server_error_is_retried(stub: OpenAIStub) -> None:
    llm = gateway({"small": tier(stub)})
    stub.fail_next(status=500)
    stub.fail_next(status=503)
    answer = llm.complete(MESSAGES, tier="small")
    assert [a.outcome for a in answer.attempts] == ["server_error", "server_error", "ok"]


def test_bad_request_is_not_retried_and_falls_back(stub: OpenAIStub, backup: OpenAIStub) -> None:
    sleeps: list[float] = []
    llm = gateway({"small": tier(stub), "large": tier(backup)}, sleeps, fallback=["large"])
    stub.fail_next(status=400, times=3)
    answer = llm.complete(MESSAGES, tier="small")

    assert answer.text == "Backup answer."
    assert (answer.tier, answer.model) == ("large", "backup-model")
    assert outcomes(answer) == [("small", "bad_request"), ("large", "ok")]
    assert "Scripted failure 400" in answer.attempts[0].detail
    assert len(stub.requests) == 1 and sleeps == []


def test_timeouts_are_retried_then_the_next_tier_answers(stub: OpenAIStub, backup: OpenAIStub) -> None:
    llm = gateway({"small": tier(stub, timeout_s=0.5, max_retries=1), "large": tier(backup)}, fallback=["large"])
    stub.hang_next(seconds=5.0, times=2)
    answer = llm.complete(MESSAGES, tier="small")

    assert answer.tier == "large"
    assert outcomes(answer) == [("small", "timeout"), ("small", "timeout"), ("large", "ok")]
    assert all(0.4 < a.seconds < 3.0 for a in answer.attempts[:2])


def test_one_deadline_bounds_the_whole_chain(stub: OpenAIStub, backup: OpenAIStub) -> None:
    # Each try may take 5 s, but the request has 0.8 s in all: the first try is cut to what is left,
    # and neither its retry nor the next tier starts once the budget is spent.
    llm = gateway({"small": tier(stub, timeout_s=5.0, max_retries=2), "large": tier(backup)}, fallback=["large"],
                  deadline_s=0.8)
    stub.hang_next(seconds=5.0, times=3)
    with pytest.raises(AllTiersFailed, match="deadline_s") as failure:
        llm.complete(MESSAGES, tier="small")
    assert outcomes(failure.value) == [("small", "timeout"), ("small", "deadline")]
    assert failure.value.attempts[0].seconds < 1.5
    assert backup.requests == []


def test_chain_is_routed_tier_then_fallbacks_without_duplicates_or_unknown_names(stub: OpenAIStub) -> None:
    llm = gateway({name: tier(stub) for name in ("cheap", "small", "large")}, fallback=["small", "gpu", "small", "large"])
    assert llm.chain("large") == ["large", "small"]
    assert llm.chain("code") == ["small", "large"]
    assert llm.chain(None) == ["small", "large"]


def test_all_tiers_failing_names_each_tier(stub: OpenAIStub) -> None:
    llm = gateway({"small": tier(stub, max_retries=1), "large": tier(closed_port_url(), max_retries=0)},
                  fallback=["large"])
    stub.fail_next(status=502, times=2)
    with pytest.raises(AllTiersFailed) as failed:
        llm.complete(MESSAGES, tier="small")

    message = str(failed.value)
    assert "small: server_error after 2 tries (HTTP 502" in message
    assert "large: connection_error" in message
    assert outcomes(failed.value) == [("small", "server_error"), ("small", "server_error"), ("large", "connection_error")]


def test_circuit_opens_skips_the_tier_then_half_opens(stub: OpenAIStub, backup: OpenAIStub) -> None:
    clock = FakeClock()
    llm = gateway({"small": tier(stub, max_retries=0), "large": tier(backup)}, fallback=["large"],
                  breaker_failures=2, breaker_reset_s=30.0, clock=clock)
    stub.fail_next(status=500, times=2)
    for _ in range(2):
        assert llm.complete(MESSAGES, tier="small").tier == "large"

    seen = len(stub.requests)
    skipped = llm.complete(MESSAGES, tier="small")
    assert outcomes(skipped) == [("small", "circuit_open"), ("large", "ok")]
    assert len(stub.requests) == seen  # the open circuit never called the endpoint

    clock.now += 30.0  # half-open: one trial goes through, and its success closes the circuit
    assert outcomes(llm.complete(MESSAGES, tier="small")) == [("small", "ok")]
    assert outcomes(llm.complete(MESSAGES, tier="small")) == [("small", "ok")]
    assert len(stub.requests) == seen + 2


def test_a_stream_abandoned_during_the_half_open_trial_releases_the_circuit(stub: OpenAIStub) -> None:
    clock = FakeClock()
    llm = gateway({"small": tier(stub, max_retries=0)}, breaker_failures=1, breaker_reset_s=5.0, clock=clock)
    stub.fail_next(status=500)
    with pytest.raises(AllTiersFailed):
        llm.complete(MESSAGES, tier="small")
    clock.now += 5.0
    trial = llm.stream(MESSAGES, tier="small")
    assert next(trial) == "Refunds"
    trial.close()  # the reader went away mid-answer
    assert outcomes(llm.complete(MESSAGES, tier="small")) == [("small", "ok")]


def test_breaker_trial_failure_reopens_and_only_one_trial_goes_out() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failures=1, reset_s=10.0, clock=clock)
    breaker.record_failure()
    assert breaker.state == "open" and not breaker.allow()
    assert breaker.seconds_until_trial() == 10.0
    clock.now += 10.0
    assert breaker.allow() and not breaker.allow()  # a second caller waits for the trial's verdict
    breaker.record_failure()
    assert breaker.state == "open"
    clock.now += 10.0
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed" and breaker.allow() and breaker.allow()


def test_streaming_yields_tokens_then_one_completion(stub: OpenAIStub) -> None:
    llm = gateway({"small": tier(stub, price_output_per_1k=1.0)})
    pieces = list(llm.stream(MESSAGES, tier="small"))

    *deltas, final = pieces
    assert all(isinstance(d, str) for d in deltas) and len(deltas) == 7
    assert isinstance(final, Completion)
    assert "".join(deltas) == final.text == "Refunds are accepted within 30 days [1]."
    assert final.usage.completion_tokens == 7 and not final.usage.estimated
    assert final.usage.cost_usd == pytest.approx(7 / 1000)
    assert stub.requests[-1]["stream"] is True
    assert stub.requests[-1]["stream_options"] == {"include_usage": True}


def test_usage_is_estimated_when_the_server_reports_none(stub: OpenAIStub) -> None:
    llm = gateway({"small": tier(stub, price_input_per_1k=1.0)})
    stub.reply = "abcdefghi"
    stub.report_usage = False  # as servers that ignore stream_options do
    prompt_chars = sum(len(m["content"]) for m in MESSAGES)

    for final in (llm.complete(MESSAGES, tier="small"), list(llm.stream(MESSAGES, tier="small"))[-1]):
        assert final.text == "abcdefghi"
        assert final.usage.estimated
        assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (-(-prompt_chars // 4), 3)
        assert final.usage.cost_usd == pytest.approx(final.usage.prompt_tokens / 1000)


def test_streaming_falls_back_before_the_first_token(stub: OpenAIStub, backup: OpenAIStub) -> None:
    llm = gateway({"small": tier(stub, max_retries=0), "large": tier(backup)}, fallback=["large"])
    stub.fail_next(status=503)
    *deltas, final = llm.stream(MESSAGES, tier="small")
    assert "".join(deltas) == "Backup answer."
    assert outcomes(final) == [("small", "server_error"), ("large", "ok")]


@pytest.mark.parametrize("abrupt", [True, False], ids=["socket dropped", "unfinished body"])
def test_mid_stream_break_keeps_the_partial_text_and_says_interrupted(stub: OpenAIStub, backup: OpenAIStub,
                                                                      abrupt: bool) -> None:
    llm = gateway({"small": tier(stub), "large": tier(backup)}, fallback=["large"])
    stub.break_stream_after(3, abrupt=abrupt)
    *deltas, final = llm.stream(MESSAGES, tier="small")

    assert "".join(deltas) == final.text == "Refunds are accepted"
    assert outcomes(final) == [("small", "interrupted")]
    assert final.usage.estimated and final.usage.completion_tokens == 5  # ceil(20 chars / 4)
    assert backup.requests == []  # the caller already had tokens: no other tier may repeat them


def test_missing_api_key_moves_to_the_next_tier(stub: OpenAIStub, backup: OpenAIStub,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HYBRID_TEST_LARGE_KEY", raising=False)
    monkeypatch.setenv("HYBRID_TEST_SMALL_KEY", "sk-small")
    llm = gateway({"large": tier(stub, api_key_env="HYBRID_TEST_LARGE_KEY"),
                   "small": tier(backup, api_key_env="HYBRID_TEST_SMALL_KEY")}, fallback=["small"])
    answer = llm.complete(MESSAGES, tier="large")

    assert outcomes(answer) == [("large", "missing_key"), ("small", "ok")]
    assert "HYBRID_TEST_LARGE_KEY" in answer.attempts[0].detail
    assert stub.requests == [] and backup.api_keys == ["sk-small"]


def test_unconfigured_gateway_says_how_to_configure() -> None:
    llm = LLMGateway.from_settings(LLMSettings())
    assert not llm.available
    with pytest.raises(AllTiersFailed, match=r"no LLM tier is configured.*llm\.tiers"):
        llm.complete(MESSAGES, tier="small")
    with pytest.raises(AllTiersFailed):
        next(llm.stream(MESSAGES, tier="small"))


def test_from_settings_reads_tiers_and_fallback(stub: OpenAIStub) -> None:
    settings = LLMSettings(tiers={"small": tier(stub)}, fallback=["small"], breaker_failures=5)
    llm = LLMGateway.from_settings(settings)
    assert llm.available and llm.chain("large") == ["small"]
    assert llm.complete(MESSAGES, tier=None).tier == "small"
