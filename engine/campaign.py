"""run_combinations: the usual get_next / work / done loop, with bounded retries."""

from __future__ import annotations

from typing import Any, Callable, Hashable, Optional

from execo_engine.log import logger

__all__ = ["run_combinations"]


def run_combinations(sweeper: Any, work: Callable[[Hashable], Any], max_attempts: int = 3,
                     filtr: Optional[Callable] = None) -> int:
    """Call ``work(combination)`` for each todo combination of `sweeper` until none is left.

    A combination whose `work` returns is marked done. One whose `work` raises is
    retried (now or by another worker) until it has failed `max_attempts` times, then
    skipped with the last error as its reason (see ParamSweeper.get_skip_reasons()).
    A KeyboardInterrupt (or any BaseException that is not an Exception) gives the
    combination back (cancel) and is re-raised. Returns how many combinations were done
    by this call.
    """
    done = 0
    while True:
        combination = sweeper.get_next(filtr)
        if combination is None:
            return done
        try:
            work(combination)
        except Exception as exc:
            reason = "%s: %s" % (type(exc).__name__, exc)
            logger.warning("combination %s failed: %s", combination, reason)
            sweeper.failed(combination, reason, max_attempts)
        except BaseException:
            sweeper.cancel(combination)
            raise
        else:
            sweeper.done(combination)
            done += 1
