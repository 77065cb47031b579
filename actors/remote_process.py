"""The remote process driver: SshProcess and transfers over the connection worker pool.

It plays, for remote processes, the part LocalProcessDriver plays for children: every
method runs in the I/O thread, and the worker events (msgpack frames read from the
workers' pipes, polled by the same loop as the local pipes) drive the same lifecycle
functions. Remote, Report, expect and the handlers therefore need no remote-specific code.
"""

from __future__ import annotations

import itertools
import logging
import signal
from typing import Any, Callable, Dict, List, Optional, Set

from . import lifecycle
from .io_actor import IOActor, Timer
from .ssh_config import SpecError, host_route
from .worker_pool import WorkerPool

log = logging.getLogger("execo")

STDOUT, STDERR = 1, 2


class RemoteError(Exception):
    """Why a remote process could not run or went away (names the host)."""


class _Remote:
    """What the driver knows of one remote process."""

    __slots__ = ("handle", "id", "decoders", "timers", "host")

    def __init__(self, handle: Any, rid: int, host: str) -> None:
        self.handle = handle
        self.id = rid
        self.host = host
        self.decoders = {STDOUT: lifecycle.stream_decoder(), STDERR: lifecycle.stream_decoder()}
        self.timers: List[Timer] = []


def _remote_command(handle: Any) -> str:
    cmd = handle.remote_cmd
    return cmd if isinstance(cmd, str) else " ".join(cmd)


class RemoteProcessDriver:
    """Starts, feeds and kills remote processes through the worker pool."""

    def __init__(self, io: IOActor, config: Callable[[str, Any], Any]) -> None:
        self._io = io
        self._config = config
        self._pool = WorkerPool(n_workers=config("ssh_workers", None))
        self._ids = itertools.count(1)
        self._by_id: Dict[int, _Remote] = {}
        self._by_handle: Dict[int, _Remote] = {}
        self._reading: Set[int] = set()
        self._writing: Set[int] = set()
        self._pool_timer: Optional[Timer] = None
        self._flush_pending = False

    def _send(self, frame: Dict[str, Any], route: Any = None) -> List[Dict[str, Any]]:
        """Queue an op; the pool writes once the loop has served its current batch of messages."""
        events = self._pool.send(frame, route, flush=False)
        if not self._flush_pending:
            self._flush_pending = True
            self._io.call_soon(self._flush)
        return events

    def _flush(self) -> None:
        self._flush_pending = False
        self._apply(self._pool.flush())

    # -- start --------------------------------------------------------------------------

    def start(self, handle: Any) -> None:
        if handle.started:
            return
        try:
            route = host_route(handle.host, handle._params)
        except (SpecError, TypeError, ValueError) as error:
            failure = RemoteError("cannot reach %s: %s" % (handle.host.address, error))
            lifecycle.started(handle, failure)
            lifecycle.ended(handle, None, failure)
            return
        rid = next(self._ids)
        direction = getattr(handle, "direction", None)
        forward = getattr(handle, "_forward", None)  # a PortForwarder: bind, port, remote_host, remote_port
        if forward is not None:
            frame = dict(forward, op="forward", id=rid)
        elif direction is not None:
            frame = {"op": direction, "id": rid, "files": list(handle.files), "dest": handle.destination}
        else:
            frame = {"op": "exec", "id": rid, "cmd": _remote_command(handle), "pty": bool(handle.pty)}
        remote = _Remote(handle, rid, handle.host.address)
        self._by_id[rid] = remote
        self._by_handle[id(handle)] = remote
        lifecycle.started(handle)
        events = self._send(frame, route)
        if handle._stdin_backlog:
            events += self._send({"op": "write", "id": rid, "data": bytes(handle._stdin_backlog)})
        if handle._stdin_close_pending:
            events += self._send({"op": "eof", "id": rid})
        if handle.timeout is not None:
            remote.timers.append(self._io.call_later(max(0.0, handle.timeout), lambda: self._on_timeout(remote)))
        self._apply(events)

    def prestart(self, hosts: int = 1) -> None:
        """Start connection workers ahead of the remote processes of ``hosts`` hosts (see Runtime.prepare_remote)."""
        self._apply(self._pool.prestart(hosts))

    # -- control ------------------------------------------------------------------------

    def kill(self, handle: Any, sig: int, auto_force_kill_timeout: Any) -> None:
        remote = self._by_handle.get(id(handle))
        if remote is None:
            return
        handle.killed = True
        self._apply(self._send({"op": "kill", "id": remote.id, "sig": int(sig)}))
        delay = lifecycle.force_kill_delay(sig, auto_force_kill_timeout, self._config("kill_timeout", 60))
        if delay is not None:
            remote.timers.append(self._io.call_later(delay, lambda: self._force_kill(remote)))

    def _force_kill(self, remote: _Remote) -> None:
        if remote.id in self._by_id:
            remote.handle.forced_kill = True
            self._apply(self._send({"op": "kill", "id": remote.id, "sig": int(signal.SIGKILL)}))

    def _on_timeout(self, remote: _Remote) -> None:
        if remote.id in self._by_id:
            remote.handle.timeouted = True
            self.kill(remote.handle, signal.SIGTERM, True)

    def write(self, handle: Any, data: bytes) -> None:
        remote = self._by_handle.get(id(handle))
        if remote is None:
            if not handle.started:
                handle._stdin_backlog += data
                return
            handle.write_error = True
            level = logging.DEBUG if handle.nolog_write_error else logging.WARNING
            log.log(level, "write error on %s: the process is not running", handle.name)
            return
        self._apply(self._send({"op": "write", "id": remote.id, "data": data}))

    def close_stdin(self, handle: Any) -> None:
        remote = self._by_handle.get(id(handle))
        if remote is None:
            if not handle.started:
                handle._stdin_close_pending = True
            return
        self._apply(self._send({"op": "eof", "id": remote.id}))

    # -- events from the workers --------------------------------------------------------

    def _apply(self, events: List[Dict[str, Any]]) -> None:
        for event in events:
            kind = event.get("ev")
            if kind == "out":
                remote = self._by_id.get(event["id"])
                if remote is not None:
                    stream = event["stream"]
                    lifecycle.output(remote.handle, stream, remote.decoders[stream].decode(event["data"]))
            elif kind == "ended":
                self._ended(event)
            elif kind == "log":
                log.log(event.get("level", logging.INFO), "%s", event.get("msg"))
        self._sync()

    def _ended(self, event: Dict[str, Any]) -> None:
        remote = self._by_id.pop(event["id"], None)
        if remote is None:
            return
        handle = remote.handle
        del self._by_handle[id(handle)]
        for timer in remote.timers:
            timer.cancel()
        for stream in (STDOUT, STDERR):
            lifecycle.output(handle, stream, remote.decoders[stream].decode(b"", True), eof=True)
        status = event.get("status")
        name = event.get("signal")
        if status is None and name:
            try:
                status = -int(signal.Signals["SIG" + name.upper().replace("SIG", "", 1)])
            except KeyError:
                status = None
        error = event.get("error")
        lifecycle.ended(handle, status, RemoteError(error) if error else None)

    # -- the pool's descriptors and timers ----------------------------------------------

    def _sync(self) -> None:
        """Watch exactly the pool's current pipes: a restarted worker has new ones."""
        reading = set(self._pool.fds_to_read())
        for fd in self._reading - reading:
            self._io.unwatch_read(fd)
        for fd in reading - self._reading:
            self._io.watch_read(fd, lambda fd=fd: self._apply(self._pool.handle_readable(fd)))
        self._reading = reading
        writing = set(self._pool.fds_to_write())
        for fd in self._writing - writing:
            self._io.unwatch_write(fd)
        for fd in writing - self._writing:
            self._io.watch_write(fd, lambda fd=fd: self._apply(self._pool.handle_writable(fd)))
        self._writing = writing
        delay = self._pool.next_timeout()
        if self._pool_timer is not None:
            self._pool_timer.cancel()
            self._pool_timer = None
        if delay is not None:
            self._pool_timer = self._io.call_later(delay, lambda: self._apply(self._pool.run_timers()))

    def close(self) -> None:
        """At exit: every worker kills its remote commands and stops."""
        events = self._pool.close()
        for fd in self._reading | self._writing:
            self._io.unwatch(fd)
        self._reading, self._writing = set(), set()
        self._apply_final(events)

    def _apply_final(self, events: List[Dict[str, Any]]) -> None:
        for event in events:
            if event.get("ev") == "ended":
                self._ended(event)
