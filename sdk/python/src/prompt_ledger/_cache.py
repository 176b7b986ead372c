"""The client-side prompt cache.

Fetched prompt versions are kept per name and selector (active version, a
label, or a version number). A fresh entry is answered without a request; a
stale one is answered at once while the client refreshes it in the
background; when the server cannot be reached the last known entry keeps
being answered, however old. Writes made through the client drop the
entries of the prompt they changed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .models import PromptVersion

DEFAULT_TTL_SECONDS = 60.0

CacheKey = tuple[str, str]


def cache_key(name: str, label: str | None, version: int | None) -> CacheKey:
    if version is not None:
        return (name, f"version:{version}")
    if label is not None:
        return (name, f"label:{label}")
    return (name, "active")


@dataclass
class Entry:
    value: PromptVersion
    fetched_at: float

    def age(self, now: float) -> float:
        return now - self.fetched_at


class PromptCache:
    """A thread-safe map of prompt versions with their fetch times."""

    def __init__(self, ttl_seconds: float = DEFAULT_TTL_SECONDS, clock: Callable[[], float] = time.monotonic):
        if ttl_seconds < 0:
            raise ValueError("cache_ttl_seconds must be 0 or more")
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self._entries: dict[CacheKey, Entry] = {}
        self._refreshing: set[CacheKey] = set()
        self._lock = threading.Lock()

    def get(self, key: CacheKey) -> Entry | None:
        with self._lock:
            return self._entries.get(key)

    def is_fresh(self, entry: Entry, ttl_seconds: float) -> bool:
        return ttl_seconds > 0 and entry.age(self.clock()) < ttl_seconds

    def put(self, key: CacheKey, value: PromptVersion) -> None:
        with self._lock:
            self._entries[key] = Entry(value, self.clock())

    def defer(self, key: CacheKey) -> None:
        """Counts the entry as fetched now: after a failed refresh, the next
        try waits a TTL instead of coming with the very next read."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                entry.fetched_at = self.clock()

    def drop(self, key: CacheKey) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def invalidate(self, name: str | None = None) -> None:
        """Drops every entry of ``name`` (all entries when ``None``)."""
        with self._lock:
            if name is None:
                self._entries.clear()
            else:
                for key in [k for k in self._entries if k[0] == name]:
                    del self._entries[key]

    def begin_refresh(self, key: CacheKey) -> bool:
        """True when the caller should refresh ``key``; False when a refresh is under way."""
        with self._lock:
            if key in self._refreshing:
                return False
            self._refreshing.add(key)
            return True

    def end_refresh(self, key: CacheKey) -> None:
        with self._lock:
            self._refreshing.discard(key)

    def refreshing(self) -> int:
        with self._lock:
            return len(self._refreshing)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


def fallback_version(name: str, fallback: str | list[dict[str, str]]) -> PromptVersion:
    """The stand-in answered on a cold start when the server cannot be reached."""
    if isinstance(fallback, str):
        return PromptVersion(prompt_name=name, kind="text", template=fallback, is_fallback=True)
    return PromptVersion.model_validate(
        {"prompt_name": name, "kind": "chat", "messages": fallback, "is_fallback": True}
    )
