"""The bounded memo the retriever and BM25 share between a server's question threads."""

from __future__ import annotations

import sys
import threading

import pytest

from rag.memo import BoundedMemo


def test_past_its_size_the_oldest_entry_is_forgotten():
    memo: BoundedMemo[str, int] = BoundedMemo(2)
    memo.put("a", 1)
    memo.put("b", 2)
    memo.put("c", 3)
    assert (memo.get("a"), memo.get("b"), memo.get("c"), len(memo)) == (None, 2, 3, 2)
    assert memo.get_or_make("d", len) == 1 and memo.get("b") is None
    with pytest.raises(ValueError, match="at least one"):
        BoundedMemo(0)


def test_threads_filling_a_full_memo_at_once_neither_fail_nor_overfill_it():
    # A dict evicted with `pop(next(iter(d)))` raised "dictionary changed size during
    # iteration" here, which a server turned into a failed answer.
    memo: BoundedMemo[tuple[int, int], int] = BoundedMemo(64)
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def fill(thread: int) -> None:
        start.wait()
        try:
            for n in range(5_000):
                assert memo.get_or_make((thread, n), lambda key: key[1]) == n
        except BaseException as error:  # noqa: BLE001 - reported below, with its thread
            errors.append(error)

    threads = [threading.Thread(target=fill, args=(t,)) for t in range(8)]
    # Threads switch every microsecond rather than every 5 ms: with Python's default the
    # unlocked dict passed this test every time, with this it failed every time.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == [] and len(memo) == 64
