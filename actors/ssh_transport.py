"""execo's paramiko Transport: what the connection worker needs beyond paramiko's own.

* Channel events reach the worker without a pipe per channel: after paramiko handles a channel packet, the
  channel's ``execo_notify(channel)`` is called (in whichever thread read the packet), and once more for
  every watched channel when the connection ends.
* ``open_session_nowait`` sends a session open and returns; the answer calls back. The worker's loop opens
  channels and starts commands this way, without a thread waiting for each round trip; on a transport the
  loop reads, the channel is an ExecChannel (no locks, no events: ssh_exec_channel.py).
* A user message sent by the worker's loop during a key re-exchange is queued, not waited for: the loop is
  the one that reads the key exchange (see ssh_loop.py), so waiting would stall it.
* paramiko ignores "exit-signal": we record the signal name.
* A close from the server is answered with a close alone (paramiko sends an EOF first).
* AES-GCM is preferred (no per-packet HMAC in Python, packet lengths in clear), and the thread's close check
  is slow (each transport's thread otherwise wakes 10 times a second).
* The handshake's timeout is a deadline, not a timer thread per connection (Packetizer).
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Any, Callable, Dict, List, Optional, Tuple

import paramiko
from paramiko.common import MSG_CHANNEL_CLOSE, MSG_CHANNEL_REQUEST, cMSG_CHANNEL_OPEN, cMSG_CHANNEL_REQUEST

from .ssh_exec_channel import ExecChannel
from .ssh_loop import LoopSocket

OpenCallback = Callable[[Optional[paramiko.Channel], Optional[BaseException]], None]
_Pending = Tuple[OpenCallback, paramiko.Channel]


def _handle_channel_request(chan: paramiko.Channel, m: paramiko.Message) -> None:
    """paramiko ignores "exit-signal": record the signal name, then let paramiko handle everything else."""
    start = m.packet.tell()
    if m.get_text() == "exit-signal":
        m.get_boolean()
        chan.exit_signal = m.get_text()
        chan.status_event.set()
        return
    m.packet.seek(start)
    paramiko.Channel._handle_request(chan, m)


def _handle_channel_close(chan: paramiko.Channel, m: paramiko.Message) -> None:
    """The server closed the channel: answer with a close alone. paramiko sends an EOF first, one more packet
    to build, encrypt and for the server to read, for a channel that is going away (RFC 4254 asks only the
    close)."""
    chan.eof_sent = True
    paramiko.Channel._handle_close(chan, m)


_OWN_HANDLERS = {MSG_CHANNEL_REQUEST: _handle_channel_request, MSG_CHANNEL_CLOSE: _handle_channel_close}


def _notifying(handler: Callable[[paramiko.Channel, paramiko.Message], None], name: str) -> Callable:
    """The handler of one channel packet type: ExecChannel's method of paramiko's name, else paramiko's (or
    ours above) for paramiko's channels; then the channel's owner hears of it."""
    def handle(chan: Any, m: paramiko.Message) -> None:
        if type(chan) is ExecChannel:
            getattr(chan, name)(m)
        else:
            handler(chan, m)
        notify = chan.__dict__.get("execo_notify")
        if notify is not None:
            notify(chan)
    return handle


_GCM = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")
_ETM = ("hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com")
_ETM_MACS = tuple(m for m in _ETM if m in paramiko.Transport._preferred_macs)


class Channel(paramiko.Channel):
    """paramiko's Channel, minus the log lines built for a logger that drops them (seven per command)."""

    def _log(self, level: int, msg: str, *args: Any) -> None:
        if self.logger.isEnabledFor(level):
            super()._log(level, msg, *args)


class Packetizer(paramiko.Packetizer):
    """paramiko's Packetizer with a deadline where paramiko starts a timer thread for the handshake's first
    packet: one thread started and cancelled per connection, for a check made when a read times out."""

    _deadline: Optional[float] = None
    _handshake_done = False

    def start_handshake(self, timeout: float) -> None:
        if self._deadline is None:
            self._deadline = time.monotonic() + float(timeout)

    def handshake_timed_out(self) -> bool:
        return self._deadline is not None and not self._handshake_done and time.monotonic() >= self._deadline

    def complete_handshake(self) -> None:
        self._handshake_done = True


class Transport(paramiko.Transport):
    _channel_handler_table = {ptype: _notifying(_OWN_HANDLERS.get(ptype, handler), handler.__name__)
                              for ptype, handler in paramiko.Transport._channel_handler_table.items()}
    # AES-GCM first, then encrypt-then-MAC: both keep packet lengths in clear, so the worker's loop can cut
    # packets without a thread per connection; servers without them still get the usual lists.
    _preferred_ciphers = _GCM + tuple(c for c in paramiko.Transport._preferred_ciphers if c not in _GCM)
    _preferred_macs = tuple(m for m in _ETM if m in paramiko.Transport._preferred_macs) + tuple(
        m for m in paramiko.Transport._preferred_macs if m not in _ETM)
    # The thread wakes this often to look for a close (0.1 s by default); closing our side ends its read anyway.
    _active_check_timeout = 2.0

    # --- less work per connection: paramiko builds log lines and algorithm lists whether used or not ---------

    def _log(self, level: int, msg: Any, *args: Any) -> None:
        if self.logger.isEnabledFor(level):
            super()._log(level, msg, *args)

    def _parse_debug(self, m: paramiko.Message) -> None:
        # OpenSSH sends a debug message after every public key login; paramiko escapes it byte by byte in Python
        if self.logger.isEnabledFor(paramiko.common.DEBUG):
            super()._parse_debug(m)

    def _filter_algorithm(self, type_: str) -> Any:
        if not self.disabled_algorithms:
            return getattr(self, "_preferred_" + type_)  # nothing to filter out (tuples: nobody changes them)
        return super()._filter_algorithm(type_)

    def __init__(self, sock: Any, **kwargs: Any):
        kwargs.setdefault("packetizer_class", Packetizer)
        super().__init__(sock, **kwargs)
        if isinstance(sock, LoopSocket):
            sock.transport = self
        self._opening: Dict[int, _Pending] = {}  # paramiko's channel map is weak: we hold them
        self._watched: "weakref.WeakSet[paramiko.Channel]" = weakref.WeakSet()
        self._deferred: List[paramiko.Message] = []
        self.last_heard = time.monotonic()  # bytes, or an answer to a keepalive, from the server (ssh_keepalive.py)
        self.execo_error: Optional[BaseException] = None  # why we ended the connection, reported as its cause
        self.threadless = False  # connected and read by the worker's loop, with no thread (start_in_loop)
        self._ended = False

    def prefer_key_types(self, known: Dict[str, Any]) -> None:
        """Negotiate first a host key type that known_hosts can check (``known``: key type -> key), as
        OpenSSH does."""
        if known:
            options = self.get_security_options()
            options.key_types = [t for t in known if t in options.key_types] + \
                [t for t in options.key_types if t not in known]

    # --- opening without waiting ---------------------------------------------------------------------------

    def open_session_nowait(self, on_open: OpenCallback, notify: Callable[[paramiko.Channel], None]) -> None:
        """Ask for a session channel; on_open(channel, None) or on_open(None, error) runs once, when the server
        answers or the connection ends, in the thread that read the answer. notify becomes the channel's
        ``execo_notify``."""
        if not self.active:
            raise paramiko.SSHException("SSH session not active")
        with self.lock:
            window_size = self._sanitize_window_size(None)
            max_packet_size = self._sanitize_packet_size(None)
            chanid = self._next_channel()
            m = paramiko.Message()
            m.add_byte(cMSG_CHANNEL_OPEN)
            m.add_string("session")
            m.add_int(chanid)
            m.add_int(window_size)
            m.add_int(max_packet_size)
            # the loop reads this transport: a channel for the loop alone (ssh_exec_channel.py)
            sock = self.sock
            chan = ExecChannel(chanid) if isinstance(sock, LoopSocket) and sock.adopted else Channel(chanid)
            chan.execo_notify = notify
            self._channels.put(chanid, chan)
            self.channels_seen[chanid] = True
            chan._set_transport(self)
            chan._set_window(window_size, max_packet_size)
            self._opening[chanid] = (on_open, chan)
            self._watched.add(chan)
        self._send_user_message(m)

    def _parse_channel_open_success(self, m: paramiko.Message) -> None:
        start = m.packet.tell()
        chanid = m.get_int()
        m.packet.seek(start)
        super()._parse_channel_open_success(m)
        pending = self._opening.pop(chanid, None)
        if pending is not None:
            pending[0](pending[1], None)

    def _parse_channel_open_failure(self, m: paramiko.Message) -> None:
        start = m.packet.tell()
        chanid = m.get_int()
        pending = self._opening.pop(chanid, None)
        if pending is None:
            m.packet.seek(start)
            super()._parse_channel_open_failure(m)
            return
        reason = m.get_int()
        text = m.get_text() or paramiko.common.CONNECTION_FAILED_CODE.get(reason, "(unknown code)")
        self._channels.delete(chanid)
        pending[0](None, paramiko.ChannelException(reason, text))

    # --- requests without waiting --------------------------------------------------------------------------

    def send_request(self, chan: paramiko.Channel, kind: str, *fields: Any) -> None:
        """A channel request that wants a reply, not waited for: a failure closes the channel (paramiko)."""
        m = paramiko.Message()
        m.add_byte(cMSG_CHANNEL_REQUEST)
        m.add_int(chan.remote_chanid)
        m.add_string(kind)
        m.add_boolean(True)
        for field in fields:
            (m.add_int if isinstance(field, int) else m.add_string)(field)
        self._send_user_message(m)

    def _send_user_message(self, data: paramiko.Message) -> None:
        sock = self.sock
        if isinstance(sock, LoopSocket) and sock.adopted and sock.loop.in_loop() \
                and not self.clear_to_send.is_set():
            self._deferred.append(data)  # a key re-exchange is on: the loop must not wait for its own reads
            return
        super()._send_user_message(data)

    def flush_deferred(self) -> None:
        if self._deferred and self.clear_to_send.is_set():
            deferred, self._deferred = self._deferred, []
            for message in deferred:
                self._send_user_message(message)

    # --- answers to global requests (keepalives) -------------------------------------------------------------

    def _parse_request_success(self, m: paramiko.Message) -> None:
        self.last_heard = time.monotonic()
        super()._parse_request_success(m)

    def _parse_request_failure(self, m: paramiko.Message) -> None:
        self.last_heard = time.monotonic()
        super()._parse_request_failure(m)

    # --- the end -------------------------------------------------------------------------------------------

    def run(self) -> None:
        try:
            super().run()
        finally:
            self._report_end()

    def _report_end(self) -> None:
        """Whoever waits on this transport hears of its end: sessions being opened, watched channels."""
        if self.execo_error is not None:
            self.saved_exception = self.execo_error
        error = self.saved_exception or EOFError("connection closed")
        opening, self._opening = self._opening, {}
        for callback, _ in opening.values():
            callback(None, error)
        for chan in list(self._watched):
            notify = chan.__dict__.get("execo_notify")
            if notify is not None:
                notify(chan)

    # --- without a thread: a transport the worker's loop connects and reads (ssh_handshake.py) -------------

    def start_in_loop(self) -> None:
        """What start_client() does, minus the thread: the loop feeds the packets, from the banner on.

        Only MACs that keep packet lengths in clear are offered (encrypt-then-MAC; AES-GCM, preferred, needs
        none): the loop cuts packets by their length.
        """
        self.threadless = True
        self._preferred_macs = _ETM_MACS
        self.active = True
        self.completion_event = threading.Event()  # paramiko sets it when the key exchange is done

    def end_in_loop(self, error: BaseException) -> None:
        """The end of a transport without a thread: what paramiko's run() does when its thread stops."""
        if self._ended:
            return
        self._ended = True
        if self.saved_exception is None:
            self.saved_exception = error
        for chan in list(self._channels.values()):
            chan._unlink()
        if self.active:
            self.active = False
            self.packetizer.close()
            if self.completion_event is not None:
                self.completion_event.set()
            if self.auth_handler is not None:
                self.auth_handler.abort()
            for event in self.channel_events.values():
                event.set()
            with self.lock:
                self.server_accept_cv.notify()
        self.sock.close()
        self._report_end()

