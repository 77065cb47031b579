"""New connections made by the connection worker's own loop: TCP connect, banners, key exchange and
authentication, with no thread at all.

paramiko's way is blocking: ``start_client`` starts a thread per transport, and ``auth_publickey`` waits in the
caller's thread for each answer. With hundreds of hosts that is two threads per handshake taking turns under
the GIL, and a parked thread per connection for its whole life. Here the loop that already reads established
connections (ssh_loop.py) reads them from their first byte: :class:`LoopHandshake` sends what paramiko's
thread would send, lets :func:`ssh_loop.dispatch` hand each packet to paramiko's own handlers (the key
exchange and the authentication code are paramiko's), and moves on when they have done their part. Deadlines
are the loop's timers.

Not every connection can go this way: one through a ProxyJump gateway (its socket is a channel of the
gateway's connection) or a ProxyCommand keeps paramiko's thread (ssh_connection.py). So does a host whose
key files are refused when ssh-agent may hold the right key (the agent's calls block), and a server that
offers neither AES-GCM nor an encrypt-then-MAC MAC (OpenSSH before 6.2; the loop needs packet lengths in
clear, so only those are offered here): the handshake fails, says why in ``wants_blocking``, and the host is
reached the blocking way from then on.
"""

from __future__ import annotations

import errno
import os
import socket
import threading
from concurrent.futures import Executor
from typing import Any, Callable, Dict, List, Optional, Tuple

import paramiko
from paramiko.common import MSG_KEXINIT

from .ssh_loop import LoopSocket, TransportLoop
from .ssh_pacer import Pacer
from .ssh_transport import Transport

MAX_BANNER_LINES = 100  # lines a server may send before its version (paramiko's limit)
MAX_LINE = 8192


class LoopHandshake:
    """One new connection to ``conn``'s host, made in the loop; ``on_done(transport, None)`` or
    ``on_done(None, ConnectError)`` runs once, in the loop, when it is authenticated or has failed."""

    def __init__(self, conn: Any, loop: TransportLoop, pacer: Pacer, executor: Executor,
                 on_done: Callable[[Optional[Transport], Optional[BaseException]], None]):
        self.conn = conn
        self.loop = loop
        self.pacer = pacer
        self.executor = executor
        self.on_done = on_done
        self.target = (conn.spec["address"], conn.spec["port"])
        self.phase = "waiting"  # waiting, resolving, connecting, banner, kex, auth, done
        self.paced = False
        self.wants_blocking = ""  # why the blocking way should try again: ssh-agent's keys, or an old server
        self.addresses: List[Any] = []  # getaddrinfo's answers not tried yet
        self.sock: Optional[LoopSocket] = None
        self.transport: Optional[Transport] = None
        self.banner_read = False
        self.banner_lines = 0
        self.known: Dict[str, paramiko.PKey] = {}
        self.candidates: List[Tuple[str, Any]] = []
        self.problems: List[str] = []
        self.tried: List[str] = []
        self.auth_event: Optional[threading.Event] = None
        self.stage = 0  # which deadline is the current one (see _enter)

    # --- the phases, in order ------------------------------------------------------------------------------

    def start(self) -> None:
        self.pacer.queue(self.conn.spec, lambda: self.loop.call(self._begin))  # may be freed by a pool thread

    def _begin(self) -> None:
        self.paced = True
        self._enter("resolving")
        try:
            self.known = self.conn.known_keys()
        except Exception as error:  # a known_hosts file that cannot be read (ConnectError)
            self._fail(error)
            return
        address, port = self.target
        try:  # a numeric address needs no resolver
            infos = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
        except socket.gaierror:
            self.executor.submit(self._resolve)  # a name: the resolver may block, so not in the loop
            return
        self._connect(infos)

    def _resolve(self) -> None:
        try:
            result: Any = socket.getaddrinfo(self.target[0], self.target[1], type=socket.SOCK_STREAM)
        except OSError as error:
            result = error
        self.loop.call(self._connect, result)

    def _connect(self, infos: Any) -> None:
        if self.phase != "resolving":
            return  # timed out meanwhile
        if isinstance(infos, BaseException):
            self._fail(self.conn.connect_failed(infos))
            return
        self.addresses = list(infos)
        self.phase = "connecting"  # the deadline of "resolving" goes on
        self._try_next(None)

    def _try_next(self, error: Optional[OSError]) -> None:
        """Connect to the next address of the host (as OpenSSH, each in turn), or fail with the last error."""
        if self.sock is not None:  # the previous address failed
            self.sock.handshake = None
            self.sock.close()
            self.sock = None
        if not self.addresses:
            self._fail(self.conn.connect_failed(error or OSError(errno.EHOSTUNREACH, "no address")))
            return
        family, kind, proto, _, address = self.addresses.pop(0)
        raw = socket.socket(family, kind, proto)
        raw.setblocking(False)
        # without it, Nagle's algorithm and delayed ACKs add 40 ms to every channel open (OpenSSH sets it too)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock = self.sock = LoopSocket(raw, self.loop)
        sock.adopted = True  # the loop reads it from the first byte
        sock.handshake = self
        code = raw.connect_ex(address)
        if code not in (0, errno.EINPROGRESS):
            self._try_next(OSError(code, os.strerror(code)))
            return
        self.loop.watch_connect(sock)

    def connected(self) -> None:
        """The loop: the socket became writable, the TCP connection is made (or refused)."""
        assert self.sock is not None
        code = self.sock.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            self._try_next(OSError(code, os.strerror(code)))
            return
        self.transport = transport = Transport(self.sock)
        transport.prefer_key_types(self.known)
        self._enter("banner")
        transport.start_in_loop()
        self.sock.send((transport.local_version + "\r\n").encode())

    def read_banner(self, inbuf: bytearray) -> bool:
        """The loop, with bytes in: True once the server's version line is read (what follows are packets)."""
        transport = self.transport
        assert transport is not None
        while True:
            end = inbuf.find(b"\n")
            if end < 0:
                if len(inbuf) > MAX_LINE:
                    raise paramiko.SSHException("Error reading SSH protocol banner: a line longer than %d bytes"
                                                % MAX_LINE)
                return False
            line = bytes(inbuf[:end]).rstrip(b"\r").decode("utf-8", "replace")
            del inbuf[:end + 1]
            if line.startswith("SSH-"):
                break
            self.banner_lines += 1
            if self.banner_lines > MAX_BANNER_LINES:
                raise paramiko.SSHException("Indecipherable protocol version %r" % line)
        parts = line.split(" ", 1)[0].split("-", 2)
        if len(parts) < 3:
            raise paramiko.SSHException("Invalid SSH banner %r" % line)
        if parts[1] not in ("1.99", "2.0"):
            raise paramiko.IncompatiblePeer("Incompatible version (%s instead of 2.0)" % parts[1])
        transport.remote_version = line
        self.banner_read = True
        self.phase = "kex"  # same deadline as the banner: ConnectTimeout bounds both, as with paramiko's thread
        transport._send_kex_init()
        transport._expect_packet(MSG_KEXINIT)
        return True

    def progress(self) -> None:
        """The loop, after each batch of packets: move on when paramiko's handlers have done their part."""
        transport = self.transport
        assert transport is not None
        if self.phase == "kex" and transport.completion_event.is_set() and transport.active:
            try:
                self.conn.check_host_key(transport, self.known)
            except Exception as error:
                self._fail(error)
                return
            self._enter("auth")
            self.candidates, self.problems = self.conn.auth_candidates(with_agent=False)
            self._next_key()
        elif self.phase == "auth" and self.auth_event is not None and self.auth_event.is_set():
            if transport.is_authenticated():
                self._succeed()
                return
            refusal = transport.saved_exception
            if isinstance(refusal, paramiko.BadAuthenticationType):
                self._fail(self.conn.auth_refused(refusal))
                return
            transport.saved_exception = None  # this key was refused: the next one
            self._next_key()

    def _next_key(self) -> None:
        transport = self.transport
        assert transport is not None
        if not self.candidates:
            if self.conn.uses_agent():  # its calls block: the agent's keys are tried the blocking way
                self.wants_blocking = "keys from ssh-agent"
            self._fail(self.conn.auth_failed(self.tried, self.problems))
            return
        label, key = self.candidates.pop(0)
        self.tried.append(label)
        self.auth_event = threading.Event()
        transport.auth_publickey(self.conn.spec["user"], key, self.auth_event)  # sends, returns at once

    # --- the end -------------------------------------------------------------------------------------------

    def lost(self, error: Optional[BaseException]) -> None:
        """The loop: the socket failed or the server closed it before the end of the handshake."""
        error = error or EOFError("connection closed")
        if self.phase == "connecting":
            self._try_next(error if isinstance(error, OSError) else None)
        elif self.phase == "auth":
            self._fail(self.conn.lost_during_auth(error))
        else:
            if self.phase == "kex" and isinstance(error, paramiko.IncompatiblePeer):  # the algorithms refused
                self.wants_blocking = "the server wants ciphers or MACs the loop cannot read"
            self._fail(self.conn.handshake_failed(error))

    def _succeed(self) -> None:
        self.phase = "done"
        self._release()
        assert self.sock is not None
        self.sock.handshake = None
        self.on_done(self.transport, None)

    def _fail(self, error: BaseException) -> None:
        if self.phase == "done":
            return
        self.phase = "done"
        self._release()
        if self.sock is not None:
            self.sock.handshake = None
            if self.transport is not None and self.transport.active:
                self.transport.end_in_loop(error)  # closes the socket too
            else:
                self.sock.close()
        self.on_done(None, error)

    def _release(self) -> None:
        if self.paced:
            self.paced = False
            self.pacer.release(self.conn.spec)

    def _enter(self, phase: str) -> None:
        """A new stage with its own deadline (ConnectTimeout, as paramiko's thread gives each): connecting
        (resolving, then TCP), the server's answer (banner, then key exchange), authentication."""
        self.phase = phase
        self.stage += 1
        stage = self.stage
        self.loop.later(self.conn.timeout, lambda: self._expire(stage, phase))

    def _expire(self, stage: int, phase: str) -> None:
        if stage != self.stage or self.phase == "done":
            return
        if phase == "resolving":
            self._fail(self.conn.connect_failed(socket.timeout()))
        elif phase == "auth":
            self._fail(self.conn.lost_during_auth(TimeoutError("no answer for %gs" % self.conn.timeout)))
        else:
            self._fail(self.conn.no_answer())
