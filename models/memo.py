"""A bounded memo shared by threads: the last ``size`` results of a computation, by key.

    memo = SharedMemo(256)
    memo.get(text, lambda: model(text))   # computed once; a second thread asking meanwhile waits for it

In one request several parts read the same text at the same time (the input guard's PII scan and the
NER part; the intent model, the injection detector and the input classifier embedding it): the first
caller computes, the others wait for that result instead of computing it again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Generic, TypeVar

from models.base import InputError

T = TypeVar("T")


class SharedMemo(Generic[T]):
    def __init__(self, size: int) -> None:
        if size < 1:
            raise InputError(f"size={size}: a memo keeps at least 1 result")
        self.size = size
        self._recent: OrderedDict[Hashable, Future] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            future = self._recent.get(key)
            owner = future is None
            if owner:
                future = self._recent[key] = Future()
                if len(self._recent) > self.size:
                    self._recent.popitem(last=False)
            else:
                self._recent.move_to_end(key)
        if owner:
            try:
                future.set_result(compute())
            except BaseException as error:
                with self._lock:  # a failure is not remembered: the next caller tries again
                    if self._recent.get(key) is future:
                        del self._recent[key]
                future.set_exception(error)
        return future.result()

    def __len__(self) -> int:
        return len(self._recent)
