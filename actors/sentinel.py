"""The child sentinel: kills our children when the controller dies, even by SIGKILL.

PR_SET_PDEATHSIG would need a ``preexec_fn`` (3x slower spawns) and only reaches direct
children. Instead, a small helper process holds the read end of a pipe; the controller
writes ``+pid`` when a child starts and ``-pid`` when it is reaped. Every child leads its
own process group, so when the pipe reaches end of file (the controller is gone, however
it died) the sentinel signals each group still registered: SIGTERM, then SIGKILL to
whatever is left after a grace period.

Run as ``python -m execo_actors.sentinel GRACE_SECONDS``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from typing import Callable, Optional, Set


class ChildSentinel:
    """The controller's side: registers children with the helper process."""

    def __init__(self, grace_seconds: float, schedule_flush: Callable[[Callable[[], None]], None]) -> None:
        """``schedule_flush`` runs a callable once the current burst of events is over:
        registrations are batched into one write per loop round, not one per child."""
        self._grace = grace_seconds
        self._schedule_flush = schedule_flush
        self._buffer = bytearray()
        self._lock = threading.Lock()
        self._process: Optional["subprocess.Popen[bytes]"] = None
        self._fd = -1

    def _ensure_started(self) -> None:
        if self._process is None:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "execo_actors.sentinel", str(self._grace)],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, start_new_session=True)
            assert self._process.stdin is not None
            self._fd = self._process.stdin.fileno()

    def _send(self, line: bytes) -> None:
        if not self._buffer:
            self._schedule_flush(self.flush)
        self._buffer += line

    def flush(self) -> None:
        with self._lock:
            try:
                self._ensure_started()
                while self._buffer:
                    written = os.write(self._fd, self._buffer)
                    del self._buffer[:written]
            except OSError:
                self._buffer.clear()

    def add(self, pid: int) -> None:
        """Batched: the flush is scheduled at the first child of a burst, and the local driver tells of each
        start after it (local_process.py), so no script sees a child started before it is registered."""
        self._send(b"+%d\n" % pid)

    def remove(self, pid: int) -> None:
        self._send(b"-%d\n" % pid)

    def close(self) -> None:
        """Normal exit: the helper kills what is still registered, then exits."""
        self.flush()
        with self._lock:
            if self._process is not None and self._process.stdin is not None:
                try:
                    self._process.stdin.close()
                except OSError:
                    pass


class NoSentinel:
    """Used when kill_childs_at_end is off: children outlive the controller."""

    def add(self, pid: int) -> None:
        pass

    def remove(self, pid: int) -> None:
        pass

    def close(self) -> None:
        pass


def _alive(groups: Set[int]) -> Set[int]:
    alive = set()
    for pgid in groups:
        try:
            os.killpg(pgid, 0)
            alive.add(pgid)
        except OSError:
            pass
    return alive


def main() -> None:
    grace = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    groups: Set[int] = set()
    rest = b""
    while True:
        data = os.read(0, 65536)
        if not data:
            break
        lines = (rest + data).split(b"\n")
        rest = lines.pop()
        for line in lines:
            if line[:1] == b"+":
                groups.add(int(line[1:]))
            elif line[:1] == b"-":
                groups.discard(int(line[1:]))
    for pgid in groups:
        try:
            os.killpg(pgid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + grace
    while groups and time.monotonic() < deadline:
        time.sleep(0.05)
        groups = _alive(groups)
    for pgid in groups:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass


if __name__ == "__main__":
    main()
