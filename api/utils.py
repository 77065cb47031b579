"""Small helpers shared by the execo modules (and public since execo 2.8)."""

from __future__ import annotations

import errno
import functools
import os
import random
import re
import shlex
import socket
import threading
import time
from typing import Any, Callable, Dict, Hashable, Optional

from .config import configuration


def comma_join(*args: str) -> str:
    """Join the non-empty strings with ", "."""
    return ", ".join(arg for arg in args if arg)


def compact_output(s: Any) -> Any:
    """``s`` cut to its first and last halves of ``configuration['compact_output_threshold']``.

    The halves are joined by ``\\n[...]\\n``; a threshold of 0 means no limit.
    Works on str and bytes.
    """
    thresh = configuration.get("compact_output_threshold") or 0
    if thresh <= 0 or len(s) <= thresh:
        return s
    marker = b"\n[...]\n" if isinstance(s, (bytes, bytearray)) else "\n[...]\n"
    head = thresh // 2
    return s[:head] + marker + s[head - thresh:]


def is_string(s: Any) -> bool:
    """Whether ``s`` is a str."""
    return isinstance(s, str)


def str_from_cmdline(cmdline: Any) -> str:
    """A command line as one string: a str unchanged, an argument list shell-quoted."""
    if is_string(cmdline):
        return cmdline
    return " ".join(shlex.quote(os.fspath(arg) if isinstance(arg, os.PathLike) else str(arg))
                    for arg in cmdline)


_WHITESPACE_RE = re.compile(r"\s+")


def name_from_cmdline(cmdline: Any) -> str:
    """A short one-line name for a command: whitespace collapsed, cut to 36 chars + "..." beyond 39."""
    name = _WHITESPACE_RE.sub(" ", str_from_cmdline(cmdline).strip())
    if len(name) > 39:
        name = name[:36] + "..."
    return name


def checked_min(a: Any, b: Any) -> Any:
    """``min(a, b)`` where None means "no bound" and is ignored."""
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def intr_event_wait(event: threading.Event, timeout: Optional[float] = None) -> bool:
    """``event.wait(timeout)`` in slices of ``configuration['intr_period']``.

    A main thread blocked in a long wait does not run signal handlers on every
    platform; short slices let Ctrl-C through. Returns whether the event is set.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            return event.is_set()
        slice_ = checked_min(configuration.get("intr_period"), remaining)
        if event.wait(slice_):
            return True


def non_retrying_intr_cond_wait(cond: threading.Condition, timeout: Optional[float] = None) -> bool:
    """One ``cond.wait`` of at most ``configuration['intr_period']`` (and at most ``timeout``).

    The caller holds ``cond`` and loops on its own predicate. Unlike 2.8, a
    timeout of 0 polls instead of waiting forever.
    """
    return cond.wait(checked_min(configuration.get("intr_period"), timeout))


class _Pending:
    """A computation in progress in one thread, that other threads wait for."""

    __slots__ = ("owner", "done")

    def __init__(self) -> None:
        self.owner = threading.get_ident()
        self.done = threading.Event()


class _OnceTable:
    """Computes each key at most once at a time and keeps the results.

    The lock only guards the dicts: the computation runs outside it, so two
    different keys never wait for each other; a second thread asking for a
    key being computed waits for that result. A failed computation stores
    nothing and the next caller tries again. A thread re-entering its own
    key (recursion) computes it again instead of waiting for itself.
    """

    def __init__(self, results: Dict[Hashable, Any]) -> None:
        self.results = results
        self._pending: Dict[Hashable, _Pending] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        while True:
            with self._lock:
                if key in self.results:
                    return self.results[key]
                pending = self._pending.get(key)
                if pending is None:
                    pending = self._pending[key] = _Pending()
                    mine = True
                else:
                    mine = False
            if not mine:
                if pending.owner == threading.get_ident():
                    return compute()
                pending.done.wait()
                continue
            try:
                value = compute()
                with self._lock:
                    self.results[key] = value
                return value
            finally:
                with self._lock:
                    del self._pending[key]
                pending.done.set()


def memoize(obj: Callable) -> Callable:
    """Decorator caching results by ``str(args) + str(kwargs)``; the cache dict is ``.cache``.

    Works on functions, methods and classes. Thread-safe (2.8 was not): the
    wrapped callable runs once per key even when several threads ask at once.
    """
    cache: Dict[str, Any] = {}
    obj.cache = cache
    table = _OnceTable(cache)

    @functools.wraps(obj)
    def memoizer(*args: Any, **kwargs: Any) -> Any:
        return table.get(str(args) + str(kwargs), lambda: obj(*args, **kwargs))

    memoizer.cache = cache
    return memoizer


_do_once_table = _OnceTable({})


def do_once(key: Hashable, func: Callable, *args: Any, **kwargs: Any) -> Any:
    """Call ``func(*args, **kwargs)`` the first time this (func, key) is seen; return its result ever after.

    Typical use: ``do_once(host, logger.warning, "host %s is slow", host)``
    warns once per host. Thread-safe.
    """
    return _do_once_table.get((func, key), lambda: func(*args, **kwargs))


_port_lock = threading.Lock()
_port_current: Optional[int] = None


def _port_is_free(port: int) -> bool:
    """Whether nothing holds TCP ``port`` on 127.0.0.1 (a bind test, closed at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def get_port() -> int:
    """A TCP port of ``configuration['port_range']`` (start inclusive, end exclusive).

    Thread-safe: the first call starts at a random port, later calls go
    round-robin through the range. Unlike 2.8, ports that are in use on
    127.0.0.1 are skipped (a cheap bind test: a port is free locally only at
    the time of the call, and nothing is known of remote hosts). Raises
    RuntimeError when every port of the range is in use.
    """
    global _port_current
    first, end = configuration["port_range"]
    if not first < end:
        raise ValueError("configuration['port_range'] = %r is empty" % ((first, end),))
    with _port_lock:
        for _ in range(end - first):
            if _port_current is None or not first <= _port_current < end:
                _port_current = random.randrange(first, end)
            else:
                _port_current += 1
                if _port_current >= end:
                    _port_current = first
            if _port_is_free(_port_current):
                return _port_current
    raise RuntimeError("no free port in configuration['port_range'] = %r" % ((first, end),))


def singleton_to_collection(arg: Any) -> Any:
    """None -> [], a str or a non-iterable -> [arg], any other iterable unchanged."""
    if arg is None:
        return []
    if is_string(arg) or not hasattr(arg, "__iter__"):
        return [arg]
    return arg


def _max_fd() -> int:
    try:
        return os.sysconf("SC_OPEN_MAX")
    except (ValueError, OSError, AttributeError):
        return 1024


MAXFD: int = _max_fd()
"""The limit on open file descriptors at import time."""
