"""Runs user callbacks (handlers) off the I/O thread, in order per process.

A user's output or lifecycle handler may be slow or may block (waiting on another
process, say). Run in the I/O thread, it would stall every other process; run in a new
thread per call, as the original did, it costs a thread per event. Here, callbacks with the
same key (one process, one action) run one after another, in submission order, while
different keys run in parallel on a small pool whose idle threads go away.
"""

from __future__ import annotations

import collections
import logging
import threading
from typing import Any, Callable, Deque, Dict, Hashable, Tuple

log = logging.getLogger("execo.actors")

Task = Tuple[Callable[..., Any], Tuple[Any, ...]]


class KeyedDispatcher:
    """A thread pool that keeps the order of tasks sharing a key."""

    def __init__(self, max_threads: int = 64, idle_seconds: float = 2.0) -> None:
        self._max_threads = max_threads
        self._idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._work_available = threading.Condition(self._lock)
        self._queues: Dict[Hashable, Deque[Task]] = {}
        self._ready: Deque[Hashable] = collections.deque()
        self._threads = 0
        self._idle = 0

    def submit(self, key: Hashable, function: Callable[..., Any], *args: Any) -> None:
        with self._lock:
            pending = self._queues.get(key)
            if pending is not None:
                pending.append((function, args))
                return
            self._queues[key] = collections.deque([(function, args)])
            self._ready.append(key)
            if self._idle:
                self._work_available.notify()
            elif self._threads < self._max_threads:
                self._threads += 1
                threading.Thread(target=self._work, name="execo-handlers", daemon=True).start()

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._ready:
                    self._idle += 1
                    woken = self._work_available.wait(self._idle_seconds)
                    self._idle -= 1
                    if not woken and not self._ready:
                        self._threads -= 1
                        return
                key = self._ready.popleft()
                pending = self._queues[key]
            while True:
                with self._lock:
                    if not pending:
                        del self._queues[key]
                        break
                    function, args = pending.popleft()
                try:
                    function(*args)
                except Exception:
                    log.exception("error in handler %r", function)

