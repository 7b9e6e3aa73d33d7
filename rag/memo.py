"""A bounded memo that many threads may share.

The retriever and BM25 remember what questions keep asking for (a term's scores, a
chunk's sentences). In `rag serve` and `rag chat` questions run in parallel threads on
one index, and a server runs for weeks: so the memo takes a lock and forgets its oldest
entries past a size, rather than growing without end.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)
Value = TypeVar("Value")


class BoundedMemo(Generic[Key, Value]):
    """Values by key; past `size` entries the oldest is forgotten."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"a memo holds at least one entry, not {size}")
        self.size = size
        self._entries: OrderedDict[Key, Value] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Key) -> Value | None:
        with self._lock:
            return self._entries.get(key)

    def put(self, key: Key, value: Value) -> None:
        with self._lock:
            self._entries[key] = value
            if len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def get_or_make(self, key: Key, make: Callable[[Key], Value]) -> Value:
        """The value remembered for `key`, or `make(key)` remembered.

        `make` runs outside the lock, so two threads may both make a value for the
        same new key; either is kept (they are equal: a memo's values are pure).
        """
        value = self.get(key)
        if value is None:
            value = make(key)
            self.put(key, value)
        return value
