"""The runtime: started on first use, stopped at interpreter exit.

The facade talks to the runtime only through :func:`get_runtime` and the few methods
below. Start, kill and write are fire-and-forget messages to the I/O actor (``tell``):
starting a thousand processes costs a thousand queue puts, not a thousand round trips.
"""

from __future__ import annotations

import atexit
import logging
import signal
import threading
from typing import Any, Callable, Optional

import pykka

from .io_actor import IOActor
from .local_process import LocalProcessDriver
from .sentinel import ChildSentinel, NoSentinel

log = logging.getLogger("execo")


def _config(key: str, default: Any) -> Any:
    """Read execo's configuration lazily: the runtime does not import the facade."""
    import sys

    config = sys.modules.get("execo.config")
    if config is None:
        return default
    return config.configuration.get(key, default)


class Runtime:
    """Owns the I/O actor and its drivers."""

    def __init__(self) -> None:
        self.kill_childs_at_end = bool(_config("kill_childs_at_end", True))
        kill_timeout = lambda: float(_config("kill_timeout", 60))
        created: list = []
        self.io_ref = IOActor.start(created)
        self.io: IOActor = created[0]
        self.sentinel = ChildSentinel(5.0, self.io.call_soon) if self.kill_childs_at_end else NoSentinel()
        self.local = LocalProcessDriver(self.io, self.sentinel, kill_timeout)
        self._remote: Any = None
        self._remote_lock = threading.Lock()
        self._remote_prepared = 0  # the most hosts prepare_remote was told of

    # -- messages to the I/O actor ------------------------------------------------------

    def post(self, function: Callable[..., Any], *args: Any) -> None:
        """Run ``function(*args)`` in the I/O thread, without waiting."""
        self.io_ref.tell((function, args))

    def call(self, function: Callable[..., Any], *args: Any, timeout: Optional[float] = None) -> Any:
        """Run ``function(*args)`` in the I/O thread and return its result."""
        if threading.get_ident() == self.io.thread_ident:
            return function(*args)
        return self.io_ref.ask((function, args), timeout=timeout)

    def driver(self, handle: Any) -> Any:
        return self.local if handle._driver == "local" else self.remote()

    def remote(self) -> Any:
        if self._remote is None:
            from .remote_process import RemoteProcessDriver  # only when SSH is used

            with self._remote_lock:  # handles are made and started from any thread
                if self._remote is None:
                    self._remote = RemoteProcessDriver(self.io, _config)
        return self._remote

    def prepare_remote(self, hosts: int = 1) -> None:
        """Remote processes for ``hosts`` hosts were made: start the connection workers they will need now, in
        the background, so that their 0.1-0.2 s of start-up each overlaps with whatever the script does
        before starting the processes (asked again only for more hosts than before)."""
        if hosts > self._remote_prepared:
            self._remote_prepared = hosts
            self.post(self.remote().prestart, hosts)

    def start(self, handle: Any) -> None:
        self.post(self.driver(handle).start, handle)

    def kill(self, handle: Any, sig: int, auto_force_kill_timeout: Any) -> None:
        self.post(self.driver(handle).kill, handle, sig, auto_force_kill_timeout)

    def write(self, handle: Any, data: bytes) -> None:
        self.post(self.driver(handle).write, handle, data)

    def close_stdin(self, handle: Any) -> None:
        self.post(self.driver(handle).close_stdin, handle)

    # -- shutdown -----------------------------------------------------------------------

    def shutdown(self) -> None:
        if self.kill_childs_at_end:
            try:
                self.call(self.local.kill_all, signal.SIGTERM, timeout=5)
            except Exception:
                pass
        if self._remote is not None:
            try:
                self.call(self._remote.close, timeout=10)
            except Exception:
                pass
        self.sentinel.close()
        try:
            self.io_ref.stop(timeout=5)
        except Exception:
            pass


_runtime: Optional[Runtime] = None
_lock = threading.Lock()


def get_runtime() -> Runtime:
    """The process-wide runtime, started on first use."""
    global _runtime
    runtime = _runtime
    if runtime is None:
        with _lock:
            if _runtime is None:
                _runtime = Runtime()
                atexit.register(_shutdown)
            runtime = _runtime
    return runtime


def _shutdown() -> None:
    global _runtime
    with _lock:
        runtime, _runtime = _runtime, None
    if runtime is not None:
        runtime.shutdown()
    pykka.ActorRegistry.stop_all(block=False)


def _forget_in_child() -> None:
    """A forked child inherits the singleton but not the threads behind it."""
    global _runtime, _lock
    _runtime = None
    _lock = threading.Lock()


import os as _os

_os.register_at_fork(after_in_child=_forget_in_child)
