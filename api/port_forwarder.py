"""PortForwarder: a local port forwarded to a port reachable from a remote host (``ssh -L``).

With the pooled backend the connection worker listens on the local port and opens one
direct-tcpip channel per accepted connection on the host's pooled connection (see
``execo_actors.port_forward``). With the command-line backend it is execo 2.8's process:
``ssh -v -L bind:port:remote_host:remote_port host sleep 31536000``. Either way
``forwarding`` is set when the stderr line ``debug1: Local forwarding listening on <bind>
port <port>.`` shows up, and killing the process ends the forward.

Differences from execo 2.8: the command line also carries ``-o ExitOnForwardFailure=yes``
(a port that cannot be bound ends ssh at once instead of leaving a useless tunnel), and
the context manager gives up as soon as the forwarder ends, rather than after
``forwarding_timeout``; ports and the bind address are checked at construction.
"""

from __future__ import annotations

import re
import threading
from typing import Any, List, Mapping, Optional

from .config import make_connection_params
from .exceptions import ProcessesFailed
from .host import Host
from .process import ProcessOutputHandler
from .ssh_process import SshProcess
from .utils import get_port

__all__ = ["PortForwarder"]

_BIND = re.compile(r"^[A-Za-z0-9_.:%-]+$")  # an IP address (v4 or v6) or a host name: no shell or ssh syntax


def _port(value: Any, argument: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise ValueError("PortForwarder: argument %s must be a TCP port (1-65535), got %r" % (argument, value))
    return value


def _forward_spec(bind: str, local_port: int, remote_host: str, remote_port: int) -> str:
    def bracket(address: str) -> str:
        return "[%s]" % address if ":" in address else address

    return "%s:%d:%s:%d" % (bracket(bind), local_port, bracket(remote_host), remote_port)


class _ListeningWatcher(ProcessOutputHandler):
    """Sets the forwarder's ``forwarding`` event when ssh (or the worker) says it listens.

    OpenSSH prints ``Local forwarding listening on ...`` *before* it binds, and a failed bind
    follows as lines without the ``debug1:`` prefix; so with the ssh command line the event
    is set only when the next line is an ordinary ``debug1:`` line (the new port listener).
    The connection worker prints the line once it listens: no confirmation needed.
    """

    def __init__(self, bind_address: str, local_port: int, confirm: bool) -> None:
        super().__init__()
        self._line = re.compile(r"^debug1: Local forwarding listening on %s port %d\.\s*$"
                                % (re.escape(bind_address), local_port))
        self._confirm = confirm
        self._announced = False

    def read_line(self, process: Any, stream: int, string: str, eof: bool = False, error: bool = False) -> None:
        if self._announced:
            self._announced = False
            if string.startswith("debug1: "):
                process.forwarding.set()
                process._settled.set()
        elif self._line.match(string):
            if self._confirm:
                self._announced = True
            else:
                process.forwarding.set()
                process._settled.set()


class PortForwarder(SshProcess):
    """Forwards ``bind_address:local_port`` here to ``remote_host:remote_port`` as seen from ``host``.

    ``bind_address`` defaults to 127.0.0.1 (only this machine can use the tunnel) and
    ``local_port`` to a free port of ``configuration['port_range']``. Use it as a context
    manager to get a ready tunnel::

        with PortForwarder(frontend, "db.internal", 5432) as tunnel:
            connect("127.0.0.1", tunnel.local_port)
    """

    def __init__(self, host: Any, remote_host: Any, remote_port: int, local_port: Optional[int] = None,
                 bind_address: Optional[str] = None, connection_params: Optional[Mapping[str, Any]] = None,
                 **kwargs: Any) -> None:
        if bind_address is not None and (not isinstance(bind_address, str) or not _BIND.match(bind_address)):
            raise ValueError("PortForwarder: argument bind_address must be an IP address or a host name, got %r"
                             % (bind_address,))
        self.bind_address = bind_address or "127.0.0.1"
        self.local_port = _port(local_port, "local_port") if local_port is not None else get_port()
        self.remote_host = remote_host
        self.remote_port = _port(remote_port, "remote_port")
        target = Host(remote_host).address
        if not _BIND.match(target):
            raise ValueError("PortForwarder: argument remote_host must be an IP address or a host name, got %r"
                             % (remote_host,))
        params = make_connection_params(connection_params)
        params["ssh_options"] = tuple(params["ssh_options"]) + (
            "-v", "-o", "ExitOnForwardFailure=yes",
            "-L", _forward_spec(self.bind_address, self.local_port, target, self.remote_port))
        # a multiplexed client would ask a master to listen, and the master prints no debug line for it
        params["ssh_control_master"] = False
        super().__init__("sleep 31536000", host, connection_params=params, **kwargs)
        self.connection_params = connection_params
        self.stderr_handlers.append(_ListeningWatcher(self.bind_address, self.local_port, self._driver != "ssh"))
        self._watchers.append(_settle)
        if self._driver == "ssh":
            self._forward = {"bind": self.bind_address, "port": self.local_port, "remote_host": target,
                             "remote_port": self.remote_port}

    def _init_state(self) -> None:
        super()._init_state()
        if hasattr(self, "forwarding"):  # reset(): the same events, cleared, so that waiters keep them
            self.forwarding.clear()
            self._settled.clear()
        else:
            self.forwarding = threading.Event()
            self._settled = threading.Event()  # forwarding, or ended: what __enter__ waits for

    def __enter__(self) -> "PortForwarder":
        """Start and wait until the tunnel listens (up to ``forwarding_timeout``); raise ProcessesFailed if not."""
        self.start()
        self._settled.wait(self._params["forwarding_timeout"])
        if not self.forwarding.is_set():
            self.kill()
            self.wait(10)
            raise ProcessesFailed([self])
        return self

    def _repr_args(self) -> List[str]:
        args = [repr(self.host), repr(self.remote_host), repr(self.remote_port), repr(self.local_port),
                repr(self.bind_address)]
        if self.connection_params:
            args.append("connection_params=%r" % (dict(self.connection_params),))
        return args + [a for a in SshProcess._repr_args(self)[2:] if not a.startswith("connection_params=")]

    def _state_args(self) -> List[str]:
        return ["forwarding=%s" % (self.forwarding.is_set(),)] + super()._state_args()


def _settle(process: PortForwarder) -> None:
    """An end watcher: a forwarder that ended will never listen."""
    process._settled.set()
