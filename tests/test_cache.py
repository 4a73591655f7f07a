"""Semantic cache: what it serves, what it refuses and why, on both backends (Redis needs redis-server)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from models.base import InputError
from models.embeddings import SentenceEncoder
from models.llm.cache import SemanticCache, key_term_conflict, one_word_swap
from models.llm.cache_backends import MemoryBackend, RedisBackend
from models.settings import CacheSettings
from training.cache_pairs import KINDS, build_pairs, sample_questions

CANCEL = "How do I cancel my card?"
CANCEL_REWORDED = "how can I cancel my card"
DONT_CANCEL = "How do I not cancel my card?"
RATES = "What exchange rate do you use for euros?"
FEE_2 = "Why was I charged a fee of 2 pounds?"
FEE_20 = "Why was I charged a fee of 20 pounds?"
TEXTS = [CANCEL, CANCEL_REWORDED, DONT_CANCEL, RATES, FEE_2, FEE_20,
         "cancel my card", "don't cancel my card"] + [f"Question number {i} about my card" for i in range(8)]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class KnownVectors:
    """Real MiniLM vectors of TEXTS, computed once: threads and repeats then cost nothing."""

    def __init__(self, encoder: SentenceEncoder) -> None:
        self.vectors = dict(zip(TEXTS, encoder.encode(TEXTS)))

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.vectors[t] for t in texts])

    def cosine(self, a: str, b: str) -> float:
        return float(self.vectors[a] @ self.vectors[b])


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return SentenceEncoder()


@pytest.fixture(scope="module")
def known(encoder: SentenceEncoder) -> KnownVectors:
    return KnownVectors(encoder)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    folder: Path = tmp_path_factory.mktemp("redis")
    port = _free_port()
    server = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
                               "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    import redis

    client = redis.Redis.from_url(url)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    else:
        server.terminate()
        pytest.fail("redis-server did not answer within 5 s")
    yield url
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture(params=["memory", "redis"])
def make_cache(request: pytest.FixtureRequest, known: KnownVectors):
    """A factory of caches on one backend; the Redis one starts from an empty database."""
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")

        def backend():
            b = RedisBackend(url, ttl_s=3600)
            b.client.flushdb()
            return b
    else:
        backend = MemoryBackend

    def make(**kwargs) -> SemanticCache:
        return SemanticCache(known, backend(), **{"threshold": 0.9, **kwargs})

    return make


def test_a_paraphrase_above_the_threshold_is_served(make_cache, known: KnownVectors) -> None:
    cache = make_cache()
    cache.store(CANCEL, {"answer": "Settings > Cancel card"})
    hit = cache.lookup(CANCEL_REWORDED)
    assert hit is not None
    assert hit.payload == {"answer": "Settings > Cancel card"}
    assert hit.cached_question == CANCEL
    assert hit.similarity == pytest.approx(known.cosine(CANCEL, CANCEL_REWORDED), abs=1e-5) and hit.similarity >= 0.9


def test_a_question_below_the_threshold_misses(make_cache, known: KnownVectors) -> None:
    cache = make_cache()
    cache.store(CANCEL, {"answer": "a"})
    assert known.cosine(CANCEL, RATES) < 0.9
    assert cache.lookup(RATES) is None


def test_another_tenants_entries_are_never_returned(make_cache) -> None:
    cache = make_cache()
    cache.store(CANCEL, {"answer": "acme's"}, tenant="acme")
    assert cache.lookup(CANCEL, tenant="globex") is None
    assert cache.lookup(CANCEL, tenant="acme").payload == {"answer": "acme's"}
    assert cache.clear("acme") == 1
    assert cache.lookup(CANCEL, tenant="acme") is None


def test_intent_must_match_and_none_matches_only_none(make_cache) -> None:
    cache = make_cache()
    cache.store(CANCEL, {"answer": "a"}, intent="cancel_card")
    assert cache.lookup(CANCEL, intent="card_arrival") is None
    assert cache.lookup(CANCEL) is None
    assert cache.lookup(CANCEL, intent="cancel_card") is not None
    cache.store(RATES, {"answer": "b"})
    assert cache.lookup(RATES, intent="exchange_rate") is None
    assert cache.lookup(RATES) is not None


def test_entries_expire_after_the_ttl_and_are_evicted(make_cache) -> None:
    clock = Clock()
    cache = make_cache(ttl_s=60.0, clock=clock)
    cache.store(CANCEL, {"answer": "a"})
    clock.now += 59
    hit = cache.lookup(CANCEL)
    assert hit is not None and hit.age_s == pytest.approx(59)
    clock.now += 2
    assert cache.lookup(CANCEL) is None
    assert cache.backend.size("default") == 0


def test_the_least_recently_used_entry_goes_first_beyond_max_entries(make_cache) -> None:
    clock = Clock()
    cache = make_cache(max_entries=2, clock=clock, threshold=0.99)
    first, second, third = (f"Question number {i} about my card" for i in range(3))
    cache.store(first, {"i": 1})
    clock.now += 1
    cache.store(second, {"i": 2})
    clock.now += 1
    assert cache.lookup(first) is not None  # first is now the most recently used
    clock.now += 1
    cache.store(third, {"i": 3})
    assert cache.backend.size("default") == 2
    assert cache.lookup(second) is None
    assert cache.lookup(first).payload == {"i": 1}
    assert cache.lookup(third).payload == {"i": 3}


def test_a_polarity_flip_scores_above_the_threshold_but_is_not_served(make_cache, known: KnownVectors) -> None:
    assert known.cosine("cancel my card", "don't cancel my card") >= 0.9
    guarded, unguarded = make_cache(), make_cache(guard=False)
    for cache in (guarded, unguarded):
        cache.store("cancel my card", {"answer": "cancelled"})
    assert unguarded.lookup("don't cancel my card") is not None  # cosine alone would serve it
    assert guarded.lookup("don't cancel my card") is None


def test_a_changed_amount_is_not_served(make_cache, known: KnownVectors) -> None:
    assert known.cosine(FEE_2, FEE_20) >= 0.9
    cache = make_cache()
    cache.store(FEE_2, {"answer": "done"})
    assert cache.lookup(FEE_20) is None
    assert cache.lookup(FEE_2) is not None


def test_a_guarded_neighbour_does_not_hide_a_valid_entry(make_cache) -> None:
    cache = make_cache()
    cache.store("cancel my card", {"answer": "cancelled"})
    cache.store("don't cancel my card", {"answer": "kept"})
    assert cache.lookup("don't cancel my card").payload == {"answer": "kept"}
    assert cache.lookup("cancel my card").payload == {"answer": "cancelled"}


def test_per_intent_thresholds_are_stored_with_each_entry(make_cache, known: KnownVectors) -> None:
    similarity = known.cosine(CANCEL, CANCEL_REWORDED)
    cache = make_cache(threshold=0.5, intent_thresholds={"cancel_card": min(1.0, similarity + 0.01)})
    cache.store(CANCEL, {"answer": "a"}, intent="cancel_card")
    cache.store(CANCEL, {"answer": "b"}, intent="other")
    assert cache.lookup(CANCEL_REWORDED, intent="cancel_card") is None
    assert cache.lookup(CANCEL_REWORDED, intent="other").payload == {"answer": "b"}


def test_concurrent_stores_and_lookups_stay_consistent(make_cache) -> None:
    cache = make_cache(max_entries=5, threshold=0.99)
    questions = [f"Question number {i} about my card" for i in range(8)]
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for rep in range(25):
                q = questions[(k + rep) % len(questions)]
                cache.store(q, {"k": k}, tenant=f"t{k % 2}")
                cache.lookup(q, tenant=f"t{k % 2}")
                own = f"own{k}"
                cache.store(q, {"k": k, "rep": rep}, tenant=own)
                assert cache.lookup(q, tenant=own).payload == {"k": k, "rep": rep}
        except BaseException as error:  # noqa: BLE001 - surfaced below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert cache.backend.size("t0") <= 5 and cache.backend.size("t1") <= 5
    assert all(cache.backend.size(f"own{k}") == 5 for k in range(8))


def test_bad_input_is_refused_with_a_reason(known: KnownVectors) -> None:
    cache = SemanticCache(known, MemoryBackend())
    with pytest.raises(InputError, match="tenant"):
        cache.lookup(CANCEL, tenant="a:b*")
    with pytest.raises(InputError, match="question"):
        cache.store("  ", {"answer": "a"})
    with pytest.raises(InputError, match="threshold"):
        SemanticCache(known, MemoryBackend(), threshold=1.5)


def test_from_settings_builds_the_configured_backend(known: KnownVectors, redis_url: str) -> None:
    memory = SemanticCache.from_settings(CacheSettings(threshold=0.8, key_term_guard=False), known)
    assert isinstance(memory.backend, MemoryBackend) and memory.threshold == 0.8 and not memory.guard
    redis_cache = SemanticCache.from_settings(CacheSettings(backend="redis", redis_url=redis_url), known)
    assert isinstance(redis_cache.backend, RedisBackend)


@pytest.mark.parametrize(("a", "b", "reason"), [
    ("cancel my card", "don't cancel my card", "negation"),
    ("it didn't work, can't I retry?", "it didn't work, can I retry?", "negation"),
    ("transfer 50", "transfer 500", "numbers"),
    ("I waited two weeks", "I waited 3 weeks", "numbers"),
    ("block my card", "unblock my card", "opposite"),
    ("How do I increase my limit?", "How do I decrease my limit?", "opposite"),
    ("Pay with Apple Pay?", "pay with google pay", "wallet"),
    ("the $1 charge", "the 1 euro charge", "currency"),
    ("I work at Larkspur Travel. Refund please", "I work at Redwood Retail. Refund please", "names"),
    ("How do I activate my new card?", "How do I activate my old card?", "one word swapped: new/old"),
    ("My card was declined today, why?", "My card was declined yesterday, why?", "one word swapped: today/yesterday"),
])
def test_the_guard_names_what_differs(a: str, b: str, reason: str) -> None:
    assert reason in key_term_conflict(a, b)
    assert key_term_conflict(a, a) is None


@pytest.mark.parametrize(("a", "b"), [
    ("I do not have my card", "I don't have my card"),
    ("I waited two weeks", "i waited 2 weeks!"),
    ("How do I pay with Apple Pay?", "how do i pay with apple pay"),
    ("How do I top up my card?", "Hi, how can I top up my cards? Thanks."),
    ("My new card has not arrived", "The card I ordered still has not arrived"),
])
def test_the_guard_lets_rewordings_through(a: str, b: str) -> None:
    assert key_term_conflict(a, b) is None


def test_the_swap_rule_can_be_left_out_and_refuses_synonyms_too() -> None:
    assert key_term_conflict("activate my new card", "activate my old card", swaps=False) is None
    # A synonym swap is refused as well: the price is a missed hit, never a wrong answer.
    assert one_word_swap("How can I withdraw money?", "how can i withdraw funds") == "money/funds"
    assert one_word_swap("activate my new card", "please activate my new virtual card") is None


def test_pairs_from_sample_tickets_are_labelled_and_deterministic(encoder: SentenceEncoder) -> None:
    questions = sample_questions(n=120, seed=3)
    vectors = encoder.encode(questions["text"].tolist())
    pairs = build_pairs(questions, vectors, seed=5)
    assert pairs.equals(build_pairs(questions, vectors, seed=5))
    assert set(pairs["kind"]) == set(KINDS)
    assert (pairs["q1"] != pairs["q2"]).all()
    hits = pairs["kind"].isin(["paraphrase", "same_intent"])
    assert (pairs["should_hit"] == hits).all()
    intent_of = dict(zip(questions["text"], questions["intent"]))
    same = pairs[pairs["kind"] == "same_intent"]
    other = pairs[pairs["kind"] == "different_intent"]
    assert (same["q2"].map(intent_of) == same["intent"]).all()
    assert (other["q2"].map(intent_of) != other["intent"]).all()
