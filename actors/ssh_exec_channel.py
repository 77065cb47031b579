"""A session channel owned by the connection worker's loop: the command channels of SshProcess and kill.

paramiko's Channel is written for threads: every packet takes its lock, fills a BufferedPipe, wakes Events
and Conditions, and each channel builds two pipes, three events and a condition when it is made. In the
worker, a command's channel is only ever touched by the loop that reads its transport (ssh_loop.py), so this
channel keeps plain buffers and counters, and a command costs about a third less of the worker's CPU.

It speaks to paramiko's Transport through the same private method names as paramiko's Channel
(``_set_remote_channel``, ``_feed``, ``_handle_close``, ``_unlink``...), so the transport's open-confirmation
code and its channel map need nothing new; execo's Transport dispatches channel packets by those names
(ssh_transport.py). It offers the part of paramiko's Channel API the worker uses: ``recv``/``recv_ready``,
``recv_stderr``/``recv_stderr_ready``, ``send``/``send_ready``, ``shutdown_write``, ``close``, ``closed``,
``exit_status``, ``exit_signal``, ``remote_chanid`` and ``get_transport()``. Never blocking: ``send`` returns
0 without window, ``recv`` returns b"" with nothing buffered.

Used only on transports whose packets the loop reads; a transport that keeps paramiko's reader thread (a
cipher without clear packet lengths) gets paramiko's Channel.
"""

from __future__ import annotations

from typing import Any, Optional

from paramiko.common import (cMSG_CHANNEL_CLOSE, cMSG_CHANNEL_DATA, cMSG_CHANNEL_EOF, cMSG_CHANNEL_FAILURE,
                             cMSG_CHANNEL_WINDOW_ADJUST)
from paramiko.message import Message


class ExecChannel:
    """One session channel served by the worker's loop (see the module's docstring)."""

    def __init__(self, chanid: int):
        self.chanid = chanid
        self.remote_chanid = 0
        self.transport: Any = None
        self.active = False
        self.closed = False
        self.eof_received = False
        self.eof_sent = False
        self.exit_status = -1
        self.exit_signal: Optional[str] = None
        self.refused = False  # the server said no to a request (pty or exec)
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.in_window_threshold = 0
        self.in_window_sofar = 0
        self.out_window_size = 0
        self.out_max_packet_size = 0
        self.execo_notify: Any = None
        self.execo_owner: Any = None

    # --- what paramiko's Transport calls ----------------------------------------------------------------------

    def _set_transport(self, transport: Any) -> None:
        self.transport = transport

    def _set_window(self, window_size: int, max_packet_size: int) -> None:
        self.in_window_threshold = window_size // 10  # send a window adjust once this much was read

    def _set_remote_channel(self, chanid: int, window_size: int, max_packet_size: int) -> None:
        self.remote_chanid = chanid
        self.out_window_size = window_size
        self.out_max_packet_size = self.transport._sanitize_packet_size(max_packet_size)
        self.active = True

    def _unlink(self) -> None:
        """The connection ended (or the channel is done): closed, without a word to the server."""
        if not self.closed:
            self.closed = True
            self.transport._unlink_channel(self.chanid)

    # --- channel packets (dispatched by name, see ssh_transport.Transport) --------------------------------------

    def _feed(self, m: Message) -> None:
        self.stdout += m.get_binary()

    def _feed_extended(self, m: Message) -> None:
        if m.get_int() == 1:  # SSH_EXTENDED_DATA_STDERR, the only type defined
            self.stderr += m.get_binary()

    def _window_adjust(self, m: Message) -> None:
        self.out_window_size += m.get_int()

    def _request_success(self, m: Message) -> None:
        pass  # the exec (or pty) request was accepted; the command's end is what we wait for

    def _request_failed(self, m: Message) -> None:
        self.refused = True
        self.close()  # a refused pty or exec: the command will not run

    def _handle_request(self, m: Message) -> None:
        key = m.get_text()
        want_reply = m.get_boolean()
        if key == "exit-status":
            self.exit_status = m.get_int()
        elif key == "exit-signal":
            self.exit_signal = m.get_text()
        elif want_reply:  # e.g. keepalive@openssh.com: answered as paramiko does
            self._send(cMSG_CHANNEL_FAILURE)

    def _handle_eof(self, m: Message) -> None:
        self.eof_received = True

    def _handle_close(self, m: Message) -> None:
        self.eof_received = True
        self.close()
        self.transport._unlink_channel(self.chanid)

    # --- what the worker calls ---------------------------------------------------------------------------------

    def get_transport(self) -> Any:
        return self.transport

    def setblocking(self, blocking: bool) -> None:
        pass  # never blocks

    def recv_ready(self) -> bool:
        return bool(self.stdout)

    def recv_stderr_ready(self) -> bool:
        return bool(self.stderr)

    def recv(self, nbytes: int) -> bytes:
        return self._take(self.stdout, nbytes)

    def recv_stderr(self, nbytes: int) -> bytes:
        return self._take(self.stderr, nbytes)

    def send_ready(self) -> bool:
        return self.closed or self.eof_sent or self.out_window_size > 0

    def send(self, data: bytes) -> int:
        """Send what the window and the packet size allow now (0 once closed); returns how much went."""
        if self.closed or self.eof_sent or not self.active:
            return 0
        size = min(len(data), self.out_window_size, self.out_max_packet_size - 64)
        if size <= 0:
            return 0
        self.out_window_size -= size
        self._send(cMSG_CHANNEL_DATA, bytes(data[:size]))
        return size

    def shutdown_write(self) -> None:
        if not self.eof_sent and not self.closed and self.active:
            self.eof_sent = True
            self._send(cMSG_CHANNEL_EOF)

    def close(self) -> None:
        """Close our side (no EOF first: the close says it all); the server's close then unlinks us."""
        if self.closed:
            return
        self.closed = True
        if self.active and self.transport.is_active():
            self._send(cMSG_CHANNEL_CLOSE)

    # --- inside ----------------------------------------------------------------------------------------------

    def _send(self, kind: bytes, *fields: Any) -> None:
        """One channel message: its type, the server's channel number, then ints and strings."""
        m = Message()
        m.add_byte(kind)
        m.add_int(self.remote_chanid)
        for field in fields:
            (m.add_int if isinstance(field, int) else m.add_string)(field)
        self.transport._send_user_message(m)

    def _take(self, buffer: bytearray, nbytes: int) -> bytes:
        data = bytes(buffer[:nbytes])
        del buffer[:nbytes]
        if data and self.active and not self.closed and not self.eof_received:
            self.in_window_sofar += len(data)
            if self.in_window_sofar > self.in_window_threshold:  # let the server send more
                self._send(cMSG_CHANNEL_WINDOW_ADJUST, self.in_window_sofar)
                self.in_window_sofar = 0
        return data
