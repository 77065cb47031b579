"""The process supervisor: restarts a failed process that asked for retries.

A process handle with ``retries = N > 0`` is supervised. When one of its attempts fails,
:func:`intercept` (called by ``lifecycle.ended`` in the I/O thread, before anything sees
the end) decides whether to try again. If so the handle is *not* ended: its waiters keep
waiting, its action does not hear of an end, and the supervisor actor takes over. After the
backoff (``retry_backoff`` seconds, doubled at each retry) the actor has the handle's
lifecycle handlers' ``reset`` run on the handler dispatcher (after the failed attempt's
last output), then the I/O thread clears the attempt's state and starts the process again
through its usual driver. The last attempt ends the handle as usual.

What is retried: an error (could not start, host unreachable, connection lost) unless
``ignore_error``, a non-zero exit code unless ``ignore_exit_code``, and a timeout only with
``retry_timeout``. What is not: a success, a process killed by the user (``kill()``, also
during a backoff: it then ends at once with the failed attempt's state).

Each decision is one message; a thousand failing hosts cost a thousand messages to one
actor and a thousand timers in the I/O loop's heap, not a thread each.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any, Dict, Optional

import pykka

from . import lifecycle

log = logging.getLogger("execo")

RESTARTABLE = ("local", "ssh")  # the drivers that can start a process again by itself


def failure_reason(handle: Any) -> Optional[str]:
    """Why this attempt failed in a way worth retrying, or None (success, or not to retry)."""
    if handle.error and not handle.ignore_error:
        return "error: %s" % (handle.error_reason,)
    if handle.timeouted and not handle.ignore_timeout:
        return "timeout after %gs" % (handle.timeout,) if handle.retry_timeout else None
    if handle.killed:
        return None
    if handle.exit_code not in (0, None) and not handle.ignore_exit_code:
        return "exit code %s" % (handle.exit_code,)
    return None


def intercept(handle: Any) -> bool:
    """In the I/O thread, from lifecycle.ended: True when the supervisor will start it again."""
    if handle._retry_cancelled or len(handle.failures) >= handle.retries:
        return False
    if handle._driver not in RESTARTABLE:
        return False  # a TaktukProcess is one share of a taktuk run: it cannot start again alone
    reason = failure_reason(handle)
    if reason is None:
        return False
    handle.failures.append(reason)
    _actor().tell(("failed", handle, reason))
    return True


def kill_requested(handle: Any) -> None:
    """From ProcessBase.kill, any thread: never retry it again; end at once if it waits for a retry."""
    handle._retry_cancelled = True
    ref = _supervisor_ref
    if ref is not None:
        try:
            ref.tell(("due", handle))
        except pykka.ActorDeadError:
            pass


class ProcessSupervisor(pykka.ThreadingActor):
    """Owns the backoffs: which handles wait for a retry, and when they restart."""

    use_daemon_thread = True

    def __init__(self) -> None:
        super().__init__()
        self._waiting: Dict[int, Any] = {}  # id(handle) -> handle, during its backoff

    def on_receive(self, message: Any) -> Any:
        kind, handle = message[0], message[1]
        if kind == "failed":
            self._failed(handle, message[2])
        elif kind == "due":
            self._due(handle)
        elif kind == "waiting":
            return len(self._waiting)
        return None

    def _failed(self, handle: Any, reason: str) -> None:
        retry = len(handle.failures)
        delay = float(handle.retry_backoff) * 2 ** (retry - 1)
        where = " on %s" % (handle.host.address,) if getattr(handle, "host", None) is not None else ""
        log.info("%s%s failed (%s): retry %d of %d in %gs", handle.name, where, reason, retry, handle.retries, delay)
        self._waiting[id(handle)] = handle
        if handle._retry_cancelled:  # killed after intercept() but before this message: no wait
            self._due(handle)
            return
        ref = self.actor_ref
        from .runtime import get_runtime

        runtime = get_runtime()
        runtime.post(lambda: runtime.io.call_later(delay, lambda: _tell(ref, ("due", handle))))

    def _due(self, handle: Any) -> None:
        if self._waiting.pop(id(handle), None) is None:
            return  # already restarted (a kill came first, then the timer)
        if handle.lifecycle_handlers and not handle._retry_cancelled:
            # after the failed attempt's last output, in the order its handlers see everything
            lifecycle.dispatcher().submit(id(handle), _reset_handlers_then_restart, handle)
        else:
            _post_restart(handle)


def _tell(ref: Any, message: Any) -> None:
    try:
        ref.tell(message)
    except pykka.ActorDeadError:
        pass


def _reset_handlers_then_restart(handle: Any) -> None:
    for handler in list(handle.lifecycle_handlers):
        try:
            handler.reset(handle)
        except Exception:
            log.exception("error in lifecycle handler %r (reset) of %s", handler, handle.name)
    _post_restart(handle)


def _post_restart(handle: Any) -> None:
    from .runtime import get_runtime

    get_runtime().post(_restart, handle)


def _restart(handle: Any) -> None:
    """In the I/O thread: start the next attempt, or end the handle if it was killed meanwhile."""
    if handle.ended:
        return
    if handle._retry_cancelled:
        # it ends as the failed attempt left it: that failure is the final state, not a previous attempt's
        handle.failures.pop()
        lifecycle.ended(handle, handle.exit_code)  # intercept() now says no
        return
    kept_cancelled = handle._retry_cancelled  # a kill() racing with us still wins
    # the attempt's state goes, but not what waiters hold (events, conditions) nor the record of failures
    kept = (handle.started_event, handle.started_condition, handle.ended_event, handle.ended_condition,
            handle.failures, handle._expect_handlers)
    handle._init_state()
    (handle.started_event, handle.started_condition, handle.ended_event, handle.ended_condition,
     handle.failures, handle._expect_handlers) = kept
    handle._retry_cancelled = handle._retry_cancelled or kept_cancelled
    handle._start_pending = True
    from .runtime import get_runtime

    get_runtime().driver(handle).start(handle)


_supervisor_ref: Any = None
_lock = threading.Lock()


def _actor() -> Any:
    global _supervisor_ref
    ref = _supervisor_ref
    if ref is None or not ref.is_alive():
        with _lock:
            if _supervisor_ref is None or not _supervisor_ref.is_alive():
                _supervisor_ref = ProcessSupervisor.start()
            ref = _supervisor_ref
    return ref


def waiting_count(timeout: float = 5.0) -> int:
    """How many processes wait for a retry (for tests and monitoring)."""
    ref = _supervisor_ref
    return 0 if ref is None else ref.ask(("waiting", None), timeout=timeout)


def _forget_in_child() -> None:
    global _supervisor_ref, _lock
    _supervisor_ref = None
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_in_child)
