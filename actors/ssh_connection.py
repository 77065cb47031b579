"""Pooled SSH connections inside a connection worker: one HostConnection per connection key.

A HostConnection owns the paramiko transports to one (address, user, port, keys, proxy). Every process is a
channel on one of them; when the server refuses a new session (OpenSSH's MaxSessions, 10 by default) another
transport is opened and the limit is remembered. A transport that died is dropped and the next use
reconnects. ProxyJump goes through a direct-tcpip channel of the gateway's own HostConnection, so every host
behind one gateway shares one gateway connection.

Most connections are made by the worker's loop (``connect``, ssh_handshake.py). The other methods
block (network round trips); the worker calls them from a thread pool, one host at a time per
HostConnection (see ``submit``), so that a frozen host holds one thread, not one per process. Every error is
a ConnectError whose message names the host and what happened; the texts are made here, for both ways.
"""

from __future__ import annotations

import collections
import logging
import os
import socket
import subprocess
import threading
from concurrent.futures import Executor
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

import paramiko

from .ssh_config import connection_key
from .ssh_handshake import LoopHandshake
from .ssh_keepalive import DEFAULT_COUNT_MAX, KeepAlive
from .ssh_loop import LoopSocket, TransportLoop
from .ssh_pacer import Pacer
from .ssh_transport import Transport

log = logging.getLogger("execo_actors.ssh")

DEFAULT_CONNECT_TIMEOUT = 30.0
DEFAULT_KEYS = ["~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa"]

# the first stderr line of a wrapped command: the remote process group, so that kill() can reach it.
# OpenSSH only honours the "signal" channel request for non-root logins (it needs post-auth privilege
# separation), so a kill is a second tiny command, `kill -s SIG -- -PGID`, on the same connection.
PGID_MARKER = b"EXECO-PGID:"


class ConnectError(Exception):
    """A host could not be reached or was lost; str() names the host and the cause."""


def error_text(error: BaseException) -> str:
    """An exception for a message: its text, or its type when it has none (``EOFError()`` says nothing)."""
    return str(error) or type(error).__name__


def describe(spec: Dict[str, Any]) -> str:
    """user@address:port, plus the name given when ssh_config rewrote it, plus the gateway."""
    text = "%s@%s:%d" % (spec["user"], spec["address"], spec["port"])
    if spec.get("alias") and spec["alias"] != spec["address"]:
        text = "%s (%s)" % (spec["alias"], text)
    if spec.get("proxy_jump"):
        text += " via " + describe(spec["proxy_jump"])
    return text


def wrap_command(cmd: str) -> str:
    """The command as the login shell will run it: first report the process group on stderr."""
    return "echo %s$$ >&2; %s" % (PGID_MARKER.decode(), cmd)


def kill_command(pgid: int, signame: str) -> str:
    # both values are checked here, never taken from text: pgid is an int, signame a known signal name
    if not signame.isalnum():
        raise ValueError("bad signal name %r" % signame)
    return "kill -s %s -- -%d" % (signame, int(pgid))


class KeyCache:
    """Private keys loaded once per worker; a key that cannot be loaded is reported with its path."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: Dict[str, Any] = {}

    def get(self, path: str) -> Any:
        with self._lock:
            if path not in self._keys:
                try:
                    self._keys[path] = paramiko.PKey.from_path(path)
                except FileNotFoundError:
                    self._keys[path] = None
                except Exception as error:
                    self._keys[path] = error
            return self._keys[path]


class KnownHostsCache:
    """known_hosts files read once per worker, and again when one changes (its size or time).

    paramiko's HostKeys.load compares each new line with every line before it, hashing the hashed ones: on
    files of ed25519 lines it took 79 ms for 1,000 plain entries, 1.6 s for 1,000 half of them hashed (as
    HashKnownHosts writes them), 42 s for 5,000 such; and it ran for every new connection. Here the file is
    read in one pass (7 ms for those 1,000, 42 ms for those 5,000) and a lookup scans the entries (0.1-0.3 ms).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: Dict[str, Tuple[Tuple[int, int], List[paramiko.hostkeys.HostKeyEntry]]] = {}

    def lookup(self, path: str, name: str) -> Dict[str, paramiko.PKey]:
        """The keys the file knows for name (key type -> key, the first line of each type wins), {} when
        there is no such file; other errors are raised."""
        found: Dict[str, paramiko.PKey] = {}
        for entry in self._entries(path):
            if entry.key is not None and entry.key.get_name() not in found and self._matches(entry, name):
                found[entry.key.get_name()] = entry.key
        return found

    @staticmethod
    def _matches(entry: paramiko.hostkeys.HostKeyEntry, name: str) -> bool:
        return any(pattern == name or (pattern.startswith("|1|") and paramiko.HostKeys.hash_host(name, pattern)
                                       == pattern) for pattern in entry.hostnames)

    def _entries(self, path: str) -> List[paramiko.hostkeys.HostKeyEntry]:
        try:
            status = os.stat(path)
        except FileNotFoundError:
            return []
        stamp = (status.st_mtime_ns, status.st_size)
        with self._lock:
            cached = self._files.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        entries = []
        with open(path) as lines:
            for number, line in enumerate(lines, 1):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                try:
                    entry = paramiko.hostkeys.HostKeyEntry.from_line(line, number)
                except paramiko.SSHException:
                    continue  # a key type paramiko does not know, as HostKeys.load
                if entry is not None:
                    entries.append(entry)
        with self._lock:
            self._files[path] = (stamp, entries)
        return entries


class Registry:
    """Every HostConnection of a worker, by connection key, plus what they share (pacer, keys, executor)."""

    def __init__(self, executor: Executor, pacer: Optional[Pacer] = None, loop: Optional[TransportLoop] = None):
        self.executor = executor
        self.loop = loop  # when given, the worker's loop makes and reads the connections (ssh_handshake.py, ssh_loop.py)
        self.pacer = pacer or Pacer()  # every handshake of the worker, whichever way it is made
        self.keys = KeyCache()
        self.known_hosts = KnownHostsCache()
        self._lock = threading.Lock()
        self._connections: Dict[tuple, HostConnection] = {}

    def get(self, spec: Dict[str, Any]) -> "HostConnection":
        key = connection_key(spec)
        with self._lock:
            conn = self._connections.get(key)
            if conn is None:
                conn = self._connections[key] = HostConnection(spec, self)
            return conn

    def close_all(self) -> None:
        with self._lock:
            connections = list(self._connections.values())
            self._connections.clear()
        for conn in connections:
            conn.close()


class _Link:
    """One transport and the channels we opened on it (to know when it is full)."""

    def __init__(self, transport: Transport, helper: Optional[subprocess.Popen] = None):
        self.transport = transport
        self.helper = helper  # the ProxyCommand process feeding this transport, if any
        self.channels: List[paramiko.Channel] = []
        self.opening = 0  # sessions asked for without waiting, not answered yet (worker loop only)

    def live(self) -> int:
        self.channels = [c for c in self.channels if not c.closed]
        return len(self.channels)

    def has_room(self, max_sessions: Optional[int]) -> bool:
        return self.transport.is_active() and (max_sessions is None or self.live() + self.opening < max_sessions)

    def close(self) -> None:
        self.transport.close()
        if self.helper is not None:
            self.helper.kill()
            self.helper.wait()


class HostConnection:
    """The transports to one connection key; blocking methods, serialised per host through ``submit``."""

    def __init__(self, spec: Dict[str, Any], registry: Registry):
        self.spec = spec
        self.name = describe(spec)
        self.registry = registry
        self.max_sessions: Optional[int] = None  # learnt when the server first refuses a session
        self._links: List[_Link] = []
        self._links_lock = threading.Lock()
        # the worker loop's sessions waiting for a connection (see conn_worker.SessionOpener)
        self.waiting: Deque[Callable[[Optional[paramiko.Channel], Optional[BaseException]], None]] = \
            collections.deque()
        self.connecting = False
        self._lock = threading.Lock()
        self._connect_lock = threading.Lock()
        self._queue: Deque[Callable[["HostConnection"], None]] = collections.deque()
        self._draining = False
        self._closed = False
        self.blocking_only = ""  # why the loop does not connect to this host any more (see connect)

    # --- serialisation: a tiny actor on the shared thread pool -------------------------------------------

    def submit(self, task: Callable[["HostConnection"], None]) -> None:
        """Run task(self) on the worker's thread pool, after the tasks submitted before it for this host."""
        with self._lock:
            self._queue.append(task)
            if self._draining:
                return
            self._draining = True
        self.registry.executor.submit(self._drain)

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._draining = False
                    return
                task = self._queue.popleft()
            try:
                task(self)
            except Exception:  # a task reports its own errors; this is a bug guard that keeps the host usable
                log.exception("unexpected error in a task for %s", self.name)

    # --- sessions ------------------------------------------------------------------------------------------

    @property
    def timeout(self) -> float:
        return self.spec.get("connect_timeout") or DEFAULT_CONNECT_TIMEOUT

    def links(self) -> List[_Link]:
        """The live transports (dead ones are dropped: the next use reconnects)."""
        with self._links_lock:
            self._links = [link for link in self._links if link.transport.is_active()]
            return list(self._links)

    def link_with_room(self) -> Optional[_Link]:
        """A live transport that can take one more session, if any (the worker loop's non-blocking opens)."""
        for link in self.links():
            if link.has_room(self.max_sessions):
                return link
        return None

    def add_link(self) -> _Link:
        """Blocking: one more connection to the host."""
        with self._connect_lock:
            link = self._connect()
        with self._links_lock:
            self._links.append(link)
        return link

    def open_session(self) -> paramiko.Channel:
        """Blocking: a new session channel, on a transport with room (a new one when every transport is full)."""
        for link in self.links():
            if self.max_sessions is not None and link.live() >= self.max_sessions:
                continue
            channel = self._try_open(link)
            if channel is not None:
                return channel
        link = self.add_link()
        channel = self._try_open(link)
        if channel is None:
            raise ConnectError("%s: the server refuses every new session, even on a new connection" % self.name)
        return channel

    def _try_open(self, link: _Link) -> Optional[paramiko.Channel]:
        try:
            channel = link.transport.open_session(timeout=self.timeout)
        except paramiko.ChannelException:
            # OpenSSH's answer once MaxSessions sessions are open on this connection
            self.max_sessions = max(1, link.live())
            return None
        except (paramiko.SSHException, EOFError, OSError) as error:
            if link.transport.is_active():
                raise ConnectError("%s: cannot open a session: %s" % (self.name, error)) from None
            return None  # lost since the check: the caller connects again
        link.channels.append(channel)
        return channel

    def connect(self, on_done: Callable[[Optional[BaseException]], None], call: Callable[..., None]) -> None:
        """Worker loop: one more connection; on_done(None) or on_done(ConnectError) runs in the loop (``call``
        gets there from the thread pool). The loop makes it itself when it can (ssh_handshake.py), else the
        thread pool makes it the blocking way."""
        if self._loop_capable():
            self._connect_in_loop(on_done, call)
        else:
            self.submit(lambda conn: self._connect_blocking(on_done, call))

    def _loop_capable(self) -> bool:
        spec = self.spec
        return self.registry.loop is not None and not spec.get("proxy_jump") and not spec.get("proxy_command") \
            and not self.blocking_only

    def _connect_in_loop(self, on_done: Callable[[Optional[BaseException]], None], call: Callable[..., None]) -> None:
        def done(transport: Optional[Transport], error: Optional[BaseException]) -> None:
            if transport is not None:
                self._start_keepalive(transport)
                with self._links_lock:
                    self._links.append(_Link(transport))
                on_done(None)
            elif handshake.wants_blocking:  # ssh-agent's keys, or an old server: from now on, the blocking way
                self.blocking_only = handshake.wants_blocking
                self.submit(lambda conn: self._connect_blocking(on_done, call))
            else:
                on_done(error)

        handshake = LoopHandshake(self, self.registry.loop, self.registry.pacer, self.registry.executor, done)
        handshake.start()

    def _connect_blocking(self, on_done: Callable[[Optional[BaseException]], None], call: Callable[..., None]) -> None:
        """Thread pool."""
        try:
            self.add_link()
        except ConnectError as error:
            call(on_done, error)
            return
        except Exception as error:  # a bug guard: the sessions waiting on this connection must end, not hang
            call(on_done, ConnectError("%s: cannot connect: %s" % (self.name, error_text(error))))
            return
        call(on_done, None)

    def open_forward(self, address: str, port: int) -> paramiko.Channel:
        """A direct-tcpip channel from this host (a gateway) to address:port; called from many threads."""
        for attempt in (1, 2):
            with self._connect_lock:  # one handshake to the gateway, whatever the number of hosts behind it
                links = self.links()
                if not links:
                    link = self._connect()
                    with self._links_lock:
                        self._links.append(link)
                else:
                    link = links[0]
            try:
                return link.transport.open_channel("direct-tcpip", (address, port), ("127.0.0.1", 0),
                                                   timeout=self.timeout)
            except paramiko.ChannelException as error:
                raise ConnectError("gateway %s cannot reach %s:%d: %s" % (self.name, address, port,
                                                                          error.text or error)) from None
            except (paramiko.SSHException, EOFError, OSError) as error:
                if attempt == 2 or link.transport.is_active():
                    raise ConnectError("gateway %s: %s" % (self.name, error)) from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._closed = True
        with self._links_lock:
            links, self._links = self._links, []
        for link in links:
            link.close()

    # --- connecting ----------------------------------------------------------------------------------------

    def _socket(self) -> Tuple[Any, Optional[subprocess.Popen]]:
        spec = self.spec
        address, port, timeout = spec["address"], spec["port"], self.timeout
        if spec.get("proxy_jump"):
            return self.registry.get(spec["proxy_jump"]).open_forward(address, port), None
        if spec.get("proxy_command"):
            ours, theirs = socket.socketpair()
            # run by the shell like OpenSSH does; host names and users were checked by ssh_config (no metachars)
            helper = subprocess.Popen(["/bin/sh", "-c", spec["proxy_command"]], stdin=theirs, stdout=theirs,
                                      start_new_session=True)
            theirs.close()
            return ours, helper
        try:
            sock = socket.create_connection((address, port), timeout=timeout)
        except OSError as error:
            raise self.connect_failed(error) from None
        # without it, Nagle's algorithm and delayed ACKs add 40 ms to every channel open (OpenSSH sets it too)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, None

    def _connect(self) -> _Link:
        spec, timeout = self.spec, self.timeout
        with self.registry.pacer.slot(spec):
            sock, helper = self._socket()
            if self.registry.loop is not None and isinstance(sock, socket.socket):
                sock = LoopSocket(sock, self.registry.loop)  # the loop reads it once authenticated
            transport = Transport(sock)
            try:
                self._handshake(transport, timeout)
            except BaseException:
                transport.close()
                if helper is not None:
                    helper.kill()
                    helper.wait()
                raise
        self._start_keepalive(transport)
        return _Link(transport, helper)

    def _start_keepalive(self, transport: Transport) -> None:
        spec = self.spec
        if not spec.get("keepalive"):
            return
        loop = self.registry.loop
        if loop is not None:  # ServerAliveCountMax too (ssh_keepalive.py)
            keepalive = KeepAlive(transport, spec["keepalive"], spec.get("keepalive_count_max", DEFAULT_COUNT_MAX),
                                  loop.later)
            loop.later(0, keepalive.start)
        else:  # paramiko's thread per connection reads (a bench comparison): paramiko's keepalive, send only
            transport.set_keepalive(spec["keepalive"])

    def _handshake(self, transport: Transport, timeout: float) -> None:
        transport.banner_timeout = timeout
        transport.handshake_timeout = timeout
        transport.auth_timeout = timeout
        known = self.known_keys()
        transport.prefer_key_types(known)
        try:
            transport.start_client(timeout=timeout)
        except (paramiko.SSHException, EOFError, OSError) as error:
            if transport.packetizer.handshake_timed_out():  # paramiko says EOFError
                raise self.no_answer() from None
            raise self.handshake_failed(error) from None
        if not transport.is_active() or transport.host_key is None:
            # start_client() returns quietly when its timeout passes: a frozen sshd accepts TCP, then says nothing
            raise self.no_answer()
        self.check_host_key(transport, known)
        self._authenticate(transport)

    # --- errors, worded once for both ways of connecting (here, and in the loop: ssh_handshake.py) ----------

    def connect_failed(self, error: OSError) -> ConnectError:
        if isinstance(error, socket.gaierror):
            return ConnectError("%s: unknown host %s (%s)" % (self.name, self.spec["address"], error.strerror))
        if isinstance(error, ConnectionRefusedError):
            return ConnectError("%s: connection refused" % self.name)
        if isinstance(error, socket.timeout):
            return ConnectError("%s: connect timeout after %gs" % (self.name, self.timeout))
        return ConnectError("%s: cannot connect: %s" % (self.name, error.strerror or error))

    def no_answer(self) -> ConnectError:
        return ConnectError("%s: connect timeout after %gs: no SSH answer (host frozen or overloaded?)"
                            % (self.name, self.timeout))

    def handshake_failed(self, error: BaseException) -> ConnectError:
        if isinstance(error, paramiko.SSHException):
            text = str(error)
            if "banner" in text or "timeout" in text.lower() or isinstance(error.__cause__, socket.timeout):
                return self.no_answer()
            return ConnectError("%s: SSH handshake failed: %s" % (self.name, error_text(error)))
        return ConnectError("%s: connection closed during the handshake (%s)" % (self.name, error_text(error)))

    @property
    def known_hosts_name(self) -> str:
        """The host as known_hosts names it: ``address``, or ``[address]:port`` off port 22."""
        spec = self.spec
        return spec["address"] if spec["port"] == 22 else "[%s]:%d" % (spec["address"], spec["port"])

    def known_keys(self) -> Dict[str, paramiko.PKey]:
        spec = self.spec
        if spec.get("strict_host_key_checking") == "no":
            return {}
        name = self.known_hosts_name
        found: Dict[str, paramiko.PKey] = {}
        for path in spec.get("known_hosts") or []:
            try:
                keys = self.registry.known_hosts.lookup(path, name)
            except Exception as error:
                raise ConnectError("%s: cannot read known hosts file %s: %s" % (self.name, path, error)) from None
            for key_type, key in keys.items():
                found.setdefault(key_type, key)  # the first file that knows the host wins, as with OpenSSH
        return found

    def check_host_key(self, transport: Transport, known: Dict[str, paramiko.PKey]) -> None:
        mode = self.spec.get("strict_host_key_checking")
        if mode == "no":
            return
        server_key = transport.get_remote_server_key()
        expected = known.get(server_key.get_name())
        if expected is not None:
            if expected != server_key:
                raise ConnectError("%s: host key mismatch: the server sent %s %s, known_hosts (%s) has %s"
                                   % (self.name, server_key.get_name(), server_key.fingerprint,
                                      ", ".join(self.spec["known_hosts"]), expected.fingerprint))
            return
        if mode == "accept-new" and self.spec.get("known_hosts"):
            with open(self.spec["known_hosts"][0], "a") as f:
                f.write("%s %s %s\n" % (self.known_hosts_name, server_key.get_name(), server_key.get_base64()))
            return
        raise ConnectError("%s: host key %s %s is not in known_hosts (%s) and StrictHostKeyChecking is %s"
                           % (self.name, server_key.get_name(), server_key.fingerprint,
                              ", ".join(self.spec.get("known_hosts") or []) or "none", mode))

    def auth_candidates(self, with_agent: bool = True) -> Tuple[List[Tuple[str, Any]], List[str]]:
        """The keys to offer, in order, with labels; and why other keys cannot be used."""
        spec = self.spec
        paths = list(spec.get("keys") or [])
        if not paths and not spec.get("identities_only"):
            paths = [os.path.expanduser(p) for p in DEFAULT_KEYS]
        problems: List[str] = []
        candidates: List[Tuple[str, Any]] = []
        for path in paths:
            key = self.registry.keys.get(path)
            if key is None:
                continue
            if isinstance(key, Exception):
                problems.append("%s: %s" % (path, key))
                continue
            candidates.append((path, key))
        if with_agent and self.uses_agent():
            try:
                candidates += [("agent key %s" % k.fingerprint, k) for k in paramiko.Agent().get_keys()]
            except Exception as error:
                problems.append("ssh-agent: %s" % error)
        return candidates, problems

    def uses_agent(self) -> bool:
        return not self.spec.get("identities_only") and bool(os.environ.get("SSH_AUTH_SOCK"))

    def auth_refused(self, error: paramiko.BadAuthenticationType) -> ConnectError:
        return ConnectError("%s: authentication failed: the server accepts only %s" % (
            self.name, ", ".join(error.allowed_types)))

    def lost_during_auth(self, error: BaseException) -> ConnectError:
        return ConnectError("%s: connection lost during authentication: %s" % (self.name, error_text(error)))

    def auth_failed(self, tried: List[str], problems: List[str]) -> ConnectError:
        detail = "keys tried: %s" % (", ".join(tried) if tried else "none")
        if problems:
            detail += "; unusable keys: " + "; ".join(problems)
        return ConnectError("%s: authentication failed for user %s (%s)" % (self.name, self.spec["user"], detail))

    def _authenticate(self, transport: Transport) -> None:
        candidates, problems = self.auth_candidates()
        tried: List[str] = []
        for label, key in candidates:
            tried.append(label)
            try:
                transport.auth_publickey(self.spec["user"], key)
                if transport.is_authenticated():
                    return
            except paramiko.BadAuthenticationType as error:
                raise self.auth_refused(error) from None
            except paramiko.AuthenticationException:
                continue
            except (paramiko.SSHException, EOFError, OSError) as error:
                raise self.lost_during_auth(error) from None
        raise self.auth_failed(tried, problems)
