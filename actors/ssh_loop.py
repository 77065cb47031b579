"""Reading paramiko transports from the connection worker's own poll loop instead of one thread per transport.

paramiko gives every Transport a thread that blocks in ``recv`` and handles each packet. With hundreds of
connections per worker, every packet then costs a thread hand-off under the GIL, and a command costs about
seven packets: that was most of the workers' CPU in warm fan-out rounds (docs/bench.md). So the worker's
loop reads the sockets:

* A connection the loop made itself (ssh_handshake.py) never had a thread: the loop reads it from the banner
  on, and ends it itself (``Transport.end_in_loop``).
* A connection made the blocking way (through a gateway, for instance) does its handshake in the transport's
  thread, as paramiko wrote it; once it is authenticated, that thread is *parked* and the loop reads on.
* The transport's socket is a :class:`LoopSocket`. The first time the transport's thread asks for bytes after
  authentication, the socket hands itself to the loop and parks that thread (no CPU, until the connection
  ends). Nothing of the next packet has been read at that point, so the loop takes over on a packet boundary.
* The loop reads whatever the kernel has, cuts it into whole packets (the length is in clear with AES-GCM and
  with encrypt-then-MAC, which execo prefers; a connection that negotiated something else keeps its thread),
  and hands each packet to :func:`dispatch`, the per-packet body of paramiko's ``Transport.run``.
* Writes made in the loop are queued and flushed once per loop turn (an exec request and its EOF leave in one
  ``send``); writes from other threads (SFTP, port forwards) go out at once. A full socket never blocks the
  loop: the rest waits for the socket to be writable.
* When the connection ends, or a packet is bad, the parked thread wakes with the error and paramiko's own
  cleanup runs (channels closed, waiters woken), exactly as if it had read the error itself.

Blocking paramiko calls (``open_session``, SFTP, ``auth_publickey``) keep working from other threads: they
wait on events that the loop's dispatch sets.
"""

from __future__ import annotations

import errno
import socket
import struct
import threading
import time
from typing import Any, Callable, Optional

from paramiko.common import (MSG_DEBUG, MSG_DISCONNECT, MSG_IGNORE, MSG_NEWKEYS, MSG_UNIMPLEMENTED,
                             cMSG_UNIMPLEMENTED)
from paramiko.message import Message
from paramiko.ssh_exception import SSHException

READ_SIZE = 256 * 1024


def _private(packetizer: Any, name: str) -> Any:
    return getattr(packetizer, "_Packetizer__" + name)


def framable(packetizer: Any) -> bool:
    """Whether a packet's length can be read without decrypting (no cipher yet, AES-GCM, or encrypt-then-MAC)."""
    try:
        return (_private(packetizer, "aead_in") or _private(packetizer, "etm_in")
                or _private(packetizer, "block_engine_in") is None) and not _private(packetizer, "remainder")
    except AttributeError:  # another paramiko's internals: keep the transport's thread
        return False


def dispatch(transport: Any, ptype: int, m: Message) -> None:
    """One received packet, handled as paramiko's Transport.run handles it (raises what ends the connection)."""
    enforce = getattr(transport, "_enforce_strict_kex", None)  # paramiko >= 3.4
    if ptype == MSG_IGNORE:
        if enforce is not None:
            enforce(ptype)
        return
    if ptype == MSG_DISCONNECT:
        transport._parse_disconnect(m)
        raise EOFError("the server disconnected")
    if ptype == MSG_DEBUG:
        if enforce is not None:
            enforce(ptype)
        transport._parse_debug(m)
        return
    if transport._expected_packet:
        if ptype not in transport._expected_packet:
            raise SSHException("Expecting packet from %r, got %d" % (transport._expected_packet, ptype))
        transport._expected_packet = tuple()
        if 30 <= ptype <= 41:  # key exchange messages
            transport.kex_engine.parse_next(ptype, m)
            return
    if ptype in transport._handler_table:
        error_msg = transport._ensure_authed(ptype, m)
        if error_msg:
            transport._send_message(error_msg)
        else:
            transport._handler_table[ptype](m)
    elif ptype in transport._channel_handler_table:
        chanid = m.get_int()
        chan = transport._channels.get(chanid)
        if chan is not None:
            transport._channel_handler_table[ptype](chan, m)
        elif chanid not in transport.channels_seen:
            raise SSHException("Channel request for unknown channel %d" % chanid)
    elif transport.auth_handler is not None and ptype in transport.auth_handler._handler_table:
        transport.auth_handler._handler_table[ptype](m)
        if transport._expected_packet:
            return
    elif ptype != MSG_UNIMPLEMENTED:
        reply = Message()
        reply.add_byte(cMSG_UNIMPLEMENTED)
        reply.add_int(m.seqno)
        transport._send_message(reply)
    transport.packetizer.complete_handshake()


class LoopSocket:
    """The socket under one transport: read by the transport's thread until authenticated, by the loop after.

    ``loop`` is the worker side (see :class:`TransportLoop`): ``in_loop()``, ``adopt(sock)``,
    ``wants_flush(sock)``, ``closed(sock)``, each callable from any thread.
    """

    def __init__(self, sock: socket.socket, loop: "TransportLoop"):
        self.sock = sock
        self.loop = loop
        self.transport: Any = None  # set once the Transport exists
        self.adopted = False
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.out_lock = threading.Lock()
        self.error: Optional[BaseException] = None  # what ended the connection, raised in the parked thread
        self.handshake: Any = None  # the LoopHandshake reading it, until authenticated (ssh_handshake.py)
        self._wake = threading.Event()
        self._closed = False  # paramiko's Transport.stop_thread reads it

    # --- what paramiko calls -------------------------------------------------------------------------------

    def settimeout(self, timeout: Optional[float]) -> None:
        if not self.adopted:  # once the loop reads it, the socket stays non-blocking
            self.sock.settimeout(timeout)

    def getpeername(self) -> Any:
        return self.sock.getpeername()

    def fileno(self) -> int:
        return self.sock.fileno()

    def recv(self, n: int) -> bytes:
        if self.adopted and threading.current_thread() is not self.transport:
            data = bytes(self.inbuf[:n])  # the loop asks only for bytes of a whole packet it has buffered
            del self.inbuf[:n]
            return data
        if not self.adopted and self.transport is not None and self.transport.is_authenticated() \
                and framable(self.transport.packetizer):
            self.adopted = True
            # Non-blocking from now on. In paramiko's timeout mode, Python polls before each call, whatever
            # MSG_DONTWAIT says: a send that found the buffers full held the loop 2 s, then raised a timeout.
            self.sock.setblocking(False)
            self.transport.packetizer.complete_handshake()  # the handshake is over
            self.loop.adopt(self)
        if self.adopted:  # the transport's thread, between two packets: park until the connection ends
            self._wake.wait()
            raise self.error if self.error is not None else EOFError()
        data = self.sock.recv(n)
        if self.error is not None:  # failed from the loop while this thread read (a keepalive gave up)
            raise self.error
        return data

    def send(self, data: bytes) -> int:
        if not self.adopted:
            return self.sock.send(data)
        with self.out_lock:
            if self._closed:
                raise OSError(errno.EPIPE, "connection closed")
            self.outbuf += data
            if self.loop.in_loop():
                self.loop.wants_flush(self)  # flushed once per loop turn, with whatever else is queued
                return len(data)
            self._flush_locked()
            if self.outbuf:
                self.loop.wants_flush(self)
        return len(data)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.fail(EOFError("connection closed"))
        if self.adopted:
            self.loop.closed(self)  # the loop unregisters the fd, then closes it
        else:
            self.sock.close()

    # --- what the loop calls -------------------------------------------------------------------------------

    def fail(self, error: BaseException) -> None:
        """End the connection: the parked thread raises error, and paramiko cleans up in that thread."""
        if self.error is None:
            self.error = error
        self._wake.set()

    def flush(self) -> bool:
        """Send what is queued without blocking; True when everything went."""
        with self.out_lock:
            self._flush_locked()
            return not self.outbuf

    def _flush_locked(self) -> None:
        while self.outbuf and not self._closed:
            try:
                sent = self.sock.send(self.outbuf, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                self.outbuf.clear()
                self.fail(error)
                return
            del self.outbuf[:sent]

    def read_available(self) -> bool:
        """Read what the kernel has and handle every whole packet; False once the connection has ended."""
        try:
            data = self.sock.recv(READ_SIZE, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError as error:
            self.fail(error)
            return False
        if not data:
            self.fail(EOFError("connection closed by the server"))
            return False
        self.inbuf += data
        transport = self.transport
        transport.last_heard = time.monotonic()  # for ServerAliveInterval (ssh_keepalive.py)
        packetizer = transport.packetizer
        inbuf = self.inbuf
        mac_size = _private(packetizer, "mac_size_in")
        handshake = self.handshake
        try:
            if handshake is not None and not handshake.banner_read and not handshake.read_banner(inbuf):
                return True
            while transport.active and len(inbuf) >= 4:
                if packetizer.need_rekey() and not transport.in_kex:
                    transport._send_kex_init()
                if len(inbuf) < 4 + struct.unpack_from(">I", inbuf)[0] + mac_size:
                    break
                ptype, m = packetizer.read_message()
                dispatch(transport, ptype, m)
                if transport._deferred:
                    transport.flush_deferred()
                if ptype == MSG_NEWKEYS:  # new keys for what follows
                    if not framable(packetizer):
                        raise SSHException("a key re-exchange chose a cipher whose packet lengths are encrypted")
                    mac_size = _private(packetizer, "mac_size_in")
            if handshake is not None:
                handshake.progress()
        except Exception as error:
            self.fail(error)
            return False
        return transport.active


class TransportLoop:
    """The worker's side: which LoopSockets its selector reads, and which have output to flush.

    ``register(sock)``, ``unregister(sock)`` and ``want_write(sock, bool)`` act on the worker's selector;
    ``call(fn, *args)`` runs fn in the loop's thread (at once when already there); ``later(delay, fn)`` runs
    fn in the loop's thread after delay seconds (called from the loop's thread).
    """

    def __init__(self, register: Callable[[LoopSocket], None], unregister: Callable[[LoopSocket], None],
                 want_write: Callable[[LoopSocket, bool], None], call: Callable[..., None],
                 later: Callable[[float, Callable[[], None]], None]):
        self._register = register
        self._unregister = unregister
        self._want_write = want_write
        self._call = call
        self._later = later
        self.ident = threading.get_ident()
        self.sockets: set = set()
        self.to_flush: set = set()
        self.writing: set = set()

    def in_loop(self) -> bool:
        return threading.get_ident() == self.ident

    def adopt(self, sock: LoopSocket) -> None:
        self._call(self._adopt, sock)

    def _adopt(self, sock: LoopSocket) -> None:
        if sock._closed or sock.error is not None:
            return
        self.sockets.add(sock)
        self._register(sock)
        if sock.outbuf:  # written while we were being told (flush() skips sockets it does not know yet)
            self.to_flush.add(sock)
        if not sock.read_available():  # bytes may have come while we were being told
            self._drop(sock)

    def call(self, fn: Callable[..., None], *args: Any) -> None:
        """Run fn(*args) in the loop's thread (at once when already there)."""
        self._call(fn, *args)

    def watch_connect(self, sock: LoopSocket) -> None:
        """A socket connecting without blocking: writable() tells its handshake when the connection is made."""
        self.sockets.add(sock)
        self._register(sock)
        self.writing.add(sock)
        self._want_write(sock, True)

    def later(self, delay: float, fn: Callable[[], None]) -> None:
        """Run fn in the loop's thread after delay seconds (from any thread)."""
        self._call(self._later, delay, fn)

    def wants_flush(self, sock: LoopSocket) -> None:
        if self.in_loop():
            self.to_flush.add(sock)
        else:
            self._call(self.to_flush.add, sock)

    def closed(self, sock: LoopSocket) -> None:
        self._call(self._drop, sock)

    def readable(self, sock: LoopSocket) -> None:
        if not sock.read_available():
            self._drop(sock)

    def writable(self, sock: LoopSocket) -> None:
        handshake = sock.handshake
        if handshake is not None and handshake.phase == "connecting":
            handshake.connected()
        self.to_flush.add(sock)

    def flush(self) -> None:
        """Once per loop turn: send what every connection queued."""
        while self.to_flush:
            sock = self.to_flush.pop()
            if sock not in self.sockets:
                continue
            done = sock.flush()
            if done != (sock not in self.writing):
                (self.writing.discard if done else self.writing.add)(sock)
                self._want_write(sock, not done)
            if sock.error is not None:
                self._drop(sock)

    def _drop(self, sock: LoopSocket) -> None:
        sock.fail(EOFError("connection closed"))  # wakes the parked thread (a no-op when it already failed)
        if sock in self.sockets:
            self.sockets.discard(sock)
            self.writing.discard(sock)
            self._unregister(sock)
        if sock._closed:
            sock.sock.close()
        transport = sock.transport
        if sock.handshake is not None:
            sock.handshake.lost(sock.error)
        elif transport is not None and transport.threadless:
            transport.end_in_loop(sock.error or EOFError("connection closed"))  # no thread to do it
