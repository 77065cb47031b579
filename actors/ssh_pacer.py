"""The bound on handshakes in flight in one connection worker: in all, per gateway and per target address.

A gateway's sshd drops unauthenticated connections beyond MaxStartups (10 by default): flooding it with 500
handshakes at once would turn into random failures instead of a slightly longer wait. One Pacer per worker
counts every handshake, whichever way it is made: the loop's (ssh_handshake.py) queue a callback, the
blocking ones (ssh_connection.py, on the thread pool) wait in :meth:`Pacer.slot`.
"""

from __future__ import annotations

import collections
import threading
from contextlib import contextmanager
from typing import Any, Callable, Deque, Dict, Iterator, List, Tuple

from .ssh_config import connection_key

Limits = List[Tuple[Any, int]]  # (counter key, its bound)


class Pacer:
    def __init__(self, total: int = 64, per_gateway: int = 8, per_target: int = 4):
        self.total = total
        self.per_gateway = per_gateway
        self.per_target = per_target
        self._lock = threading.Lock()
        self._in_flight: Dict[Any, int] = collections.defaultdict(int)
        self._waiting: Deque[Tuple[Limits, Callable[[], None]]] = collections.deque()

    def _limits(self, spec: Dict[str, Any]) -> Limits:
        limits: Limits = [(("target", spec["address"], spec["port"]), self.per_target), ("total", self.total)]
        if spec.get("proxy_jump"):
            limits.append((("gateway",) + connection_key(spec["proxy_jump"]), self.per_gateway))
        return limits

    def queue(self, spec: Dict[str, Any], start: Callable[[], None]) -> None:
        """start() once the handshake to spec's host may begin: now, or from the thread that frees a slot
        (a caller that needs its own thread passes a start() that gets there). :meth:`release` after it."""
        with self._lock:
            self._waiting.append((self._limits(spec), start))
            starts = self._take_what_fits()
        for begin in starts:
            begin()

    def release(self, spec: Dict[str, Any]) -> None:
        with self._lock:
            for key, _ in self._limits(spec):
                self._in_flight[key] -= 1
                if not self._in_flight[key]:
                    del self._in_flight[key]
            starts = self._take_what_fits()
        for begin in starts:
            begin()

    @contextmanager
    def slot(self, spec: Dict[str, Any]) -> Iterator[None]:
        """Blocking: hold a slot for the duration of the with block."""
        ready = threading.Event()
        self.queue(spec, ready.set)
        ready.wait()
        try:
            yield
        finally:
            self.release(spec)

    def _take_what_fits(self) -> List[Callable[[], None]]:
        """Under the lock: the waiters that fit now, in order (one over a limit does not hold up the others)."""
        starts: List[Callable[[], None]] = []
        kept: Deque[Tuple[Limits, Callable[[], None]]] = collections.deque()
        while self._waiting and self._in_flight["total"] < self.total:
            limits, start = self._waiting.popleft()
            if any(self._in_flight[key] >= bound for key, bound in limits):
                kept.append((limits, start))
                continue
            for key, _ in limits:
                self._in_flight[key] += 1
            starts.append(start)
        kept.extend(self._waiting)
        self._waiting = kept
        return starts
