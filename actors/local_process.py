"""The local process driver: spawns children and serves their pipes inside the I/O actor.

Every method runs in the I/O thread. Children start in their own session
(``start_new_session``, never ``preexec_fn``, which makes each spawn about 3x slower), so a
whole process tree can be signalled with one ``killpg``. Exits arrive as pidfd events:
each child is reaped by its own ``Popen.poll``, never by ``waitpid(-1)``, so code elsewhere
that uses subprocess is not robbed of its children.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import shutil
import subprocess
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import lifecycle
from .io_actor import IOActor, Timer

log = logging.getLogger("execo")

STDOUT, STDERR = 1, 2
READ_SIZE = 65536
# How long a process that exited may keep its output pipes open (through background
# descendants) before it is declared ended anyway.
EOF_GRACE_SECONDS = 0.5
# Without pidfd (Linux < 5.3), exits are found by polling at this period.
POLL_PERIOD = 0.05

_HAS_PIDFD = hasattr(os, "pidfd_open")


class _Child:
    """What the driver knows of one running child."""

    __slots__ = ("handle", "popen", "pid", "pidfd", "fds", "decoders", "stdin_fd",
                 "pending", "close_stdin", "exited", "timers", "group")

    def __init__(self, handle: Any, popen: "subprocess.Popen[bytes]", stdin_fd: int, fds: Dict[int, int], group: bool) -> None:
        self.handle = handle
        self.popen = popen
        self.pid = popen.pid
        self.pidfd = -1
        self.fds = fds
        self.decoders = {stream: lifecycle.stream_decoder() for stream in fds}
        self.stdin_fd = stdin_fd
        self.pending = bytearray()
        self.close_stdin = False
        self.exited = False
        self.timers: List[Timer] = []
        self.group = group


class LocalProcessDriver:
    """Starts, feeds, kills and reaps local children for the I/O actor."""

    def __init__(self, io: IOActor, sentinel: Any, kill_timeout: Callable[[], float]) -> None:
        self._io = io
        self._sentinel = sentinel
        self._kill_timeout = kill_timeout
        self._children: Dict[int, _Child] = {}  # id(handle) -> child

    def running_handles(self) -> List[Any]:
        return [child.handle for child in self._children.values()]

    # -- start --------------------------------------------------------------------------

    def start(self, handle: Any) -> None:
        if handle.started:
            return
        parent_fds: List[int] = []
        child_fds: List[int] = []
        try:
            if handle.pty:
                master, slave = os.openpty()
                parent_fds.append(master)
                child_fds.append(slave)
                os.set_inheritable(master, False)
                stdin_r, stdin_w = slave, master
                stdout_r, stdout_w = master, slave
            else:
                stdin_r, stdin_w = os.pipe2(os.O_CLOEXEC)
                stdout_r, stdout_w = os.pipe2(os.O_CLOEXEC)
                parent_fds += [stdin_w, stdout_r]
                child_fds += [stdin_r, stdout_w]
            stderr_r, stderr_w = os.pipe2(os.O_CLOEXEC)
            parent_fds.append(stderr_r)
            child_fds.append(stderr_w)
            args = handle.popen_args
            popen = subprocess.Popen(
                args, executable=_executable(args, handle.shell, handle.env), shell=handle.shell, stdin=stdin_r, stdout=stdout_w, stderr=stderr_w,
                cwd=handle.cwd, env=handle.env, start_new_session=True, close_fds=True)
        except (OSError, ValueError, TypeError, subprocess.SubprocessError) as error:
            for fd in parent_fds + child_fds:
                _close(fd)
            lifecycle.started(handle, error)
            lifecycle.ended(handle, None, error)
            return
        for fd in child_fds:
            _close(fd)
        for fd in parent_fds:
            os.set_blocking(fd, False)
        group = bool(handle.kill_subprocesses if handle.kill_subprocesses is not None else handle.shell)
        child = _Child(handle, popen, stdin_w, {STDOUT: stdout_r, STDERR: stderr_r}, group)
        self._children[id(handle)] = child
        handle.pid = popen.pid
        handle.process = popen
        handle.stdin_fd, handle.stdout_fd, handle.stderr_fd = stdin_w, stdout_r, stderr_r
        self._sentinel.add(popen.pid)
        for stream, fd in child.fds.items():
            self._io.watch_read(fd, _bind(self._on_readable, child, stream))
        self._watch_exit(child)
        # Told after this burst, when the sentinel's batched registrations are written (they were scheduled
        # first): a script that sees its child started and is then SIGKILLed leaves no orphan behind.
        self._io.call_soon(lambda: lifecycle.started(handle))
        if handle._stdin_backlog or handle._stdin_close_pending:
            child.pending += handle._stdin_backlog
            child.close_stdin = handle._stdin_close_pending
            self._flush(child)
        if handle.timeout is not None:
            child.timers.append(self._io.call_later(max(0.0, handle.timeout), _bind(self._on_timeout, child)))

    def _watch_exit(self, child: _Child) -> None:
        if _HAS_PIDFD:
            try:
                child.pidfd = os.pidfd_open(child.pid)
            except OSError:
                child.pidfd = -1
        if child.pidfd >= 0:
            self._io.watch_read(child.pidfd, _bind(self._on_exit, child))
        else:
            child.timers.append(self._io.call_later(POLL_PERIOD, _bind(self._poll_exit, child)))

    # -- output -------------------------------------------------------------------------

    def _on_readable(self, child: _Child, stream: int) -> None:
        fd = child.fds.get(stream)
        if fd is None:
            return
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError as error:
            if error.errno != errno.EIO:  # EIO: a pty whose other side is closed: its end
                setattr(child.handle, "stdout_ioerror" if stream == STDOUT else "stderr_ioerror", error)
            data = b""
        if data:
            lifecycle.output(child.handle, stream, child.decoders[stream].decode(data))
            return
        self._close_stream(child, stream)
        self._maybe_end(child)

    def _close_stream(self, child: _Child, stream: int) -> None:
        fd = child.fds.pop(stream)
        self._io.unwatch(fd)
        if not (child.handle.pty and stream == STDOUT):  # the pty master is also stdin: closed at the end
            _close(fd)
        lifecycle.output(child.handle, stream, child.decoders[stream].decode(b"", True), eof=True)

    def _drain(self, child: _Child) -> None:
        """Read what is left in the pipes, then close them: used when the grace expires."""
        for stream in list(child.fds):
            fd = child.fds[stream]
            while True:
                try:
                    data = os.read(fd, READ_SIZE)
                except OSError:
                    break
                if not data:
                    break
                lifecycle.output(child.handle, stream, child.decoders[stream].decode(data))
            self._close_stream(child, stream)

    # -- exit ---------------------------------------------------------------------------

    def _on_exit(self, child: _Child) -> None:
        if child.popen.poll() is None:
            return
        self._io.unwatch(child.pidfd)
        _close(child.pidfd)
        child.pidfd = -1
        self._exited(child)

    def _poll_exit(self, child: _Child) -> None:
        if child.popen.poll() is None:
            child.timers.append(self._io.call_later(POLL_PERIOD, _bind(self._poll_exit, child)))
        else:
            self._exited(child)

    def _exited(self, child: _Child) -> None:
        child.exited = True
        if child.fds:
            child.timers.append(self._io.call_later(EOF_GRACE_SECONDS, _bind(self._grace_expired, child)))
        self._maybe_end(child)

    def _grace_expired(self, child: _Child) -> None:
        if id(child.handle) in self._children:
            self._drain(child)
            self._maybe_end(child)

    def _maybe_end(self, child: _Child) -> None:
        if not child.exited or child.fds:
            return
        del self._children[id(child.handle)]
        self._sentinel.remove(child.pid)
        for timer in child.timers:
            timer.cancel()
        if child.stdin_fd >= 0:
            self._io.unwatch(child.stdin_fd)
            _close(child.stdin_fd)
            child.stdin_fd = -1
        lifecycle.ended(child.handle, child.popen.returncode)

    # -- kill and timeout ---------------------------------------------------------------

    def kill(self, handle: Any, sig: int, auto_force_kill_timeout: Any) -> None:
        child = self._children.get(id(handle))
        if child is None:
            return
        handle.killed = True
        self._signal(child, sig)
        delay = lifecycle.force_kill_delay(sig, auto_force_kill_timeout, self._kill_timeout())
        if delay is not None:
            child.timers.append(self._io.call_later(delay, _bind(self._force_kill, child)))

    def _force_kill(self, child: _Child) -> None:
        if id(child.handle) not in self._children:
            return
        if not child.exited or child.group:
            child.handle.forced_kill = True
            self._signal(child, signal.SIGKILL)

    def _on_timeout(self, child: _Child) -> None:
        if id(child.handle) in self._children:
            child.handle.timeouted = True
            self.kill(child.handle, signal.SIGTERM, True)

    def _signal(self, child: _Child, sig: int) -> None:
        try:
            if child.group:
                os.killpg(child.pid, sig)
            elif not child.exited:
                if child.pidfd >= 0:
                    signal.pidfd_send_signal(child.pidfd, sig)
                else:
                    os.kill(child.pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            if child.handle.pty and STDOUT in child.fds:
                self._close_stream(child, STDOUT)  # as the original: hang up the pty instead

    # -- stdin --------------------------------------------------------------------------

    def write(self, handle: Any, data: bytes) -> None:
        child = self._children.get(id(handle))
        if child is None and not handle.started:
            handle._stdin_backlog += data  # written when the start comes (actions start later)
            return
        if child is None or child.stdin_fd < 0:
            self._write_failed(handle, OSError(errno.EPIPE, "process %s is not running" % handle.name))
            return
        child.pending += data
        self._flush(child)

    def close_stdin(self, handle: Any) -> None:
        child = self._children.get(id(handle))
        if child is None and not handle.started:
            handle._stdin_close_pending = True
            return
        if child is None or child.stdin_fd < 0:
            return
        child.close_stdin = True
        self._flush(child)

    def _flush(self, child: _Child) -> None:
        fd = child.stdin_fd
        try:
            while child.pending:
                written = os.write(fd, child.pending)
                del child.pending[:written]
        except BlockingIOError:
            self._io.watch_write(fd, _bind(self._flush, child))
            return
        except OSError as error:
            child.pending.clear()
            self._io.unwatch_write(fd)
            self._write_failed(child.handle, error)
            return
        self._io.unwatch_write(fd)
        if child.close_stdin and not child.handle.pty:
            _close(fd)
            child.stdin_fd = -1
            child.handle.stdin_fd = None

    @staticmethod
    def _write_failed(handle: Any, error: OSError) -> None:
        handle.write_error = True
        level = logging.DEBUG if handle.nolog_write_error else logging.WARNING
        log.log(level, "write error on %s: %s", handle.name, error)

    # -- shutdown -----------------------------------------------------------------------

    def kill_all(self, sig: int = signal.SIGTERM) -> None:
        """At exit: signal every running child's whole process group."""
        for child in list(self._children.values()):
            try:
                os.killpg(child.pid, sig)
            except OSError:
                pass


_executables: Dict[Tuple[str, str], str] = {}


def _executable(args: Any, shell: bool, env: Optional[Dict[str, str]]) -> Optional[str]:
    """Where the command's program is, remembered per PATH.

    Popen otherwise tries each PATH entry in turn for every spawn, a sizeable part of its
    cost. Only found programs are remembered; anything unusual is left to Popen.
    """
    if shell or not isinstance(args, (list, tuple)) or not args or env is not None:
        return None
    name = args[0]
    if not isinstance(name, str) or "/" in name:
        return None
    key = (name, os.environ.get("PATH", os.defpath))
    path = _executables.get(key)
    if path is None:
        path = shutil.which(name, path=key[1])
        if path is None:
            return None
        _executables[key] = path
    return path


def _bind(function: Callable[..., None], *args: Any) -> Callable[[], None]:
    return lambda: function(*args)


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
