"""A connection worker process: ``python -m execo_actors.conn_worker``.

It reads op frames on stdin and writes event frames on stdout (see docs/ssh.md). Its main thread is one poll
loop (selectors) over the command pipe, a wakeup pipe and the sockets of every authenticated connection: it
reads their packets itself (ssh_loop.py), so a command's channel is opened, started, read and closed by this
loop with no thread hand-off, and its output is forwarded in order as soon as it arrives. What blocks
(connecting and authenticating, file transfers, port forwards) runs on a thread pool, serialised per host by
HostConnection.submit, and reports back through an inbox; only the main thread writes frames.

When stdin closes (the controller died) or a shutdown op arrives, remote commands are killed by process
group where known, every channel and transport is closed, and the process exits.
"""

from __future__ import annotations

import logging
import os
import queue
import heapq
import re
import selectors
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional

if __name__ == "__main__":
    # paramiko.config imports invoke when installed, for ssh_config's "Match exec", which only the controller
    # reads: 50 ms of imports at each worker start otherwise
    sys.modules.setdefault("invoke", None)  # type: ignore[arg-type]

import paramiko  # noqa: E402

from . import port_forward, sftp_transfer
from .frames import FrameReader, pack
from .ssh_connection import (PGID_MARKER, ConnectError, HostConnection, Registry, _Link, error_text, kill_command,
                             wrap_command)
from .ssh_loop import LoopSocket, TransportLoop

log = logging.getLogger("execo_actors.conn_worker")

READ_SIZE = 256 * 1024
STDIN_CHUNK = 32 * 1024
KILL_WAIT = 10.0  # seconds a kill command may take on the host
_MARKER_LINE = re.compile(re.escape(PGID_MARKER) + rb"(\d+)\r?\n")


def signal_name(sig: Any) -> str:
    """15 -> 'TERM', 'SIGKILL' -> 'KILL': the spelling of ssh's signal requests and of kill -s."""
    if isinstance(sig, str):
        name = sig.upper()
        return name[3:] if name.startswith("SIG") else name
    return signal.Signals(int(sig)).name[3:]


class RemoteProc:
    """One exec or transfer, as the main thread sees it."""

    def __init__(self, pid: int, conn: HostConnection, kind: str, pty: bool = False, wrapped: bool = True):
        self.id = pid
        self.conn = conn
        self.kind = kind  # exec, put or get
        self.pty = pty
        self.channel: Optional[paramiko.Channel] = None
        self.sftp: Optional[paramiko.SFTPClient] = None
        self.pgid: Optional[int] = None
        self.stdin = bytearray()
        self.eof_wanted = False
        self.eof_sent = False
        self.cancelled: Optional[str] = None  # a kill that came before the channel
        self.killed: Optional[str] = None  # the last signal we delivered
        self.pending_kill: Optional[str] = None  # a kill waiting for the pgid marker
        self.marker_pending = wrapped and kind == "exec"
        self.marker_stream = 1 if pty else 2  # with a pty, stderr goes through the terminal too
        self.marker_buf = b""
        self.ended = False


class _KillWatch:
    """A `kill` command run for a process group (see ConnWorker._remote_kill)."""

    def __init__(self, conn: HostConnection, pgid: int, target: paramiko.Channel, pty: bool):
        self.conn = conn
        self.pgid = pgid
        self.target = target
        self.pty = pty
        self.channel: Optional[paramiko.Channel] = None
        self.done = False


class ConnWorker:
    def __init__(self, in_fd: int = 0, out_fd: int = 1, threads: int = 256):
        self.in_fd = in_fd
        self.out_fd = out_fd
        self.reader = FrameReader()
        self.out = bytearray()  # events not written yet (see emit)
        self.selector = selectors.DefaultSelector()
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ssh")
        self.loop = TransportLoop(self._register_socket, self._unregister_socket, self._socket_wants_write,
                                  self.call, self.later)
        if os.environ.get("EXECO_SSH_THREADS") == "1":  # paramiko's thread per connection reads it (bench A/B)
            self.registry = Registry(self.executor)
        else:
            self.registry = Registry(self.executor, loop=self.loop)
        self.procs: Dict[int, RemoteProc] = {}
        self.hosts: Dict[int, Any] = {}  # hid -> HostConnection, or why its spec is bad (see _add_host)
        self.forwards: Dict[int, port_forward.Forward] = {}  # local port forwards (see port_forward.py)
        self.inbox: "queue.SimpleQueue[tuple]" = queue.SimpleQueue()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        os.set_blocking(self.in_fd, False)
        self.selector.register(self.in_fd, selectors.EVENT_READ, "ops")
        self.selector.register(self.wake_r, selectors.EVENT_READ, "wake")
        self.running = True
        self.writers: List[RemoteProc] = []
        self.dirty: Dict[int, Any] = {}  # channels with news since the last turn: id(owner) -> owner
        self.timers: List[tuple] = []  # (when, seq, fn) heap
        self._timer_seq = 0
        self.kills_in_flight = 0

    # --- talking to the controller -------------------------------------------------------------------------

    def emit(self, frame: Dict[str, Any]) -> None:
        """Queue an event for the controller; the queue goes out in one write at the end of the loop's turn.

        Every system call releases the GIL, and while hundreds of connection threads run handshakes the loop
        then waits its turn to get it back: one write per turn instead of one per event keeps it responsive.
        """
        self.out += pack(frame)

    def flush_events(self) -> None:
        data = memoryview(self.out)
        try:
            while data:
                data = data[os.write(self.out_fd, data):]
        except OSError:  # the controller is gone: shut down, nobody reads our events any more
            self.running = False
        finally:
            data.release()
            self.out.clear()

    def post(self, *message: Any) -> None:
        """From any thread: hand a message to the main loop."""
        self.inbox.put(message)
        try:
            os.write(self.wake_w, b"!")
        except BlockingIOError:
            pass  # the pipe is full of wakeups already

    def call(self, fn: Any, *args: Any) -> None:
        """Run fn(*args) in the main loop: now when already there, else through the inbox."""
        if self.loop.in_loop():
            fn(*args)
        else:
            self.post("call", lambda: fn(*args))

    def later(self, delay: float, fn: Any) -> None:
        self._timer_seq += 1
        heapq.heappush(self.timers, (time.monotonic() + delay, self._timer_seq, fn))

    def _register_socket(self, sock: LoopSocket) -> None:
        self.selector.register(sock.fileno(), selectors.EVENT_READ, sock)

    def _unregister_socket(self, sock: LoopSocket) -> None:
        try:
            self.selector.unregister(sock.fileno())
        except (KeyError, ValueError, OSError):
            pass

    def _socket_wants_write(self, sock: LoopSocket, on: bool) -> None:
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if on else 0)
        try:
            self.selector.modify(sock.fileno(), events, sock)
        except (KeyError, ValueError, OSError):
            pass

    def _notify(self, channel: paramiko.Channel) -> None:
        """A channel had news (any thread): its owner is serviced at the end of the loop's turn."""
        owner = channel.__dict__.get("execo_owner")
        if owner is None:
            return
        if self.loop.in_loop():
            self.dirty[id(owner)] = owner
        else:
            self.post("dirty", owner)

    def ended(self, proc: RemoteProc, status: Optional[int] = None, sig: Optional[str] = None,
              error: Optional[str] = None) -> None:
        if proc.ended:
            return
        proc.ended = True
        self.procs.pop(proc.id, None)
        if proc.channel is not None:
            proc.channel.close()
        self.emit({"ev": "ended", "id": proc.id, "status": status, "signal": sig, "error": error,
                   "t": time.time()})

    # --- ops -----------------------------------------------------------------------------------------------

    def handle_op(self, frame: Dict[str, Any]) -> None:
        op = frame.get("op")
        if op == "shutdown":
            self.running = False
            return
        if op == "host":
            self._add_host(frame)
            return
        pid = frame.get("id")
        if op in ("exec", "put", "get", "forward"):
            if pid in self.procs or pid in self.forwards:
                self.emit({"ev": "log", "level": logging.ERROR, "msg": "duplicate id %r in %s op" % (pid, op)})
                return
            conn = self.hosts.get(frame["hid"]) if "hid" in frame else self._connection(frame.get("host"))
            if not isinstance(conn, HostConnection):
                self.emit({"ev": "ended", "id": pid, "status": None, "signal": None,
                           "error": conn or "unknown host number %r" % frame.get("hid"), "t": time.time()})
                return
            if op == "forward":
                port_forward.start_forward(self, pid, conn, frame)
            elif op == "exec":
                proc = RemoteProc(pid, conn, op, bool(frame.get("pty")), frame.get("wrap", True))
                self.procs[pid] = proc
                command = wrap_command(frame["cmd"]) if proc.marker_pending else frame["cmd"]
                self.open_session(conn, lambda chan, error, p=proc, cmd=command: self._exec_opened(p, cmd, chan,
                                                                                                   error))
            else:
                proc = RemoteProc(pid, conn, op)
                self.procs[pid] = proc
                files, dest = list(frame.get("files") or []), frame.get("dest") or "."
                conn.submit(lambda c, p=proc: self._start_transfer(c, p, files, dest))
            return
        proc = self.procs.get(pid)
        if proc is None:
            forward = self.forwards.get(pid)
            if forward is not None and op == "kill":
                forward.kill(signal_name(frame.get("sig", signal.SIGTERM)))
            return  # already ended: a late write or kill is not an error
        if op == "write":
            proc.stdin += frame.get("data") or b""
            self._pump_stdin(proc)
        elif op == "eof":
            proc.eof_wanted = True
            self._pump_stdin(proc)
        elif op == "kill":
            self._kill(proc, signal_name(frame.get("sig", signal.SIGTERM)))
        else:
            self.emit({"ev": "log", "level": logging.ERROR, "msg": "unknown op %r" % (op,)})

    def _add_host(self, frame: Dict[str, Any]) -> None:
        """A "host" op: the spec that later ops name by its number (hid)."""
        self.hosts[frame.get("hid")] = self._connection(frame.get("spec"))

    def _connection(self, spec: Any) -> Any:
        """The HostConnection for a spec, or the error text that ends the processes meant for it."""
        try:
            return self.registry.get(spec)
        except Exception as error:
            return "bad host spec %r: %s" % (spec, error)

    # --- sessions opened by the loop ------------------------------------------------------------------------

    def open_session(self, conn: HostConnection, on_open: Any) -> None:
        """Main loop: open a session channel without waiting; on_open(channel, error) runs in the main loop.

        With no connection that has room, on_open waits in the host's queue while one connection is made (one
        handshake for every command waiting on that host; see HostConnection.connect).
        """
        if not self.running and self.kills_in_flight == 0:
            on_open(None, ConnectError("%s: connection worker shutting down" % conn.name))
            return
        link = conn.link_with_room()
        if link is None:
            conn.waiting.append(on_open)
            if not conn.connecting:
                conn.connecting = True
                conn.connect(lambda error: self._connected(conn, error), self.call)
            return
        link.opening += 1
        try:
            link.transport.open_session_nowait(
                lambda chan, error: self.call(self._opened, conn, link, on_open, chan, error), self._notify)
        except (paramiko.SSHException, EOFError, OSError) as error:
            link.opening -= 1
            self._opened(conn, link, on_open, None, error)

    def _connected(self, conn: HostConnection, error: Optional[BaseException]) -> None:
        conn.connecting = False
        waiting = list(conn.waiting)
        conn.waiting.clear()
        for on_open in waiting:
            if error is not None:
                on_open(None, error)
            else:
                self.open_session(conn, on_open)

    def _opened(self, conn: HostConnection, link: _Link, on_open: Any, chan: Optional[paramiko.Channel],
                error: Optional[BaseException]) -> None:
        link.opening = max(0, link.opening - 1)
        if chan is not None:
            link.channels.append(chan)
            on_open(chan, None)
            return
        if isinstance(error, paramiko.ChannelException) and link.transport.is_active():
            live = link.live()
            if live == 0 and link.opening == 0:
                on_open(None, ConnectError("%s: the server refuses every new session: %s" % (
                    conn.name, error.text or error)))
                return
            conn.max_sessions = max(1, live)  # OpenSSH's MaxSessions: the next session goes on another connection
        self.open_session(conn, on_open)  # on another connection, or a new one when this one is gone

    # --- exec ----------------------------------------------------------------------------------------------

    def _exec_opened(self, proc: RemoteProc, command: str, channel: Optional[paramiko.Channel],
                     error: Optional[BaseException]) -> None:
        if channel is None:
            if not proc.ended:
                text = str(error) if isinstance(error, ConnectError) else "%s: cannot start the command: %s" % (
                    proc.conn.name, error_text(error))
                self.ended(proc, error=text)
            return
        if proc.ended:
            channel.close()
            return
        transport = channel.get_transport()
        try:
            if proc.pty:
                transport.send_request(channel, "pty-req", os.environ.get("TERM", "vt100"), 80, 24, 0, 0, b"")
            transport.send_request(channel, "exec", command)
        except (paramiko.SSHException, EOFError, OSError) as error:
            channel.close()
            self.ended(proc, error="%s: cannot start the command: %s" % (proc.conn.name,
                                                                        error_text(error)))
            return
        channel.setblocking(False)
        channel.execo_owner = proc
        proc.channel = channel
        self.emit({"ev": "started", "id": proc.id, "t": time.time()})
        if proc.cancelled:
            self._kill(proc, proc.cancelled)
        self._pump_stdin(proc)
        self._service(proc)  # the connection may have ended already

    def _service(self, proc: RemoteProc) -> None:
        channel = proc.channel
        if channel is None or proc.ended:
            return
        while channel.recv_ready():
            data = channel.recv(READ_SIZE)
            if not data:
                break
            self._output(proc, 1, data)
        while channel.recv_stderr_ready():
            data = channel.recv_stderr(READ_SIZE)
            if not data:
                break
            self._output(proc, 2, data)
        if channel.closed and not channel.recv_ready() and not channel.recv_stderr_ready():
            self._flush_marker(proc)
            self._finish(proc)

    def _output(self, proc: RemoteProc, stream: int, data: bytes) -> None:
        if proc.marker_pending and stream == proc.marker_stream:
            buf = proc.marker_buf + data
            if b"\n" not in buf and len(buf) < 64 and (PGID_MARKER.startswith(buf[:len(PGID_MARKER)])):
                proc.marker_buf = buf
                return
            proc.marker_pending = False
            proc.marker_buf = b""
            match = _MARKER_LINE.match(buf)
            if match:
                proc.pgid = int(match.group(1))
                buf = buf[match.end():]
            if proc.pending_kill:  # with the pgid, or with the fallback when the login shell printed no marker
                signame, proc.pending_kill = proc.pending_kill, None
                self._kill(proc, signame)
            data = buf
            if not data:
                return
        self.emit({"ev": "out", "id": proc.id, "stream": stream, "data": bytes(data)})

    def _flush_marker(self, proc: RemoteProc) -> None:
        if proc.marker_pending and proc.marker_buf:
            self.emit({"ev": "out", "id": proc.id, "stream": proc.marker_stream, "data": proc.marker_buf})
        proc.marker_pending = False
        proc.marker_buf = b""

    def _finish(self, proc: RemoteProc) -> None:
        channel = proc.channel
        assert channel is not None
        sig = getattr(channel, "exit_signal", None)
        if channel.exit_status >= 0:
            self.ended(proc, status=channel.exit_status)
        elif sig:
            self.ended(proc, sig=sig)
        elif proc.killed:
            self.ended(proc, sig=proc.killed)
        elif getattr(channel, "refused", False):
            self.ended(proc, error="%s: the server refused to start the command (its %s request failed)" % (
                proc.conn.name, "pty or exec" if proc.pty else "exec"))
        else:
            transport = channel.get_transport()
            if transport is None or not transport.is_active():
                cause = transport.get_exception() if transport is not None else None
                self.ended(proc, error="%s: connection lost while the command ran%s" % (
                    proc.conn.name, " (%s)" % error_text(cause) if cause is not None else ""))
            else:
                self.ended(proc, error="%s: the server closed the channel without an exit status" % proc.conn.name)

    def _pump_stdin(self, proc: RemoteProc) -> None:
        channel = proc.channel
        if channel is None or proc.ended:
            return
        try:
            while proc.stdin and channel.send_ready():
                sent = channel.send(bytes(proc.stdin[:STDIN_CHUNK]))
                if sent <= 0:
                    break
                del proc.stdin[:sent]
            if proc.eof_wanted and not proc.stdin and not proc.eof_sent:
                channel.shutdown_write()
                proc.eof_sent = True
        except (OSError, EOFError, paramiko.SSHException) as error:
            proc.stdin.clear()
            self.emit({"ev": "log", "level": logging.WARNING,
                       "msg": "%s: write to process %s failed: %s" % (proc.conn.name, proc.id, error)})
        if proc.stdin and proc not in self.writers:
            self.writers.append(proc)

    # --- kill ----------------------------------------------------------------------------------------------

    def _kill(self, proc: RemoteProc, signame: str) -> None:
        if proc.kind != "exec":
            proc.killed = signame
            if proc.sftp is not None:
                proc.sftp.close()  # the transfer thread fails and reports the kill
            else:
                proc.cancelled = signame
                self.ended(proc, sig=signame)  # still connecting: end now, not after the connect timeout
            return
        if proc.channel is None:
            proc.cancelled = signame
            self.ended(proc, sig=signame)  # still connecting: the late channel, if any, is closed unused
            return
        if proc.pgid is None and proc.marker_pending:
            proc.pending_kill = signame  # the marker is on its way: kill when it arrives
            return
        proc.killed = signame
        if proc.pgid is not None:
            pgid, channel = proc.pgid, proc.channel
            self._remote_kill(proc.conn, pgid, signame, channel, proc.pty)
        else:
            # not wrapped: the "signal" request works for non-root logins; closing a pty sends SIGHUP
            self._send_signal_request(proc.channel, signame)
            if proc.pty or signame == "KILL":
                self._close_channel(proc.channel)

    def _close_channel(self, channel: paramiko.Channel) -> None:
        """Close a channel from the loop; its owner is serviced (paramiko tells nobody of our own closes)."""
        channel.close()
        self._notify(channel)

    @staticmethod
    def _send_signal_request(channel: paramiko.Channel, signame: str) -> None:
        message = paramiko.Message()
        message.add_byte(paramiko.common.cMSG_CHANNEL_REQUEST)
        message.add_int(channel.remote_chanid)
        message.add_string("signal")
        message.add_boolean(False)
        message.add_string(signame)
        try:
            channel.transport._send_user_message(message)
        except Exception:
            pass

    def _remote_kill(self, conn: HostConnection, pgid: int, signame: str, target: paramiko.Channel,
                     pty: bool) -> None:
        """Run `kill -s SIG -- -PGID` on the host in a session of its own, closing target if that fails."""
        if target.closed:
            return
        watch = _KillWatch(conn, pgid, target, pty)
        self.kills_in_flight += 1

        def opened(channel: Optional[paramiko.Channel], error: Optional[BaseException]) -> None:
            if channel is None or watch.done:
                if channel is not None:
                    channel.close()
                self._kill_done(watch, error)
                return
            watch.channel = channel
            channel.execo_owner = watch
            try:
                channel.get_transport().send_request(channel, "exec", kill_command(pgid, signame))
            except (paramiko.SSHException, EOFError, OSError) as send_error:
                self._kill_done(watch, send_error)

        self.open_session(conn, opened)
        self.later(KILL_WAIT, lambda: self._kill_done(watch, ConnectError(
            "%s: kill command did not answer in %gs" % (conn.name, KILL_WAIT))))

    def _kill_done(self, watch: "_KillWatch", error: Optional[BaseException]) -> None:
        if watch.done:
            return
        watch.done = True
        self.kills_in_flight -= 1
        if watch.channel is not None:
            watch.channel.close()
        if error is not None:
            self.emit({"ev": "log", "level": logging.WARNING,
                       "msg": "%s: could not kill process group %d: %s; closing its channel%s"
                       % (watch.conn.name, watch.pgid, error, " (SIGHUP through the pty)" if watch.pty else "")})
            self._close_channel(watch.target)

    # --- transfers -----------------------------------------------------------------------------------------

    def _start_transfer(self, conn: HostConnection, proc: RemoteProc, files: List[str], dest: str) -> None:
        if proc.cancelled or not self.running:
            self.post("done", proc, None, proc.cancelled, None if proc.cancelled else "worker shutting down")
            return
        try:
            channel = conn.open_session()
            channel.invoke_subsystem("sftp")
            sftp = paramiko.SFTPClient(channel)
        except ConnectError as error:
            self.post("failed", proc, str(error))
            return
        except (paramiko.SSHException, EOFError, OSError) as error:
            self.post("failed", proc, "%s: cannot start SFTP: %s" % (conn.name, error_text(error)))
            return
        self.post("sftp", proc, sftp, time.time())
        self.executor.submit(self._transfer, conn, proc, sftp, files, dest)

    def _transfer(self, conn: HostConnection, proc: RemoteProc, sftp: paramiko.SFTPClient, files: List[str],
                  dest: str) -> None:
        def report(line: str) -> None:
            self.post("out", proc, 2, (line + "\n").encode("utf-8", "surrogateescape"))

        status: Optional[int] = None
        error = None
        try:
            run = sftp_transfer.put if proc.kind == "put" else sftp_transfer.get
            status = run(sftp, files, dest, report)
        except Exception as exc:
            if not proc.killed:
                transport = sftp.get_channel().get_transport()
                if transport is not None and not transport.is_active():  # say why the connection went
                    cause = transport.get_exception()
                    reason = "connection lost" + (" (%s)" % error_text(cause) if cause is not None else "")
                else:
                    reason = error_text(exc)
                error = "%s: %s failed: %s" % (conn.name, proc.kind, reason)
        finally:
            sftp.close()
        if proc.killed:
            self.post("done", proc, None, proc.killed, None)
        else:
            self.post("done", proc, status, None, error)

    # --- main loop -----------------------------------------------------------------------------------------

    def _inbox(self) -> None:
        while True:
            try:
                message = self.inbox.get_nowait()
            except queue.Empty:
                return
            kind = message[0]
            if kind == "log":
                self.emit({"ev": "log", "level": message[1], "msg": message[2]})
                continue
            if kind == "call":  # a function to run in the main thread
                message[1]()
                continue
            if kind == "dirty":  # a channel read by a transport's own thread had news
                self.dirty[id(message[1])] = message[1]
                continue
            proc: RemoteProc = message[1]
            if proc.ended:
                continue
            if kind == "sftp":
                proc.sftp = message[2]
                self.emit({"ev": "started", "id": proc.id, "t": message[3]})
                if proc.cancelled:
                    self._kill(proc, proc.cancelled)
            elif kind == "failed":
                self.ended(proc, error=message[2])
            elif kind == "out":
                self.emit({"ev": "out", "id": proc.id, "stream": message[2], "data": message[3]})
            elif kind == "done":
                self.ended(proc, status=message[2], sig=message[3], error=message[4])

    def _read_ops(self) -> None:
        while True:
            try:
                data = os.read(self.in_fd, READ_SIZE)
            except BlockingIOError:
                return
            if not data:
                self.running = False  # the controller closed our stdin or died
                return
            try:
                frames = self.reader.feed(data)
            except Exception as error:
                self.emit({"ev": "log", "level": logging.CRITICAL, "msg": "corrupt op stream: %s" % error})
                self.running = False
                return
            for frame in frames:
                self.handle_op(frame)

    def run(self) -> None:
        while self.running:
            self._turn(None)
        self.shutdown()

    def _turn(self, limit: Optional[float]) -> None:
        """One poll: ops, inbox, connections' packets; then the channels with news, timers and output."""
        timeout = limit
        if self.writers:
            timeout = 0.005 if timeout is None else min(timeout, 0.005)
        if self.timers:
            due = max(0.0, self.timers[0][0] - time.monotonic())
            timeout = due if timeout is None else min(timeout, due)
        for key, mask in self.selector.select(timeout):
            data = key.data
            if data == "ops":
                self._read_ops()
            elif data == "wake":
                try:
                    while os.read(self.wake_r, 4096):
                        pass
                except BlockingIOError:
                    pass
                self._inbox()
            elif isinstance(data, LoopSocket):
                if mask & selectors.EVENT_WRITE:
                    self.loop.writable(data)
                if mask & selectors.EVENT_READ:
                    self.loop.readable(data)
            if not self.running and limit is None:
                break
        self._service_dirty()
        while self.timers and self.timers[0][0] <= time.monotonic():
            heapq.heappop(self.timers)[2]()
        if self.writers:
            writers, self.writers = self.writers, []
            for proc in writers:
                self._pump_stdin(proc)
        self._service_dirty()
        self.loop.flush()
        self.flush_events()

    def _service_dirty(self) -> None:
        while self.dirty:
            dirty, self.dirty = self.dirty, {}
            for owner in dirty.values():
                if isinstance(owner, RemoteProc):
                    self._service(owner)
                elif owner.channel is not None and owner.channel.closed:
                    self._kill_done(owner, None)

    def shutdown(self, wait: float = 3.0) -> None:
        """End every remote command (kill its process group, close its channel) and every connection."""
        self.running = False
        for proc in list(self.procs.values()):
            if proc.channel is not None and proc.pgid is not None and not proc.channel.closed:
                self._remote_kill(proc.conn, proc.pgid, "TERM", proc.channel, proc.pty)
        deadline = time.monotonic() + wait
        while self.kills_in_flight > 0 and time.monotonic() < deadline:
            self._turn(min(0.05, max(0.0, deadline - time.monotonic())))
        for forward in list(self.forwards.values()):
            forward.end(error="%s: connection worker shut down" % forward.conn.name)
        for proc in list(self.procs.values()):
            if proc.sftp is not None:
                proc.sftp.close()
            self.ended(proc, error="%s: connection worker shut down" % proc.conn.name)
        self.registry.close_all()
        self.loop.flush()
        self.flush_events()
        self.executor.shutdown(wait=False, cancel_futures=True)


def main() -> None:
    # frames own the real stdout; anything else printing by mistake goes to stderr instead of corrupting them
    out_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)  # we report connection errors ourselves
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the controller decides when we stop
    worker = ConnWorker(in_fd=0, out_fd=out_fd)
    try:
        worker.run()
    finally:
        sys.stderr.flush()
        os._exit(0)  # do not wait for pool threads stuck on frozen hosts


if __name__ == "__main__":
    main()
