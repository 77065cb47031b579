"""The connection worker pool driven by a tiny select loop, against real sshd servers on loopback."""

import hashlib
import itertools
import os
import select
import signal
import subprocess
import sys
import time

import paramiko
import pytest

from execo_actors.ssh_config import host_spec
from execo_actors.worker_pool import WorkerPool


class Driver:
    """The smallest I/O loop that uses the pool the way the controller's I/O actor does."""

    def __init__(self, pool):
        self.pool = pool
        self.events = []
        self.ids = itertools.count(1)

    def send(self, frame):
        self.events += self.pool.send(frame)

    def exec(self, spec, cmd, pty=False):
        pid = next(self.ids)
        self.send({"op": "exec", "id": pid, "host": spec, "cmd": cmd, "pty": pty})
        return pid

    def pump(self, timeout=0.2):
        wait = self.pool.next_timeout()
        wait = timeout if wait is None else min(wait, timeout)
        readable, writable, _ = select.select(self.pool.fds_to_read(), self.pool.fds_to_write(), [], wait)
        for fd in readable:
            self.events += self.pool.handle_readable(fd)
        for fd in writable:
            self.events += self.pool.handle_writable(fd)
        self.events += self.pool.run_timers()

    def of(self, pid, ev=None):
        return [e for e in self.events if e.get("id") == pid and (ev is None or e["ev"] == ev)]

    def until(self, condition, timeout=20.0):
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError("timed out; events so far: %r" % self.events[-20:])
            self.pump()

    def wait_started(self, pid, timeout=20.0):
        self.until(lambda: self.of(pid, "started") or self.of(pid, "ended"), timeout)
        return self.of(pid, "started")

    def wait_ended(self, pids, timeout=20.0):
        pids = [pids] if isinstance(pids, int) else list(pids)
        self.until(lambda: all(self.of(p, "ended") for p in pids), timeout)
        ended = {p: self.of(p, "ended") for p in pids}
        assert all(len(e) == 1 for e in ended.values()), ended  # exactly one end per process
        return {p: e[0] for p, e in ended.items()}

    def output(self, pid, stream=1):
        return b"".join(e["data"] for e in self.of(pid, "out") if e["stream"] == stream)


@pytest.fixture(scope="module")
def module_pool():
    pool = WorkerPool(2)
    yield pool
    pool.close()


@pytest.fixture
def drv(module_pool):
    return Driver(module_pool)


@pytest.fixture
def params(sshd_env):
    return sshd_env.connection_params()


@pytest.fixture
def spec_of(params):
    def spec(host, **overrides):
        return host_spec(host if isinstance(host, str) else host.address, dict(params, **overrides))
    return spec


def wait_gone(pid, timeout=5.0):
    deadline = time.monotonic() + timeout
    while os.path.exists("/proc/%d" % pid):
        with open("/proc/%d/stat" % pid) as f:
            if f.read().split(")")[-1].split()[0] == "Z":
                return True  # a zombie waiting for its (dead) parent: it has run its last instruction
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def read_pid(path, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(path) as f:
                text = f.read().strip()
            if text:
                return int(text)
        except FileNotFoundError:
            pass
        assert time.monotonic() < deadline, "no pid written to %s" % path
        time.sleep(0.02)


# --- running commands ---------------------------------------------------------------------------------------

def test_exec_status_and_streams(drv, sshd_hosts, spec_of):
    host, = sshd_hosts(1)
    pid = drv.exec(spec_of(host), "echo out; echo err >&2; exit 3")
    ended = drv.wait_ended(pid)[pid]
    assert drv.of(pid, "started") and drv.events.index(drv.of(pid, "started")[0]) < drv.events.index(ended)
    assert (ended["status"], ended["signal"], ended["error"]) == (3, None, None)
    assert drv.output(pid, 1) == b"out\n"
    assert drv.output(pid, 2) == b"err\n"  # the pgid marker line is not part of the output


def test_exit_signal_is_reported(drv, sshd_hosts, spec_of):
    host, = sshd_hosts(1)
    pid = drv.exec(spec_of(host), "kill -s USR1 $$")
    ended = drv.wait_ended(pid)[pid]
    assert (ended["status"], ended["signal"], ended["error"]) == (None, "USR1", None)


def test_output_order_and_big_output_intact(drv, sshd_hosts, spec_of, tmp_path):
    host, = sshd_hosts(1)
    payload = os.urandom(10 * 1000 * 1000)
    path = tmp_path / "big"
    path.write_bytes(payload)
    big = drv.exec(spec_of(host), "cat %s" % path)
    lines = drv.exec(spec_of(host), "seq 1 50000")
    ended = drv.wait_ended([big, lines], timeout=60)
    assert ended[big]["status"] == 0 and ended[lines]["status"] == 0
    out = drv.output(big)
    assert len(out) == len(payload) and hashlib.sha256(out).digest() == hashlib.sha256(payload).digest()
    assert drv.output(lines) == b"".join(b"%d\n" % i for i in range(1, 50001))


def test_stdin_write_and_eof(drv, sshd_hosts, spec_of):
    host, = sshd_hosts(1)
    pid = drv.exec(spec_of(host), "sha256sum")
    data = os.urandom(3 * 1000 * 1000)
    for i in range(0, len(data), 100000):
        drv.send({"op": "write", "id": pid, "data": data[i:i + 100000]})
    drv.send({"op": "eof", "id": pid})
    ended = drv.wait_ended(pid, timeout=60)[pid]
    assert ended["status"] == 0
    assert drv.output(pid).split()[0].decode() == hashlib.sha256(data).hexdigest()


def test_pty(drv, sshd_hosts, spec_of):
    host, = sshd_hosts(1)
    pid = drv.exec(spec_of(host), "test -t 0 && test -t 1 && echo is-a-tty", pty=True)
    nopty = drv.exec(spec_of(host), "test -t 0 || echo no-tty")
    ended = drv.wait_ended([pid, nopty])
    assert ended[pid]["status"] == 0 and ended[nopty]["status"] == 0
    assert drv.output(pid) == b"is-a-tty\r\n"  # the terminal's CRLF, as with ssh -tt
    assert drv.output(nopty) == b"no-tty\n"


@pytest.mark.parametrize("pty", [False, True])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_kill_leaves_no_orphan(drv, sshd_hosts, spec_of, tmp_path, pty, sig):
    """The remote command and its children are gone after a kill, with and without a pty."""
    host, = sshd_hosts(1)
    pidfile = tmp_path / "child.pid"
    pid = drv.exec(spec_of(host), "sleep 300 & echo $! > %s; wait" % pidfile, pty=pty)
    assert drv.wait_started(pid)
    child = read_pid(pidfile)
    drv.send({"op": "kill", "id": pid, "sig": int(sig)})
    ended = drv.wait_ended(pid)[pid]
    assert ended["error"] is None and ended["status"] is None
    assert ended["signal"] == sig.name[3:]
    assert wait_gone(child), "remote child %d survived the kill" % child


def test_kill_before_start_and_late_ops(drv, sshd_hosts, spec_of):
    host, = sshd_hosts(1)
    pid = drv.exec(spec_of(host), "sleep 300")
    drv.send({"op": "kill", "id": pid, "sig": 15})
    ended = drv.wait_ended(pid)[pid]
    assert ended["signal"] == "TERM"
    drv.send({"op": "write", "id": pid, "data": b"late"})  # ignored: the process is over
    drv.send({"op": "kill", "id": pid, "sig": 9})
    drv.pump(0.1)
    assert len(drv.of(pid, "ended")) == 1


def test_parallel_50_hosts(drv, sshd_hosts, spec_of):
    hosts = sshd_hosts(50)
    pids = {drv.exec(spec_of(h), "echo $SSH_CONNECTION"): h for h in hosts}
    ended = drv.wait_ended(pids, timeout=60)
    for pid, host in pids.items():
        assert ended[pid]["status"] == 0, ended[pid]
        assert drv.output(pid).split()[2].decode() == host.address


def test_max_sessions_opens_more_connections(drv, sshd_fresh_host, spec_of):
    host = sshd_fresh_host("MaxSessions 2")
    pids = [drv.exec(spec_of(host), "sleep 0.5; echo done %d" % i) for i in range(7)]
    ended = drv.wait_ended(pids, timeout=30)
    assert all(e["status"] == 0 for e in ended.values()), ended
    assert [drv.output(p) for p in pids] == [b"done %d\n" % i for i in range(7)]
    assert host.log().count("Accepted publickey") >= 4  # 2 sessions per connection


def test_proxyjump_through_one_gateway_connection(drv, sshd_hosts, sshd_gateway, sshd_env, tmp_path):
    targets = sshd_hosts(3)
    config = tmp_path / "ssh_config"
    config.write_text("Host behind-*\n    ProxyJump %s\n" % sshd_gateway.address
                      + "".join("Host behind-%d\n    HostName %s\n" % (i, h.address) for i, h in enumerate(targets))
                      + sshd_env.ssh_config_text())
    params = sshd_env.connection_params(ssh_config_file=str(config))
    accepted_before = sshd_gateway.log().count("Accepted publickey")
    pids = {drv.exec(host_spec("behind-%d" % i, params), "echo $SSH_CONNECTION"): h for i, h in enumerate(targets)}
    ended = drv.wait_ended(pids)
    for pid, host in pids.items():
        assert ended[pid]["status"] == 0, ended[pid]
        assert drv.output(pid).split()[2].decode() == host.address
    log = sshd_gateway.log()
    for host in targets:
        assert "to %s port %d" % (host.address, sshd_env.port) in log  # forwarded by the gateway
    # hosts behind a gateway are spread over the workers (for the cores); each worker shares one gateway connection
    assert log.count("Accepted publickey") - accepted_before <= drv.pool.n_workers


def test_proxycommand(drv, sshd_hosts, sshd_env, tmp_path):
    host, = sshd_hosts(1)
    config = tmp_path / "ssh_config"
    config.write_text("Host via-nc\n    HostName %s\n    ProxyCommand nc %%h %%p\n" % host.address
                      + sshd_env.ssh_config_text())
    pid = drv.exec(host_spec("via-nc", sshd_env.connection_params(ssh_config_file=str(config))), "echo hi")
    ended = drv.wait_ended(pid)[pid]
    assert ended["status"] == 0, ended
    assert drv.output(pid) == b"hi\n"


# --- faults: each ends only its host's processes, with an error naming the host --------------------------------

def test_faults_end_only_their_host(drv, sshd_hosts, spec_of, sshd_env, tmp_path):
    good, = sshd_hosts(1)
    other_key = str(tmp_path / "other_key")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other_key], check=True)
    known = tmp_path / "known_hosts"
    wrong = open(other_key + ".pub").read().split()
    known.write_text("[%s]:%d %s %s\n" % (good.address, sshd_env.port, wrong[0], wrong[1]))
    cases = {
        "refused": (spec_of("127.0.0.249"), "connection refused"),
        "unknown": (spec_of("no-such-host.invalid"), "unknown host"),
        "auth": (host_spec(good.address, {"user": sshd_env.user, "port": sshd_env.port, "keyfile": other_key,
                                           "ssh_options": ("-o", "IdentitiesOnly=yes", "-o",
                                                           "StrictHostKeyChecking=no"),
                                           "ssh_config_file": "/dev/null"}), "authentication failed"),
        "hostkey": (spec_of(good, ssh_options=("-o", "StrictHostKeyChecking=yes",
                                               "-o", "UserKnownHostsFile=%s" % known), ssh_config_file="/dev/null"),
                    "host key mismatch"),
        "unknown key": (spec_of(good, ssh_options=("-o", "StrictHostKeyChecking=yes",
                                                   "-o", "UserKnownHostsFile=%s" % (tmp_path / "empty")),
                                ssh_config_file="/dev/null"), "not in known_hosts"),
    }
    pids = {name: drv.exec(spec, "echo never") for name, (spec, _) in cases.items()}
    ok = drv.exec(spec_of(good), "echo fine")
    ended = drv.wait_ended(list(pids.values()) + [ok])
    assert ended[ok]["status"] == 0 and drv.output(ok) == b"fine\n"
    for name, pid in pids.items():
        spec, expected = cases[name]
        error = ended[pid]["error"]
        assert error and expected in error, (name, error)
        assert spec["address"] in error, (name, error)
        assert not drv.output(pid) and not drv.of(pid, "started")


def test_frozen_host_times_out(drv, sshd_fresh_host, sshd_hosts, spec_of):
    good, = sshd_hosts(1)
    frozen = sshd_fresh_host()
    frozen.freeze()
    start = time.monotonic()
    pid = drv.exec(spec_of(frozen, ssh_options=("-o", "ConnectTimeout=1")), "echo never")
    ok = drv.exec(spec_of(good), "echo fine")
    ended = drv.wait_ended([pid, ok], timeout=15)
    assert ended[ok]["status"] == 0
    assert "connect timeout" in ended[pid]["error"] and frozen.address in ended[pid]["error"]
    assert time.monotonic() - start < 6
    frozen.thaw()


def test_connection_lost_then_reconnect(drv, sshd_fresh_host, spec_of):
    host = sshd_fresh_host()
    spec = spec_of(host)
    first = drv.exec(spec, "echo up")
    assert drv.wait_ended(first)[first]["status"] == 0
    pid = drv.exec(spec, "sleep 300")
    assert drv.wait_started(pid)
    host.kill()
    error = drv.wait_ended(pid)[pid]["error"]
    assert "connection lost" in error and host.address in error
    host.restart()
    again = drv.exec(spec, "echo back")
    assert drv.wait_ended(again)[again]["status"] == 0 and drv.output(again) == b"back\n"


# --- supervision ----------------------------------------------------------------------------------------------

def test_worker_killed_mid_command_is_restarted(sshd_hosts, spec_of, tmp_path):
    host, = sshd_hosts(1)
    pool = WorkerPool(1, max_restarts=2, restart_window=60, backoff=0.01)
    drv = Driver(pool)
    pidfile = tmp_path / "pid"
    try:
        pid = drv.exec(spec_of(host), "echo $$ > %s; exec sleep 300" % pidfile, pty=True)
        assert drv.wait_started(pid)
        remote = read_pid(pidfile)
        os.kill(pool.workers[0].proc.pid, signal.SIGKILL)
        ended = drv.wait_ended(pid)[pid]
        assert "connection worker 0 died (killed by SIGKILL)" in ended["error"] and host.address in ended["error"]
        assert wait_gone(remote)  # the pty's hangup ended the remote command with its connection
        again = drv.exec(spec_of(host), "echo restarted")
        assert drv.wait_ended(again)[again]["status"] == 0 and drv.output(again) == b"restarted\n"
        for _ in range(2):  # two more deaths exceed 2 restarts in 60 s
            os.kill(pool.workers[0].proc.pid, signal.SIGKILL)
            drv.until(lambda: pool.workers[0].state != "running")
            drv.until(lambda: pool.workers[0].state != "waiting")
        assert pool.workers[0].state == "failed"
        refused = drv.exec(spec_of(host), "echo never")
        assert "gave up" in drv.wait_ended(refused)[refused]["error"]
    finally:
        pool.close()
    assert all(w.proc is None for w in pool.workers)


def test_close_reaps_workers_and_ends_remote_commands(sshd_hosts, spec_of, tmp_path):
    host, = sshd_hosts(1)
    pool = WorkerPool(2)
    drv = Driver(pool)
    pidfile = tmp_path / "pid"
    pid = drv.exec(spec_of(host), "sleep 300 & echo $! > %s; wait" % pidfile)
    assert drv.wait_started(pid)
    child = read_pid(pidfile)
    workers = [w.proc for w in pool.workers if w.proc is not None]
    events = pool.close()
    assert [e["id"] for e in events if e["ev"] == "ended"] == [pid]
    assert all(p.returncode is not None for p in workers)
    assert wait_gone(child)


def test_worker_exits_when_controller_goes_away(sshd_hosts, spec_of, tmp_path):
    """stdin closing (the controller died) ends the worker and its remote commands."""
    from execo_actors.frames import FrameReader, pack
    host, = sshd_hosts(1)
    pidfile = tmp_path / "pid"
    worker = subprocess.Popen([sys.executable, "-m", "execo_actors.conn_worker"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE)
    try:
        worker.stdin.write(pack({"op": "exec", "id": 1, "host": spec_of(host),
                                 "cmd": "sleep 300 & echo $! > %s; wait" % pidfile, "pty": False}))
        worker.stdin.flush()
        reader = FrameReader()
        frames = reader.feed(os.read(worker.stdout.fileno(), 65536))
        assert frames[0]["ev"] == "started"
        child = read_pid(pidfile)
        time.sleep(0.2)  # let the pgid marker arrive
        worker.stdin.close()
        assert worker.wait(timeout=10) == 0
        assert wait_gone(child)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        worker.stdout.close()


def test_host_told_once_then_named_by_number(sshd_hosts, spec_of):
    """A worker learns a host's spec from one "host" frame; execs name it by hid; bad hids and specs end alone."""
    from execo_actors.frames import FrameReader, pack
    host, = sshd_hosts(1)
    worker = subprocess.Popen([sys.executable, "-m", "execo_actors.conn_worker"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE)
    try:
        frames = [{"op": "host", "hid": 1, "spec": spec_of(host)}, {"op": "host", "hid": 2, "spec": {"port": 1}}]
        frames += [{"op": "exec", "id": i, "hid": 1, "cmd": "echo %d" % i, "pty": False} for i in (1, 2)]
        frames += [{"op": "exec", "id": 3, "hid": 9, "cmd": "true"}, {"op": "exec", "id": 4, "hid": 2, "cmd": "true"}]
        worker.stdin.write(b"".join(pack(f) for f in frames))
        worker.stdin.flush()
        reader, events = FrameReader(), []
        deadline = time.monotonic() + 20
        while sum(e["ev"] == "ended" for e in events) < 4 and time.monotonic() < deadline:
            events += reader.feed(os.read(worker.stdout.fileno(), 65536))
        ended = {e["id"]: e for e in events if e["ev"] == "ended"}
        output = {e["id"]: e["data"] for e in events if e["ev"] == "out"}
        assert ended[1]["status"] == 0 and ended[2]["status"] == 0 and output == {1: b"1\n", 2: b"2\n"}
        assert ended[3]["error"] == "unknown host number 9"
        assert ended[4]["error"].startswith("bad host spec {'port': 1}")
    finally:
        worker.stdin.close()
        worker.wait(timeout=10)
        worker.stdout.close()


def test_pool_sends_each_host_once_per_worker_life(sshd_hosts, spec_of):
    host, = sshd_hosts(1)
    pool = WorkerPool(1, backoff=0.01)
    drv = Driver(pool)
    try:
        pids = [drv.exec(spec_of(host), "true") for _ in range(3)]
        assert all(e["status"] == 0 for e in drv.wait_ended(pids).values())
        assert list(pool.workers[0].hosts.values()) == [1]
        os.kill(pool.workers[0].proc.pid, signal.SIGKILL)
        drv.until(lambda: pool.workers[0].state == "waiting")
        assert pool.workers[0].hosts == {}  # the next life is told again
        again = drv.exec(spec_of(host), "true")
        assert drv.wait_ended(again)[again]["status"] == 0
    finally:
        pool.close()


def test_workers_start_as_hosts_come_and_keep_their_hosts(monkeypatch):
    """One worker per HOSTS_PER_WORKER connection keys (up to n_workers), the least loaded first; sticky."""
    import execo_actors.worker_pool as worker_pool
    from execo_actors.ssh_config import Route
    monkeypatch.setattr(worker_pool, "HOSTS_PER_WORKER", 2)
    pool = WorkerPool(3)
    params = {"ssh_config_file": "/dev/null", "user": "u"}
    routes = [Route(host_spec("h%d" % i, params)) for i in range(8)]
    placed = [pool.worker_for(r).index for r in routes]
    assert placed == [0, 0, 1, 1, 2, 2, 0, 1]  # a second worker from the third host, a third from the fifth
    assert [pool.worker_for(r).index for r in reversed(routes)] == placed[::-1]  # a host keeps its worker
    assert pool.worker_for(Route(host_spec("h1", dict(params, port=2222)))).index == 2  # another key: the least loaded
    assert all(w.proc is None for w in pool.workers)  # placing starts nothing; the first frame does


# --- file transfers -------------------------------------------------------------------------------------------

def make_tree(root):
    os.makedirs(os.path.join(root, "sub", "deeper"))
    files = {"a.txt": (b"alpha\n", 0o640), "run.sh": (b"#!/bin/sh\necho hi\n", 0o755),
             os.path.join("sub", "b.bin"): (os.urandom(300000), 0o600),
             os.path.join("sub", "deeper", "c"): (b"", 0o444)}
    for i, (name, (data, mode)) in enumerate(sorted(files.items())):
        path = os.path.join(root, name)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)
        os.utime(path, (1000000000 + i, 1200000000 + i))
    os.chmod(os.path.join(root, "sub"), 0o750)
    os.utime(os.path.join(root, "sub"), (1100000000, 1300000000))
    return files


def assert_same_tree(a, b):
    for dirpath, dirnames, filenames in os.walk(a):
        for name in dirnames + filenames:
            src = os.path.join(dirpath, name)
            dst = os.path.join(b, os.path.relpath(src, a))
            s, d = os.stat(src), os.stat(dst)
            assert (oct(s.st_mode), int(s.st_mtime)) == (oct(d.st_mode), int(d.st_mtime)), src
            if os.path.isfile(src):
                with open(src, "rb") as f1, open(dst, "rb") as f2:
                    assert f1.read() == f2.read(), src


def test_put_and_get_recursive(drv, sshd_hosts, spec_of, tmp_path):
    host, = sshd_hosts(1)
    tree = tmp_path / "tree"
    make_tree(str(tree))
    remote = tmp_path / "remote"
    remote.mkdir()
    put = next(drv.ids)
    drv.send({"op": "put", "id": put, "host": spec_of(host), "files": [str(tree)], "dest": str(remote)})
    ended = drv.wait_ended(put)[put]
    assert (ended["status"], ended["error"]) == (0, None), drv.output(put, 2)
    assert_same_tree(str(tree), str(remote / "tree"))
    back = tmp_path / "back"
    back.mkdir()
    get = next(drv.ids)
    drv.send({"op": "get", "id": get, "host": spec_of(host), "files": [str(remote / "tree"), str(remote / "tr*")],
              "dest": str(back)})
    ended = drv.wait_ended(get)[get]
    assert (ended["status"], ended["error"]) == (0, None), drv.output(get, 2)
    assert_same_tree(str(tree), str(back / "tree"))


def test_put_missing_file_reports_and_goes_on(drv, sshd_hosts, spec_of, tmp_path):
    host, = sshd_hosts(1)
    present = tmp_path / "present"
    present.write_text("here")
    dest = tmp_path / "dest"
    dest.mkdir()
    put = next(drv.ids)
    drv.send({"op": "put", "id": put, "host": spec_of(host), "files": [str(tmp_path / "missing"), str(present)],
              "dest": str(dest)})
    ended = drv.wait_ended(put)[put]
    assert ended["status"] == 1 and ended["error"] is None
    assert b"missing: No such file or directory" in drv.output(put, 2)
    assert (dest / "present").read_text() == "here"


def test_known_hosts_are_checked_and_read_again_when_the_file_changes(drv, sshd_fresh_host, spec_of, sshd_env,
                                                                     tmp_path):
    # each worker parses a known_hosts file once (KnownHostsCache), and again when it changes; hashed names match
    host = sshd_fresh_host()
    other_key = str(tmp_path / "other_key")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other_key], check=True)
    known = tmp_path / "known_hosts"
    name = "[%s]:%d" % (host.address, sshd_env.port)
    wrong = open(other_key + ".pub").read().split()
    known.write_text("%s %s %s\n" % (name, wrong[0], wrong[1]))
    spec = spec_of(host, ssh_options=("-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=%s" % known),
                   ssh_config_file="/dev/null")
    pid = drv.exec(spec, "echo never")
    assert "host key mismatch" in drv.wait_ended(pid)[pid]["error"]
    right = host.host_key_pub.split()
    hashed = paramiko.HostKeys.hash_host(name)  # as with HashKnownHosts yes
    known.write_text("# the host was reinstalled\n%s %s %s\n" % (hashed, right[0], right[1]))
    pid = drv.exec(spec, "echo checked")
    ended = drv.wait_ended(pid)[pid]
    assert ended["status"] == 0, ended
    assert drv.output(pid) == b"checked\n"


def test_accept_new_records_an_unknown_host_key_but_refuses_a_changed_one(drv, sshd_fresh_host, spec_of, sshd_env,
                                                                         tmp_path):
    new_host, changed_host = sshd_fresh_host(), sshd_fresh_host()
    known = tmp_path / "known_hosts"
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    wrong = open(str(other) + ".pub").read().split()
    known.write_text("[%s]:%d %s %s\n" % (changed_host.address, sshd_env.port, wrong[0], wrong[1]))

    def spec(host):
        return spec_of(host, ssh_options=("-o", "StrictHostKeyChecking=accept-new",
                                          "-o", "UserKnownHostsFile=%s" % known), ssh_config_file="/dev/null")

    first, second = drv.exec(spec(new_host), "echo first"), drv.exec(spec(changed_host), "echo never")
    ended = drv.wait_ended([first, second])
    assert ended[first]["status"] == 0 and drv.output(first) == b"first\n"
    assert "host key mismatch" in ended[second]["error"]
    right = new_host.host_key_pub.split()
    assert known.read_text().splitlines()[-1].split() == ["[%s]:%d" % (new_host.address, sshd_env.port),
                                                          right[0], right[1]]
