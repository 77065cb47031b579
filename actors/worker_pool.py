"""The controller's side of the connection workers: routing, non-blocking pipes, supervision.

The pool owns no thread and no loop: the controller's I/O loop polls ``fds_to_read()`` and ``fds_to_write()``
(ask again before each poll: a restarted worker has new fds), calls ``handle_readable`` / ``handle_writable``
on what is ready, and ``run_timers()`` once ``next_timeout()`` seconds have passed. Every method returns the
worker events to apply (frames as documented in docs/ssh.md), including the ones the pool makes up itself:
when a worker dies, each process it was running gets an "ended" event whose error says so, and the worker is
restarted after a backoff, at most ``max_restarts`` times in ``restart_window`` seconds (then the pool gives
up on that worker and ends what is sent to it at once with an error). Nothing waits on a dead worker.

A host always goes to the same worker (the pool remembers where each connection key went), so its connection
is reused. Workers are started as hosts come, one per ``HOSTS_PER_WORKER`` hosts up to ``n_workers``, and a
new host goes to the started worker that has the fewest hosts. The threshold weighs a worker's start (about
0.15 s of CPU: Python, paramiko, cryptography) against what it takes over: a new connection costs a worker
about 1.1 ms of CPU, so a second worker pays for itself from about 130 hosts. (At 100 loopback hosts, one
worker against two: cold 0.96-0.98 of asyncssh against 0.97-1.05, warm the same, three runs each.)
A worker is told a host's spec once (a "host" frame naming it by a small number, the hid); the frames for
processes on that host then carry the hid instead of the spec. A restarted worker starts with no hosts.
"""

from __future__ import annotations

import collections
import os
import select
import signal
import subprocess
import sys
import time
from typing import Any, Deque, Dict, List, Optional, Set

from .frames import Frame, FrameReader, FrameWriter
from .ssh_config import Route

WORKER_MODULE = "execo_actors.conn_worker"
HOSTS_PER_WORKER = 128
READ_SIZE = 1024 * 1024


class _Worker:
    """One worker process and its pipes; ``inflight`` holds the ids it owes an "ended" event."""

    def __init__(self, index: int):
        self.index = index
        self.proc: Optional[subprocess.Popen] = None
        self.to_fd = -1
        self.from_fd = -1
        self.writer = FrameWriter()
        self.reader = FrameReader()
        self.inflight: Set[int] = set()
        self.hosts: Dict[bytes, int] = {}  # packed spec -> hid, for this incarnation of the worker
        self.state = "idle"  # idle (never started), running, waiting (restart pending), failed (gave up)
        self.restart_at = 0.0
        self.restarts: Deque[float] = collections.deque()
        self.last_death = ""


class WorkerPool:
    def __init__(self, n_workers: Optional[int] = None, max_restarts: int = 5, restart_window: float = 60.0,
                 backoff: float = 0.05, max_backoff: float = 5.0, python: Optional[str] = None,
                 env: Optional[Dict[str, str]] = None):
        self.n_workers = n_workers or os.cpu_count() or 1
        self.max_restarts = max_restarts
        self.restart_window = restart_window
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.command = [python or sys.executable, "-m", WORKER_MODULE]
        self.env = env
        self.workers = [_Worker(i) for i in range(self.n_workers)]
        self._routes: Dict[Any, _Worker] = {}  # connection key -> its worker, for the pool's life
        self._load = [0] * self.n_workers  # connection keys per worker
        self._by_fd: Dict[int, _Worker] = {}
        self._owner: Dict[int, _Worker] = {}  # id -> the worker running it
        self._hosts: Dict[int, str] = {}  # id -> host name, for error messages
        self.closed = False

    # --- routing -------------------------------------------------------------------------------------------

    def worker_for(self, route: Route) -> "_Worker":
        """The worker of a connection key: the one it had, else the least loaded of those in use."""
        worker = self._routes.get(route.key)
        if worker is None:
            in_use = min(self.n_workers, 1 + len(self._routes) // HOSTS_PER_WORKER)
            index = min(range(in_use), key=self._load.__getitem__)
            self._load[index] += 1
            worker = self._routes[route.key] = self.workers[index]
        return worker

    def send(self, frame: Frame, route: Optional[Route] = None, flush: bool = True) -> List[Frame]:
        """Queue a frame for its worker (starting the worker if needed).

        A frame that starts something names its host by ``route`` (or, for callers that have only a spec, by a
        "host" spec in the frame). With ``flush`` false, nothing is written until :meth:`flush`: a caller
        starting hundreds of processes in one turn of its loop then costs a few writes instead of hundreds.
        """
        if self.closed:
            raise RuntimeError("WorkerPool.send after close()")
        op = frame.get("op")
        if op == "shutdown":
            for worker in self.workers:
                if worker.state == "running":
                    worker.writer.push(frame)
            return self.flush()
        pid = frame.get("id")
        if op in ("exec", "put", "get", "forward"):
            if route is None:
                frame = dict(frame)
                route = Route(frame.pop("host"))
            worker = self.worker_for(route)
            if worker.state == "failed":
                return [self._ended(pid, "connection worker %d gave up after %d restarts in %gs (last: %s); "
                                         "cannot run this on %s" % (worker.index, self.max_restarts,
                                                                    self.restart_window, worker.last_death,
                                                                    route.name))]
            self._owner[pid] = worker
            self._hosts[pid] = route.name
            worker.inflight.add(pid)
            hid = worker.hosts.get(route.packed)
            if hid is None:
                hid = worker.hosts[route.packed] = len(worker.hosts) + 1
                worker.writer.push({"op": "host", "hid": hid, "spec": route.spec})
            frame["hid"] = hid
        else:
            worker = self._owner.get(pid)
            if worker is None:
                return []  # the process already ended: a late write or kill is not an error
        worker.writer.push(frame)
        events: List[Frame] = []
        if worker.state == "idle":
            events = self._start(worker)
        if worker.state == "running" and flush:
            events += self._flush(worker)
        return events

    def prestart(self, hosts: int = 1) -> List[Frame]:
        """Start now the workers that ``hosts`` more hosts would be routed to, among those that never ran (the
        first frame for each would start it anyway, but later: its 0.1-0.2 s of start-up would then delay
        that host's handshakes)."""
        events: List[Frame] = []
        wanted = min(self.n_workers, 1 + (len(self._routes) + max(1, hosts) - 1) // HOSTS_PER_WORKER)
        for worker in self.workers[:wanted]:
            if worker.state == "idle" and not self.closed:
                events += self._start(worker)
        return events

    # --- the I/O loop's interface --------------------------------------------------------------------------

    def fds_to_read(self) -> List[int]:
        return [w.from_fd for w in self.workers if w.state == "running"]

    def fds_to_write(self) -> List[int]:
        return [w.to_fd for w in self.workers if w.state == "running" and w.writer.pending() and w.to_fd >= 0]

    def handle_writable(self, fd: int) -> List[Frame]:
        worker = self._by_fd.get(fd)
        if worker is None or worker.state != "running":
            return []
        return self._flush(worker)

    def handle_readable(self, fd: int) -> List[Frame]:
        worker = self._by_fd.get(fd)
        if worker is None or worker.state != "running":
            return []
        events: List[Frame] = []
        while True:
            try:
                data = os.read(fd, READ_SIZE)
            except BlockingIOError:
                return events
            except OSError as error:
                return events + self._died(worker, "read error: %s" % error)
            if not data:
                return events + self._died(worker, None)
            try:
                frames = worker.reader.feed(data)
            except Exception as error:
                return events + self._died(worker, "corrupt event stream: %s" % error, kill=True)
            for frame in frames:
                if frame.get("ev") == "ended":
                    pid = frame.get("id")
                    worker.inflight.discard(pid)
                    self._owner.pop(pid, None)
                    self._hosts.pop(pid, None)
                events.append(frame)

    def next_timeout(self) -> Optional[float]:
        """Seconds until run_timers() has work (a restart to do), or None."""
        waits = [w.restart_at for w in self.workers if w.state == "waiting"]
        if not waits:
            return None
        return max(0.0, min(waits) - time.monotonic())

    def run_timers(self) -> List[Frame]:
        events: List[Frame] = []
        now = time.monotonic()
        for worker in self.workers:
            if worker.state == "waiting" and worker.restart_at <= now:
                events += self._start(worker)
                if worker.state == "running":
                    events += self._flush(worker)
        return events

    def in_flight(self) -> int:
        return len(self._owner)

    # --- worker lifecycle ----------------------------------------------------------------------------------

    def _start(self, worker: _Worker) -> List[Frame]:
        try:
            proc = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0,
                                    close_fds=True, start_new_session=True, env=self.env)
        except OSError as error:
            return self._died(worker, "cannot start %s: %s" % (" ".join(self.command), error))
        worker.proc = proc
        worker.to_fd = proc.stdin.fileno()
        worker.from_fd = proc.stdout.fileno()
        os.set_blocking(worker.to_fd, False)
        os.set_blocking(worker.from_fd, False)
        worker.reader = FrameReader()
        self._by_fd[worker.to_fd] = worker
        self._by_fd[worker.from_fd] = worker
        worker.state = "running"
        return []

    def _flush(self, worker: _Worker) -> List[Frame]:
        try:
            worker.writer.flush(worker.to_fd)
        except OSError:
            # the worker is gone; its stdout's EOF (soon readable) tells the story and ends its processes
            worker.writer.clear()
        return []

    def flush(self) -> List[Frame]:
        """Write what every running worker's pipe takes now (frames queued with ``flush=False`` included)."""
        events: List[Frame] = []
        for worker in self.workers:
            if worker.state == "running":
                events += self._flush(worker)
        return events

    def _ended(self, pid: Any, error: str) -> Frame:
        return {"ev": "ended", "id": pid, "status": None, "signal": None, "error": error, "t": time.time()}

    def _reap(self, worker: _Worker, kill: bool) -> str:
        proc = worker.proc
        assert proc is not None
        if kill:
            proc.kill()
        try:
            code = proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        for f in (proc.stdin, proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        self._by_fd.pop(worker.to_fd, None)
        self._by_fd.pop(worker.from_fd, None)
        worker.to_fd = worker.from_fd = -1
        worker.proc = None
        if code < 0:
            return "killed by %s" % signal.Signals(-code).name
        return "exit status %d" % code

    def _died(self, worker: _Worker, why: Optional[str], kill: bool = False) -> List[Frame]:
        """A worker's pipe closed: reap it, end its processes with an error, schedule its restart."""
        how = self._reap(worker, kill) if worker.proc is not None else "not running"
        worker.last_death = "%s, %s" % (why, how) if why else how
        events = []
        for pid in sorted(worker.inflight, key=str):
            events.append(self._ended(pid, "connection worker %d died (%s) while this ran on %s"
                                      % (worker.index, worker.last_death, self._hosts.get(pid, "?"))))
            self._owner.pop(pid, None)
            self._hosts.pop(pid, None)
        worker.inflight.clear()
        worker.writer.clear()  # a partly written frame must not reach the next incarnation
        worker.hosts.clear()  # nor a host number it was never told
        now = time.monotonic()
        while worker.restarts and worker.restarts[0] < now - self.restart_window:
            worker.restarts.popleft()
        if len(worker.restarts) >= self.max_restarts:
            worker.state = "failed"
        else:
            worker.state = "waiting"
            worker.restart_at = now + min(self.max_backoff, self.backoff * (2 ** len(worker.restarts)))
            worker.restarts.append(now)
        return events

    def close(self, timeout: float = 5.0) -> List[Frame]:
        """Shut every worker down (their remote commands are killed), reap them; returns their last events."""
        if self.closed:
            return []
        self.closed = True
        events: List[Frame] = []
        running = [w for w in self.workers if w.state == "running"]
        for worker in running:
            worker.writer.push({"op": "shutdown"})
        deadline = time.monotonic() + timeout
        # keep writing the shutdown frames and reading events until every worker closed its stdout
        while running and time.monotonic() < deadline:
            writable = [w.to_fd for w in running if w.writer.pending() and w.to_fd >= 0]
            readable = [w.from_fd for w in running]
            r, wr, _ = select.select(readable, writable, [], max(0.0, deadline - time.monotonic()))
            for fd in wr:
                self._flush(self._by_fd[fd])
            for fd in r:
                worker = self._by_fd[fd]
                events += self.handle_readable(fd)
                if worker.state != "running":
                    running.remove(worker)
        for worker in running:
            events += self._died(worker, "did not stop within %gs" % timeout, kill=True)
        for worker in self.workers:
            worker.state = "failed"
        return events
