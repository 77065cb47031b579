"""Progress of a campaign: a live line on a terminal, periodic log lines otherwise.

A redrawn line is what a person watching a terminal wants; in a log file (``-R``, OAR
output, nohup) carriage returns make a mess, so there a plain line is logged every
`interval` seconds instead.
"""

from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager
from typing import IO, Any, Iterator, Optional

from execo_engine.log import logger

__all__ = ["Progress", "sweeper_progress", "format_eta"]


def format_eta(seconds: Optional[float]) -> str:
    """``1h02m03s`` style, or ``?`` when unknown."""
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return "%dh%02dm%02ds" % (hours, minutes, secs)
    if minutes:
        return "%dm%02ds" % (minutes, secs)
    return "%ds" % secs


class Progress:
    """Shows done/total, the rate and the ETA of a count that grows.

    :param total: how many items there are (can change through update()).
    :param label: the first word of the line.
    :param stream: where a terminal line goes (default stderr); when it is not a terminal,
      lines are logged at INFO on ``execo.engine`` instead.
    :param interval: seconds between two log lines when not on a terminal.
    """

    def __init__(self, total: int, label: str = "progress", stream: Optional[IO[str]] = None,
                 interval: float = 30.0, refresh: float = 0.2):
        self.total = total
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.refresh = refresh
        try:
            self.live = self.stream.isatty()
        except (AttributeError, ValueError):
            self.live = False
        self.done = 0
        self._start = time.monotonic()
        self._start_done: Optional[int] = None
        self._last_show = 0.0
        self._shown = False

    def rate(self) -> Optional[float]:
        """Items per second since the first update (items done before it are not counted)."""
        elapsed = time.monotonic() - self._start
        if self._start_done is None or elapsed <= 0:
            return None
        return (self.done - self._start_done) / elapsed

    def eta(self) -> Optional[float]:
        rate = self.rate()
        if not rate:
            return None
        return max(0, self.total - self.done) / rate

    def line(self) -> str:
        percent = 100.0 * self.done / self.total if self.total else 100.0
        rate = self.rate()
        return "%s %d/%d (%.0f%%) %s/s ETA %s" % (
            self.label, self.done, self.total, percent,
            "?" if rate is None else "%.2f" % rate, format_eta(self.eta()))

    def update(self, done: int, total: Optional[int] = None, force: bool = False) -> None:
        """Record the new count; redraw or log if it is time to."""
        if self._start_done is None:
            self._start_done = done
            self._start = time.monotonic()
        self.done = done
        if total is not None:
            self.total = total
        now = time.monotonic()
        period = self.refresh if self.live else self.interval
        if force or now - self._last_show >= period:
            self._last_show = now
            self._show()

    def _show(self) -> None:
        if self.live:
            self.stream.write("\r\x1b[K" + self.line())
            self.stream.flush()
            self._shown = True
        else:
            logger.info("%s", self.line())

    def close(self) -> None:
        """Show the final count and end the terminal line."""
        self._show()
        if self.live and self._shown:
            self.stream.write("\n")
            self.stream.flush()


@contextmanager
def sweeper_progress(sweeper: Any, label: Optional[str] = None, stream: Optional[IO[str]] = None,
                     interval: float = 30.0, refresh: float = 0.5) -> Iterator[Progress]:
    """Watch a ParamSweeper in a background thread for the duration of a ``with`` block.

    Counts done and skipped combinations, by every process sharing the sweeper.
    """
    total = sweeper.counts()[0]
    progress = Progress(total, label or str(getattr(sweeper, "_name", "sweep")), stream,
                        interval, refresh)
    stop = threading.Event()

    def poll() -> None:
        period = refresh if progress.live else min(interval, 1.0)
        while True:
            sweeper.update()
            total, done, skipped, _, _ = sweeper.counts()
            progress.update(done + skipped, total)
            if stop.wait(period):
                return

    thread = threading.Thread(target=poll, name="sweeper-progress", daemon=True)
    thread.start()
    try:
        yield progress
    finally:
        stop.set()
        thread.join()
        total, done, skipped, _, _ = sweeper.counts()
        progress.update(done + skipped, total, force=False)
        progress.close()
