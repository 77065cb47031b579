"""State transitions of a process handle, shared by every driver (local pipes, SSH channels).

A driver calls :func:`started`, :func:`output` and :func:`ended` from the I/O thread. The
handle's own state (dates, codes, accumulated output) is written here, at once; the
user's handlers get the same events on the handler dispatcher, in order. The handle only
becomes ``ended`` (and its waiters wake) after its handlers have seen everything, so that
code after ``wait()`` can rely on them.

Processes without user handlers, the common case at scale, never touch the dispatcher.
"""

from __future__ import annotations

import codecs
import locale
import logging
import signal
import threading
import time
from typing import Any, Callable, List, Optional

from .dispatcher import KeyedDispatcher
from .handlers import handle_process_output

log = logging.getLogger("execo")

ENCODING = locale.getpreferredencoding(False) or "utf-8"
"""How process output is decoded and stdin encoded (undecodable bytes kept as surrogates)."""


def stream_decoder() -> codecs.IncrementalDecoder:
    """A decoder for one output stream: multibyte characters may straddle two reads."""
    return codecs.getincrementaldecoder(ENCODING)(errors="surrogateescape")


def force_kill_delay(sig: int, auto_force_kill_timeout: Any, kill_timeout: float) -> Optional[float]:
    """Seconds until the SIGKILL that follows a kill, or None: only SIGTERM and SIGINT get
    one, after kill_timeout (True) or the seconds given; False turns it off."""
    if sig not in (signal.SIGTERM, signal.SIGINT) or auto_force_kill_timeout is False:
        return None
    return float(kill_timeout if auto_force_kill_timeout is True else auto_force_kill_timeout)


_dispatcher: Optional[KeyedDispatcher] = None
_dispatcher_lock = threading.Lock()


def dispatcher() -> KeyedDispatcher:
    global _dispatcher
    if _dispatcher is None:
        with _dispatcher_lock:
            if _dispatcher is None:
                _dispatcher = KeyedDispatcher()
    return _dispatcher


def _dispatch(handle: Any, function: Callable[..., None], *args: Any) -> None:
    handle._dispatched = True
    dispatcher().submit(id(handle), function, *args)


def started(handle: Any, error: Optional[BaseException] = None) -> None:
    """The process started, or failed to (then :func:`ended` follows at once)."""
    handle.start_date = time.time()
    handle.started = True
    handle._start_pending = False  # only now: wait() checks one flag, then the other
    if error is not None:
        handle.error = True
        handle.error_reason = error
    if handle.timeout is not None:
        handle.timeout_date = handle.start_date + handle.timeout
    _notify(handle.started_condition, handle.started_event)
    if handle.lifecycle_handlers:
        _dispatch(handle, _call_lifecycle, handle, "start")


def output(handle: Any, stream: int, text: str, eof: bool = False, error: bool = False) -> None:
    """A decoded chunk of a stream (1 = stdout, 2 = stderr)."""
    if eof or error:
        handle._eof[stream] = True
    if text and (handle.default_stdout_handler if stream == 1 else handle.default_stderr_handler):
        handle._output[stream].append(text)
    handlers = handle.stdout_handlers if stream == 1 else handle.stderr_handlers
    if handlers and (text or eof or error):
        _dispatch(handle, _deliver, handle, stream, list(handlers), text, eof, error)


def ended(handle: Any, exit_code: Optional[int], error: Optional[BaseException] = None) -> None:
    """The process is over and every stream reached its end."""
    handle.end_date = time.time()
    handle.exit_code = exit_code
    if error is not None:
        handle.error = True
        if handle.error_reason is None:
            handle.error_reason = error
    if getattr(handle, "retries", 0):
        from . import process_supervisor

        if process_supervisor.intercept(handle):
            return  # failed, and it will be started again after a backoff: not ended
    if handle.lifecycle_handlers or handle._dispatched:
        _dispatch(handle, _finish_after_handlers, handle)
    else:
        _finish(handle)


def _deliver(handle: Any, stream: int, handlers: List[Any], text: str, eof: bool, error: bool) -> None:
    for handler in handlers:
        try:
            handle_process_output(handle, stream, handler, text, eof, error)
        except Exception:
            log.exception("error in output handler %r of %s", handler, handle.name)


def _call_lifecycle(handle: Any, what: str) -> None:
    for handler in list(handle.lifecycle_handlers):
        try:
            getattr(handler, what)(handle)
        except Exception:
            log.exception("error in lifecycle handler %r (%s) of %s", handler, what, handle.name)


def _finish_after_handlers(handle: Any) -> None:
    _call_lifecycle(handle, "end")
    _finish(handle)


def _finish(handle: Any) -> None:
    handle.ended = True
    try:
        handle._log_end()
    except Exception:
        log.exception("error while logging the end of %s", handle.name)
    _notify(handle.ended_condition, handle.ended_event)
    for watcher in list(handle._watchers):
        try:
            watcher(handle)
        except Exception:
            log.exception("error in end watcher %r of %s", watcher, handle.name)


def _notify(condition: threading.Condition, event: threading.Event) -> None:
    event.set()
    with condition:
        condition.notify_all()


def add_output_handler(handle: Any, stream: int, handler: Any, backtrack: bool) -> None:
    """Attach an expect handler; run in the I/O thread so no chunk slips between the
    backlog it is given and the first chunk it receives."""
    backlog = "".join(handle._output[stream]) if backtrack else ""
    handler.add_stream(handle, stream, backlog, handle._eof[stream] or handle.ended)
    (handle.stdout_handlers if stream == 1 else handle.stderr_handlers).append(handler)
