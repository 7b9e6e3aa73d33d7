"""A backend's pieces read in a thread of their own, for a stream that must keep talking.

A language model on this machine's cores may read its prompt for many seconds before its
first word. Read in the thread that writes the stream, that silence reaches the client
(and any proxy between) as a dead connection; read here, the stream's writer waits on a
queue with a timeout and can say it is alive on every tick (`rag.api.chat_completions`).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

# What `PiecePump.get` returns: ("piece", a str or the Answer), ("end", None),
# ("error", the exception the pieces raised) or ("waiting", None) when nothing came in time.
Event = tuple[str, Any]


class PiecePump:
    """Iterates `pieces` in a daemon thread; the reader takes them with `get(timeout)`.

    `stop()` asks the thread to end: it closes `pieces` (a backend's generator closes its
    connection to the model) at the next piece, as a blocked read cannot be interrupted.
    """

    def __init__(self, pieces: Iterator[Any]) -> None:
        self._events: queue.Queue[Event] = queue.Queue()
        self._head: Event | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(pieces,), name="rag-answer-pieces", daemon=True
        )
        self._thread.start()

    def _run(self, pieces: Iterator[Any]) -> None:
        try:
            for piece in pieces:
                if self._stopping.is_set():
                    return
                self._events.put(("piece", piece))
            self._events.put(("end", None))
        except Exception as error:  # the reader raises it, where the request is answered
            self._events.put(("error", error))
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()

    def get(self, timeout: float) -> Event:
        """The next event, or ("waiting", None) after `timeout` seconds without one."""
        if self._head is not None:
            head, self._head = self._head, None
            return head
        try:
            return self._events.get(timeout=timeout)
        except queue.Empty:
            return ("waiting", None)

    def wait_first(self, timeout: float) -> None:
        """Wait up to `timeout` for the first event, raising it if it is an error.

        So an error of retrieval (no index, a damaged one) still becomes the response's
        status; a backend slower than `timeout` is waited for inside the stream.
        """
        event = self.get(timeout)
        if event[0] == "error":
            raise event[1]
        if event[0] != "waiting":
            self._head = event

    def stop(self, wait_s: float) -> None:
        """Ask the thread to end and wait up to `wait_s` for it (a model still reading its
        prompt keeps it until its first word)."""
        self._stopping.set()
        self._thread.join(wait_s)
