"""OpenSSH's ServerAliveInterval and ServerAliveCountMax, for the connections the worker's loop serves.

A host that stops answering in the middle of a command (frozen, crashed without a TCP reset, its network cut)
otherwise leaves the command waiting until its own timeout, often forever: TCP alone notices nothing while no
data is sent. OpenSSH's answer, which users already put in their ``~/.ssh/config`` or ``ssh_options``: after
``ServerAliveInterval`` seconds without a packet from the server, ask it for an answer (a global request
that wants a reply: any reply, even a refusal, proves it alive); after ``ServerAliveCountMax`` such
requests in a row without anything heard, give the connection up. Its commands then end with an error that
says so, and the host's next command makes a new connection.

paramiko's own keepalive only sends (it never gives up), and it runs in the transport's thread, which the
worker's loop has replaced (ssh_loop.py): hence this timer in the loop, one per connection, whoever reads it.
"""

from __future__ import annotations

import socket
import time
from typing import Any, Callable

from paramiko.common import cMSG_GLOBAL_REQUEST
from paramiko.message import Message

from .ssh_loop import LoopSocket

DEFAULT_COUNT_MAX = 3  # OpenSSH's default


class ServerAliveTimeout(EOFError):
    """The server stopped answering (an EOFError: paramiko ends the transport quietly, as on a lost connection)."""


class KeepAlive:
    """One connection's keepalive timer: ``tick`` runs in the worker's loop every ``interval`` seconds.

    What counts as hearing from the server is ``transport.last_heard``: any bytes on a connection the loop
    reads (ssh_loop.py), the answers to keepalives on one its thread reads (behind a ProxyJump gateway).
    """

    def __init__(self, transport: Any, interval: float, count_max: int, later: Callable[[float, Callable], None]):
        self.transport = transport
        self.interval = float(interval)
        self.count_max = max(0, int(count_max))
        self.later = later
        self.unanswered = 0
        self.last_tick = time.monotonic()

    def start(self) -> None:
        self.last_tick = time.monotonic()
        self.later(self.interval, self.tick)

    def tick(self) -> None:
        transport = self.transport
        if transport.execo_error is not None or not transport.is_active():
            return  # the connection ended: the timer stops with it
        now = time.monotonic()
        heard = transport.last_heard > self.last_tick
        self.last_tick = now
        if heard:
            self.unanswered = 0
        else:
            self.unanswered += 1
            if self.unanswered > self.count_max:
                self.give_up()
                return
            send_keepalive(transport)
        self.later(self.interval, self.tick)

    def give_up(self) -> None:
        """End the connection with an error that says why; paramiko's cleanup then ends its channels."""
        error = ServerAliveTimeout(
            "no answer from the server for %gs: %d keepalive%s unanswered (ServerAliveInterval %g, "
            "ServerAliveCountMax %d); host frozen or unreachable?" % (
                self.unanswered * self.interval, self.count_max, "" if self.count_max == 1 else "s",
                self.interval, self.count_max))
        transport = self.transport
        transport.execo_error = error  # what the transport's end reports, whatever its thread read last
        sock = transport.sock
        if isinstance(sock, LoopSocket):
            sock.fail(error)
            try:
                # wakes whichever side waits on the socket: the loop's selector, or a thread blocked in recv
                sock.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        else:  # a channel through a gateway: closing it ends the transport's read
            sock.close()


def send_keepalive(transport: Any) -> None:
    """OpenSSH's keepalive: a global request the server must answer (it refuses it, which is an answer)."""
    m = Message()
    m.add_byte(cMSG_GLOBAL_REQUEST)
    m.add_string("keepalive@openssh.com")
    m.add_boolean(True)
    transport._send_user_message(m)
