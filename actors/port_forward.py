"""Local port forwarding inside a connection worker: ``ssh -L`` over a pooled connection.

A Forward listens on a local address and port; each accepted TCP connection gets a
direct-tcpip channel to (remote_host, remote_port) opened from the host, on the host's
pooled transport, so a forwarder costs no new SSH connection when the host is already in
use. The forward is a process as far as the controller knows: "started" once it listens,
an ``out`` line on stream 2 as ``ssh -v`` prints it (the facade watches for that line with
either backend), and one "ended" when it is killed or cannot work (bind refused, host
unreachable). A connection that cannot be forwarded (nothing listens at the far end) is
closed and reported on stream 2; the forward stays up, as with ssh.

Threads: the listener blocks in accept() on a thread of its own and each tunnel copies in
both directions on two threads, so long-lived tunnels never hold the worker's shared pool.
Only the worker's main thread writes frames: every event goes through ``worker.post("call", fn)``.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Dict, Optional, Set, Tuple

import paramiko

from .ssh_connection import ConnectError, HostConnection, error_text

COPY_SIZE = 64 * 1024
LISTEN_BACKLOG = 128


class Forward:
    """One local listening port forwarded through one host."""

    def __init__(self, worker: Any, fid: int, conn: HostConnection, frame: Dict[str, Any]) -> None:
        self.worker = worker
        self.id = fid
        self.conn = conn
        self.bind = str(frame.get("bind") or "127.0.0.1")
        self.port = int(frame["port"])
        self.remote_host = str(frame["remote_host"])
        self.remote_port = int(frame["remote_port"])
        self.listener: Optional[socket.socket] = None
        self.ended = False
        self._lock = threading.Lock()
        self._tunnels: Set[Tuple[socket.socket, Any]] = set()

    # --- main thread -----------------------------------------------------------------------------------

    def start(self) -> None:
        """Bind at once (a bad address fails before any network round trip), then check the connection."""
        where = "%s:%d" % (self.bind, self.port)
        try:
            family, kind, proto, _, address = socket.getaddrinfo(self.bind, self.port, 0, socket.SOCK_STREAM, 0,
                                                                 socket.AI_PASSIVE)[0]
            listener = socket.socket(family, kind, proto)
            try:
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                listener.bind(address)
                listener.listen(LISTEN_BACKLOG)
            except BaseException:
                listener.close()
                raise
        except OSError as error:
            self.end(error="port forward via %s: cannot listen on %s: %s" % (
                self.conn.name, where, getattr(error, "strerror", None) or error))
            return
        self.listener = listener
        self.worker.forwards[self.id] = self
        self.conn.submit(self._check_connection)

    def _listening(self) -> None:
        if self.ended:
            return
        self.worker.emit({"ev": "started", "id": self.id, "t": time.time()})
        self._say("debug1: Local forwarding listening on %s port %d." % (self.bind, self.port))
        threading.Thread(target=self._accept_loop, name="forward-%d" % self.id, daemon=True).start()

    def kill(self, signame: str) -> None:
        self.end(sig=signame)

    def end(self, status: Optional[int] = None, sig: Optional[str] = None, error: Optional[str] = None) -> None:
        """Stop listening, close every tunnel, report the end (once)."""
        if self.ended:
            return
        self.ended = True
        self.worker.forwards.pop(self.id, None)
        if self.listener is not None:
            try:
                self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() of the listener thread
            except OSError:
                pass
            self.listener.close()
        with self._lock:
            tunnels, self._tunnels = self._tunnels, set()
        for client, channel in tunnels:
            _close_pair(client, channel)
        self.worker.emit({"ev": "ended", "id": self.id, "status": status, "signal": sig, "error": error,
                          "t": time.time()})

    def _say(self, line: str) -> None:
        self.worker.emit({"ev": "out", "id": self.id, "stream": 2,
                          "data": (line + "\n").encode("utf-8", "surrogateescape")})

    # --- other threads ---------------------------------------------------------------------------------

    def _post(self, function: Any, *args: Any) -> None:
        self.worker.post("call", lambda: function(*args))

    def _check_connection(self, conn: HostConnection) -> None:
        """Thread pool (serialised per host): listen only once the host accepted us, as ssh does."""
        try:
            conn.open_session().close()
        except ConnectError as error:
            self._post(self.end, None, None, "port forward: %s" % error)
            return
        except (paramiko.SSHException, EOFError, OSError) as error:
            self._post(self.end, None, None, "port forward: %s: %s" % (conn.name, error_text(error)))
            return
        self._post(self._listening)

    def _accept_loop(self) -> None:
        listener = self.listener
        assert listener is not None
        while not self.ended:
            try:
                client, peer = listener.accept()
            except OSError:
                return  # closed by end()
            threading.Thread(target=self._tunnel, args=(client, peer), name="forward-%d-tunnel" % self.id,
                             daemon=True).start()

    def _tunnel(self, client: socket.socket, peer: Any) -> None:
        try:
            channel = self.conn.open_forward(self.remote_host, self.remote_port)
        except ConnectError as error:
            client.close()
            self._post(self._say, "port forward: connection from %s:%s to %s:%d through %s failed: %s" % (
                peer[0], peer[1], self.remote_host, self.remote_port, self.conn.name, error))
            return
        pair = (client, channel)
        with self._lock:
            if self.ended:
                _close_pair(client, channel)
                return
            self._tunnels.add(pair)
        back = threading.Thread(target=_copy_channel_to_socket, args=(channel, client), daemon=True)
        back.start()
        _copy_socket_to_channel(client, channel)
        back.join()
        with self._lock:
            self._tunnels.discard(pair)
        _close_pair(client, channel)


def _copy_socket_to_channel(client: socket.socket, channel: paramiko.Channel) -> None:
    try:
        while True:
            data = client.recv(COPY_SIZE)
            if not data:
                channel.shutdown_write()  # half-close: the far end sees EOF, answers still come back
                return
            channel.sendall(data)
    except (OSError, EOFError, paramiko.SSHException):
        channel.close()


def _copy_channel_to_socket(channel: paramiko.Channel, client: socket.socket) -> None:
    try:
        while True:
            data = channel.recv(COPY_SIZE)
            if not data:
                client.shutdown(socket.SHUT_WR)
                return
            client.sendall(data)
    except (OSError, EOFError, paramiko.SSHException):
        try:
            client.shutdown(socket.SHUT_RDWR)  # unblocks the other direction's recv()
        except OSError:
            pass


def _close_pair(client: socket.socket, channel: Any) -> None:
    try:
        client.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    client.close()
    channel.close()


def start_forward(worker: Any, fid: int, conn: HostConnection, frame: Dict[str, Any]) -> None:
    """The worker's "forward" op."""
    Forward(worker, fid, conn, frame).start()
