"""Where the semantic cache keeps its entries: in this process (numpy) or in Redis.

    backend = MemoryBackend()                        # or RedisBackend("redis://127.0.0.1:6379/0")
    backend.add("acme", entry, max_entries=10_000, now=time.time())
    for similarity, entry in backend.search("acme", vector, floor=0.8, oldest_alive=time.time() - 3600):
        ...

A backend stores and finds; it decides nothing. The cache (models/llm/cache.py) owns every rule about
which candidate may be served (intent, per-entry threshold, key-term guard). Both backends evict the
least recently used entry of a tenant beyond ``max_entries`` and drop expired entries when they meet
them, judged by the ``now`` the cache passes in (so an injected clock governs both).

Redis layout, per tenant: a hash ``<prefix>:<tenant>:e:<id>`` per entry (vector as float32 bytes,
question, payload JSON, intent, threshold, created) with a Redis TTL, and a sorted set
``<prefix>:<tenant>:lru`` of entry ids scored by last use. A lookup reads every vector of the tenant
and scores them here: about 1.5 KB per entry travels per lookup, fine for a few thousand entries per
tenant; beyond that use a vector index (Redis Stack's FT.SEARCH, Qdrant) behind this same interface.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class CacheEntry:
    id: str
    question: str
    payload: dict
    intent: str | None
    #: the similarity this entry needs to be served
    threshold: float
    created: float
    vector: np.ndarray


def new_entry_id() -> str:
    return uuid.uuid4().hex


class CacheBackend(Protocol):
    def add(self, tenant: str, entry: CacheEntry, max_entries: int, now: float) -> None: ...

    def search(self, tenant: str, vector: np.ndarray, floor: float, oldest_alive: float) -> list[tuple[float, CacheEntry]]:
        """Live entries of ``tenant`` with cosine >= ``floor``, most similar first; expired ones are evicted."""
        ...

    def touch(self, tenant: str, entry_id: str, now: float) -> None: ...

    def clear(self, tenant: str | None = None) -> int: ...

    def size(self, tenant: str) -> int: ...


class _TenantTable:
    """One tenant's entries: a preallocated vector matrix so a lookup is one matrix-vector product."""

    def __init__(self, dim: int) -> None:
        self.vectors = np.zeros((16, dim), dtype=np.float32)
        self.last_used = np.zeros(16, dtype=np.float64)
        self.created = np.zeros(16, dtype=np.float64)
        self.entries: list[CacheEntry] = []
        self.row_of: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, entry: CacheEntry, now: float) -> None:
        n = len(self.entries)
        if n == len(self.vectors):
            grow = len(self.vectors)
            self.vectors = np.vstack([self.vectors, np.zeros_like(self.vectors[:grow])])
            self.last_used = np.concatenate([self.last_used, np.zeros(grow)])
            self.created = np.concatenate([self.created, np.zeros(grow)])
        self.vectors[n] = entry.vector
        self.last_used[n] = now
        self.created[n] = entry.created
        self.entries.append(entry)
        self.row_of[entry.id] = n

    def remove_row(self, row: int) -> None:
        # Move the last row into the hole so the live rows stay contiguous.
        last = len(self.entries) - 1
        del self.row_of[self.entries[row].id]
        if row != last:
            moved = self.entries[last]
            self.entries[row] = moved
            self.vectors[row] = self.vectors[last]
            self.last_used[row] = self.last_used[last]
            self.created[row] = self.created[last]
            self.row_of[moved.id] = row
        self.entries.pop()

    def drop_expired(self, oldest_alive: float) -> None:
        n = len(self.entries)
        for row in sorted(np.flatnonzero(self.created[:n] < oldest_alive), reverse=True):
            self.remove_row(int(row))


class MemoryBackend:
    """Entries in this process, one numpy matrix per tenant; one lock makes it safe across threads."""

    def __init__(self) -> None:
        self._tables: dict[str, _TenantTable] = {}
        self._lock = threading.Lock()

    def add(self, tenant: str, entry: CacheEntry, max_entries: int, now: float) -> None:
        with self._lock:
            table = self._tables.setdefault(tenant, _TenantTable(entry.vector.shape[0]))
            while len(table) >= max_entries:
                table.remove_row(int(np.argmin(table.last_used[: len(table)])))
            table.add(entry, now)

    def search(self, tenant: str, vector: np.ndarray, floor: float, oldest_alive: float) -> list[tuple[float, CacheEntry]]:
        with self._lock:
            table = self._tables.get(tenant)
            if table is None:
                return []
            table.drop_expired(oldest_alive)
            similarities = table.vectors[: len(table)] @ vector
            rows = np.flatnonzero(similarities >= floor)
            rows = rows[np.argsort(-similarities[rows], kind="stable")]
            return [(float(similarities[r]), table.entries[r]) for r in rows]

    def touch(self, tenant: str, entry_id: str, now: float) -> None:
        with self._lock:
            table = self._tables.get(tenant)
            if table is not None and entry_id in table.row_of:
                table.last_used[table.row_of[entry_id]] = now

    def clear(self, tenant: str | None = None) -> int:
        with self._lock:
            if tenant is None:
                removed = sum(len(t) for t in self._tables.values())
                self._tables.clear()
                return removed
            table = self._tables.pop(tenant, None)
            return len(table) if table else 0

    def size(self, tenant: str) -> int:
        with self._lock:
            table = self._tables.get(tenant)
            return len(table) if table else 0


class RedisBackend:
    """Entries in Redis (hashes with a Redis TTL), scored here by a scan of the tenant's vectors."""

    # Adding and trimming in one script keeps a tenant at max_entries even with concurrent writers.
    _ADD_AND_TRIM = """
        redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
        local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[3])
        local evicted = {}
        if excess > 0 then
            local popped = redis.call('ZPOPMIN', KEYS[1], excess)
            for i = 1, #popped, 2 do evicted[#evicted + 1] = popped[i] end
        end
        return evicted
    """

    def __init__(self, url: str, ttl_s: float, prefix: str = "semcache") -> None:
        import redis

        self.client = redis.Redis.from_url(url)
        self._add_and_trim = self.client.register_script(self._ADD_AND_TRIM)
        self.ttl_s = ttl_s
        self.prefix = prefix

    def _lru(self, tenant: str) -> str:
        return f"{self.prefix}:{tenant}:lru"

    def _key(self, tenant: str, entry_id: str) -> str:
        return f"{self.prefix}:{tenant}:e:{entry_id}"

    def add(self, tenant: str, entry: CacheEntry, max_entries: int, now: float) -> None:
        key = self._key(tenant, entry.id)
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={
                "vector": np.asarray(entry.vector, dtype=np.float32).tobytes(),
                "question": entry.question,
                "payload": json.dumps(entry.payload),
                "intent": "" if entry.intent is None else "=" + entry.intent,
                "threshold": repr(entry.threshold),
                "created": repr(entry.created),
            })
            # Redis forgets an entry on its own wall clock; the cache also checks ``created`` on its clock.
            pipe.expire(key, max(1, int(np.ceil(self.ttl_s))))
            pipe.execute()
        evicted = self._add_and_trim(keys=[self._lru(tenant)], args=[now, entry.id, max_entries])
        if evicted:
            self.client.delete(*(self._key(tenant, e.decode()) for e in evicted))

    def search(self, tenant: str, vector: np.ndarray, floor: float, oldest_alive: float) -> list[tuple[float, CacheEntry]]:
        lru = self._lru(tenant)
        ids = [m.decode() for m in self.client.zrange(lru, 0, -1)]
        if not ids:
            return []
        with self.client.pipeline(transaction=False) as pipe:
            for entry_id in ids:
                pipe.hgetall(self._key(tenant, entry_id))
            rows = pipe.execute()
        entries, gone = [], []
        for entry_id, row in zip(ids, rows):
            if not row or float(row[b"created"]) < oldest_alive:
                gone.append(entry_id)
                continue
            intent = row[b"intent"].decode()
            entries.append(CacheEntry(
                id=entry_id,
                question=row[b"question"].decode(),
                payload=json.loads(row[b"payload"]),
                intent=intent[1:] if intent else None,
                threshold=float(row[b"threshold"]),
                created=float(row[b"created"]),
                vector=np.frombuffer(row[b"vector"], dtype=np.float32),
            ))
        if gone:
            self.client.zrem(lru, *gone)
            self.client.delete(*(self._key(tenant, e) for e in gone))
        if not entries:
            return []
        similarities = np.stack([e.vector for e in entries]) @ vector
        order = np.argsort(-similarities, kind="stable")
        return [(float(similarities[i]), entries[i]) for i in order if similarities[i] >= floor]

    def touch(self, tenant: str, entry_id: str, now: float) -> None:
        self.client.zadd(self._lru(tenant), {entry_id: now}, xx=True)

    def clear(self, tenant: str | None = None) -> int:
        pattern = f"{self.prefix}:{'*' if tenant is None else tenant}:*"
        keys = list(self.client.scan_iter(match=pattern, count=1000))
        entries = sum(1 for k in keys if b":e:" in k)
        if keys:
            self.client.delete(*keys)
        return entries

    def size(self, tenant: str) -> int:
        return int(self.client.zcard(self._lru(tenant)))
