"""SharedMemo: one computation per key, shared by threads that ask at the same time."""

from __future__ import annotations

import threading
import time

import pytest

from models.base import InputError
from models.memo import SharedMemo


def test_threads_asking_at_once_share_one_computation() -> None:
    memo: SharedMemo[int] = SharedMemo(8)
    calls, results = [], []

    def slow() -> int:
        calls.append(1)
        time.sleep(0.05)
        return 42

    threads = [threading.Thread(target=lambda: results.append(memo.get("text", slow))) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [42] * 5 and len(calls) == 1


def test_a_failure_is_not_remembered_and_old_keys_make_room() -> None:
    memo: SharedMemo[int] = SharedMemo(2)

    def broken() -> int:
        raise ValueError("model down")

    with pytest.raises(ValueError):
        memo.get("a", broken)
    assert memo.get("a", lambda: 1) == 1          # tried again, not the remembered failure
    memo.get("b", lambda: 2)
    memo.get("c", lambda: 3)
    assert len(memo) == 2 and memo.get("a", lambda: 10) == 10   # "a" was the oldest: computed anew
    with pytest.raises(InputError):
        SharedMemo(0)
