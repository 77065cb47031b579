"""Fixtures that start real OpenSSH servers on loopback addresses.

Each test host is its own ``sshd -D -e`` listening on its own loopback address (127.0.0.11, 127.0.0.12, ...),
so that one host can be frozen (SIGSTOP) or killed alone while the others go on. Everything lives in a
temporary directory: host keys, one client key authorized for the current user, the sshd configs and logs.
It works as root and as an ordinary user (StrictModes and PAM are off; an unprivileged sshd only serves its
own user, which is all we need).

All hosts of a pytest session share one TCP port, picked at random and checked free, so that several test
sessions (several engineers, or CI jobs) can run on one machine at once without colliding, and so that plain
address strings plus one connection params dict reach every host.

The module is also importable outside pytest (bench/ uses :class:`SshdEnv` directly).
"""

from __future__ import annotations

import ctypes
import os
import pwd
import random
import signal
import socket
import subprocess
import tempfile
import threading
import time
from typing import Dict, List, Optional, Sequence

import pytest

SSHD = "/usr/sbin/sshd"
SFTP_SERVER = "/usr/lib/openssh/sftp-server"
GATEWAY_ADDRESS = "127.0.0.10"
POOL_FIRST = 11          # session hosts: 127.0.0.11 .. 127.0.0.99
FRESH_FIRST = 100        # per-test hosts (freeze/kill): 127.0.0.100 .. 127.0.0.254
MANY_NET = "127.0.{}.{}"  # benchmark addresses: 127.0.2.1 and up
MAX_LISTEN_PER_SSHD = 16  # OpenSSH's MAX_LISTEN_SOCKS


def _children_map() -> Dict[int, List[int]]:
    """ppid -> pids, read from /proc (no ps, no psutil)."""
    children: Dict[int, List[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # the command name may hold spaces and parentheses: the ppid follows the last ')'
        fields = stat[stat.rfind(b")") + 2:].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def descendants(pid: int) -> List[int]:
    """Every process below pid. sshd's per-connection children call setsid(), so a process group would miss them."""
    children = _children_map()
    found: List[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _signal_all(pids: Sequence[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _free_on(address: str, port: int) -> bool:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        return True
    except OSError:
        return False
    finally:
        sock.close()


def _keygen(path: str, comment: str) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path],
                   check=True, stdin=subprocess.DEVNULL)


def _die_with_parent() -> None:
    """In the sshd child: SIGTERM when pytest dies, even killed (no fixture teardown runs then).

    A preexec_fn is slow, which does not matter for a few servers a session."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class SshdHost:
    """One running sshd (listening on one or more addresses) and the knobs tests turn on it."""

    def __init__(self, env: "SshdEnv", name: str, addresses: Sequence[str], extra_config: str = ""):
        self.env = env
        self.name = name
        self.addresses = list(addresses)
        self.address = self.addresses[0]
        self.port = env.port
        self.dir = os.path.join(env.dir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.host_key = os.path.join(self.dir, "host_ed25519")
        _keygen(self.host_key, "host-" + name)
        with open(self.host_key + ".pub") as f:
            self.host_key_pub = f.read().strip()
        self.log_path = os.path.join(self.dir, "sshd.log")
        self.config_path = os.path.join(self.dir, "sshd_config")
        self.extra_config = extra_config
        self.proc: Optional[subprocess.Popen] = None
        self.start()

    def _write_config(self) -> None:
        # sshd keeps the first value of a keyword: the extra settings come first to override the defaults
        lines = [self.extra_config] + ["ListenAddress %s:%d" % (address, self.port) for address in self.addresses]
        lines += [
            "HostKey " + self.host_key,
            "PidFile none",
            "UsePAM no",
            "StrictModes no",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            "AuthorizedKeysFile " + self.env.authorized_keys,
            "AllowTcpForwarding yes",
            "PermitUserEnvironment no",
            "Subsystem sftp " + SFTP_SERVER,
            "LogLevel INFO",
            # a home of our own for remote commands: bash sources ~/.bashrc for every command run through sshd,
            # and a heavy one (pyenv init: ~0.2 s of CPU here) would dominate every timing and slow the suite
            "SetEnv HOME=" + self.env.remote_home,
        ]
        with open(self.config_path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self, timeout: float = 10.0) -> None:
        """Start (or restart) this sshd and wait until it listens on every address."""
        for address in self.addresses:
            if not _free_on(address, self.port):
                raise RuntimeError("sshd %s: %s:%d is already in use" % (self.name, address, self.port))
        self._write_config()
        log = open(self.log_path, "ab")
        start_offset = log.tell()
        try:
            self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", self.config_path], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, start_new_session=True,
                                         # the death signal follows the *thread* that forks: only
                                         # the main thread lives as long as pytest
                                         preexec_fn=_die_with_parent
                                         if threading.current_thread() is threading.main_thread() else None)
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while True:
            with open(self.log_path, "rb") as f:
                f.seek(start_offset)
                text = f.read().decode(errors="replace")
            if text.count("Server listening on") >= len(self.addresses):
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("sshd %s did not start (%s):\n%s" % (self.name, self.config_path, text))
            time.sleep(0.01)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def _all_pids(self) -> List[int]:
        return [self.pid] + descendants(self.pid)

    def freeze(self) -> None:
        """SIGSTOP the sshd and its connections: a frozen host (TCP still accepts, nothing answers)."""
        _signal_all(self._all_pids(), signal.SIGSTOP)

    def thaw(self) -> None:
        _signal_all(self._all_pids(), signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL the sshd, its connections and their commands: established connections are lost."""
        if self.proc is None:
            return
        pids = self._all_pids()
        _signal_all(pids, signal.SIGKILL)
        _signal_all(pids, signal.SIGCONT)
        self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        """Stop the sshd and everything below it; gentle first so that sessions close cleanly."""
        if self.proc is None:
            return
        pids = self._all_pids()
        _signal_all(pids, signal.SIGTERM)
        _signal_all(pids, signal.SIGCONT)
        try:
            self.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            pass
        _signal_all(pids + descendants(self.pid), signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    restart = start

    def log(self) -> str:
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def __repr__(self) -> str:
        return "SshdHost(%s, %s:%d)" % (self.name, self.address, self.port)


class SshdEnv:
    """Keys, port and bookkeeping shared by every sshd of a session; stop() ends them all."""

    def __init__(self, base_dir: Optional[str] = None, port: Optional[int] = None):
        if os.getuid() == 0 and not os.path.isdir("/run/sshd"):
            # OpenSSH run as root insists on its privilege separation directory
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        self.dir = base_dir or tempfile.mkdtemp(prefix="execo-sshd-")
        self.user = pwd.getpwuid(os.getuid()).pw_name
        self.client_key = os.path.join(self.dir, "client_ed25519")
        _keygen(self.client_key, "execo-tests")
        self.authorized_keys = os.path.join(self.dir, "authorized_keys")
        with open(self.client_key + ".pub") as src, open(self.authorized_keys, "w") as dst:
            dst.write(src.read())
        self.remote_home = os.path.join(self.dir, "home")
        os.makedirs(self.remote_home, exist_ok=True)
        self.port = port or self._pick_port()
        self.hosts: List[SshdHost] = []
        self._next_fresh = FRESH_FIRST
        self._next_many = 0
        self.ssh_config_file = os.path.join(self.dir, "ssh_config")
        with open(self.ssh_config_file, "w") as f:
            f.write(self.ssh_config_text())

    @staticmethod
    def _pick_port() -> int:
        rng = random.Random()
        for _ in range(200):
            port = rng.randrange(20000, 40000)
            if _free_on("127.0.0.%d" % POOL_FIRST, port) and _free_on(GATEWAY_ADDRESS, port):
                return port
        raise RuntimeError("no free port found for the test sshd servers")

    def ssh_config_text(self) -> str:
        """An ssh_config reaching every test address with the test key (valid for OpenSSH's ssh too)."""
        return (
            "Host 127.0.*.*\n"
            "    Port %d\n"
            "    User %s\n"
            "    IdentityFile %s\n"
            "    IdentitiesOnly yes\n"
            "    StrictHostKeyChecking no\n"
            "    UserKnownHostsFile /dev/null\n"
            "    BatchMode yes\n"
            "    LogLevel ERROR\n"
        ) % (self.port, self.user, self.client_key)

    def connection_params(self, **overrides) -> dict:
        """Execo connection params reaching the test hosts (ssh_config_file: ours, not the user's ~/.ssh/config)."""
        params = {
            "user": self.user,
            "keyfile": self.client_key,
            "port": self.port,
            "ssh_options": ("-o", "BatchMode=yes", "-o", "PasswordAuthentication=no",
                            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                            "-o", "ConnectTimeout=5"),
            "ssh_config_file": self.ssh_config_file,
        }
        params.update(overrides)
        return params

    def start_host(self, address: str, extra_config: str = "", name: Optional[str] = None) -> SshdHost:
        host = SshdHost(self, name or address, [address], extra_config)
        self.hosts.append(host)
        return host

    def start_fresh_host(self, extra_config: str = "") -> SshdHost:
        """A host of its own for a test that will freeze or kill it."""
        for _ in range(255 - FRESH_FIRST):
            address = "127.0.0.%d" % self._next_fresh
            self._next_fresh = FRESH_FIRST + (self._next_fresh + 1 - FRESH_FIRST) % (255 - FRESH_FIRST)
            if _free_on(address, self.port):
                return self.start_host(address, extra_config, name="fresh-" + address)
        raise RuntimeError("no free fresh address for port %d" % self.port)

    def many_addresses(self, n: int) -> List[str]:
        """n new addresses served by as few sshds as OpenSSH allows (16 listen sockets each), limits raised."""
        addresses = []
        for _ in range(n):
            index = self._next_many
            self._next_many += 1
            addresses.append(MANY_NET.format(2 + index // 250, 1 + index % 250))
        extra = "MaxStartups 1000:30:2000\nMaxSessions 1000"
        for start in range(0, n, MAX_LISTEN_PER_SSHD):
            group = addresses[start:start + MAX_LISTEN_PER_SSHD]
            host = SshdHost(self, "many-" + group[0], group, extra)
            self.hosts.append(host)
        return addresses

    def stop_host(self, host: SshdHost) -> None:
        host.stop()
        if host in self.hosts:
            self.hosts.remove(host)

    def stop(self) -> None:
        for host in self.hosts:
            host.stop()
        self.hosts = []
        subprocess.run(["rm", "-rf", "--", self.dir], check=False)


class SshdPool:
    """Session hosts at 127.0.0.11 and up, started on first demand and kept for the whole session."""

    def __init__(self, env: SshdEnv):
        self.env = env
        self.hosts: List[SshdHost] = []

    def __call__(self, n: int) -> List[SshdHost]:
        while len(self.hosts) < n:
            address = "127.0.0.%d" % (POOL_FIRST + len(self.hosts))
            if POOL_FIRST + len(self.hosts) >= FRESH_FIRST:
                raise ValueError("at most %d session hosts" % (FRESH_FIRST - POOL_FIRST))
            self.hosts.append(self.env.start_host(address))
        for host in self.hosts[:n]:
            if host.proc is None or host.proc.poll() is not None:
                host.start()  # a test killed it: bring it back rather than hand out a dead host
        return self.hosts[:n]


@pytest.fixture(scope="session")
def sshd_env(tmp_path_factory):
    """Keys, port, ssh_config and every sshd of the session; all of them are stopped at the end."""
    env = SshdEnv(base_dir=str(tmp_path_factory.mktemp("sshd")))
    yield env
    env.stop()


@pytest.fixture(scope="session")
def sshd_hosts(sshd_env):
    """Factory: ``sshd_hosts(n)`` -> the first n session hosts (127.0.0.11, ...), each its own sshd."""
    return SshdPool(sshd_env)


@pytest.fixture(scope="session")
def sshd_gateway(sshd_env):
    """A ProxyJump gateway at 127.0.0.10; its log (LogLevel DEBUG1) shows each forwarded connection."""
    return sshd_env.start_host(GATEWAY_ADDRESS, extra_config="LogLevel DEBUG1", name="gateway")


@pytest.fixture
def sshd_fresh_host(sshd_env):
    """Factory: a new sshd for this test only (to freeze, thaw or kill), stopped at the end of the test."""
    started: List[SshdHost] = []

    def start(extra_config: str = "") -> SshdHost:
        host = sshd_env.start_fresh_host(extra_config)
        started.append(host)
        return host

    yield start
    for host in started:
        sshd_env.stop_host(host)


@pytest.fixture(scope="session")
def sshd_many(sshd_env):
    """Factory for benchmarks: ``sshd_many(n)`` -> n addresses served by few sshds (MaxStartups/MaxSessions raised)."""
    return sshd_env.many_addresses


@pytest.fixture(scope="session")
def ssh_config_file(sshd_env) -> str:
    return sshd_env.ssh_config_file


@pytest.fixture(scope="session")
def taktuk_connection_params(sshd_env) -> dict:
    """Connection params for the taktuk actions: taktuk runs ``ssh`` itself, with our key, port and options."""
    return {
        "keyfile": sshd_env.client_key,
        "port": sshd_env.port,
        "taktuk_connector_options": ("-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                                     "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                                     "-o", "ConnectTimeout=10"),
    }


@pytest.fixture(scope="session")
def ssh_connection_params(sshd_env) -> dict:
    """Connection params (user, keyfile, port, ssh_options, ssh_config_file) reaching every test host."""
    return sshd_env.connection_params()


def ssh_command(env: SshdEnv, address: str, command: str) -> List[str]:
    """An OpenSSH client command line for a test host, for tests that compare with the real ssh."""
    return ["ssh", "-F", env.ssh_config_file, address, command]

