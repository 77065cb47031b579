"""Retries of failed processes (beyond execo 2.8): the ``retries`` keyword of every process.

``Process(cmd, retries=2)``, ``SshProcess(cmd, host, retries=2, retry_backoff=5)`` and
``Remote(cmd, hosts, process_args={"retries": 2})`` restart a process that failed, up to
``retries`` more times, after ``retry_backoff`` seconds doubled at each retry. The handle
stays one handle: ``wait()`` returns after the last attempt, ``stdout``/``exit_code``/...
are those of the last attempt, ``attempts`` counts the starts and ``failures`` lists why
the earlier ones failed. :func:`supervise` sets the same policy on a process already built
(a PortForwarder, the processes of an action). The work is done by the process supervisor
actor (``execo_actors.process_supervisor``); docs/supervision.md tells the whole story.
"""

from __future__ import annotations

from typing import Any, Tuple

from .time_utils import get_seconds

__all__ = ["supervise", "check_retry_args"]


def check_retry_args(retries: Any, retry_backoff: Any, retry_timeout: Any, owner: str) -> Tuple[int, float, bool]:
    """Validated (retries, retry_backoff, retry_timeout); errors name the owner and the argument."""
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise TypeError("%s: argument retries must be an int >= 0, got %r" % (owner, retries))
    try:
        backoff = None if isinstance(retry_backoff, bool) else get_seconds(retry_backoff)
    except (TypeError, ValueError):
        backoff = None
    if backoff is None or backoff < 0:
        raise TypeError("%s: argument retry_backoff must be a number of seconds >= 0, got %r" % (owner, retry_backoff))
    if not isinstance(retry_timeout, bool):
        raise TypeError("%s: argument retry_timeout must be True or False, got %r" % (owner, retry_timeout))
    return retries, float(backoff), retry_timeout


def supervise(process: Any, retries: int = 3, retry_backoff: Any = 1.0, retry_timeout: bool = False) -> Any:
    """Give ``process`` (not started yet) a retry policy; returns it, so calls chain.

    ``supervise(PortForwarder(...), retries=5).start()``; for an action:
    ``for p in action.processes: supervise(p, 2)``.
    """
    if process.started or process._start_pending:
        raise ValueError("supervise(): %s is already started; set the retries before start()" % (process.name,))
    process.retries, process.retry_backoff, process.retry_timeout = check_retry_args(
        retries, retry_backoff, retry_timeout, "supervise")
    return process
