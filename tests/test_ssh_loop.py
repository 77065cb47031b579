"""The connection workers read authenticated connections from their own loop (actors/ssh_loop.py).

These tests put that loop where a thread per connection had it easy: a key re-exchange in the middle of a
command's output and input, a server whose packet lengths are encrypted (the connection keeps paramiko's
thread), and a host frozen while the loop still has data queued for it.
"""

import os
import time

import pytest

from execo import Remote, SshProcess


@pytest.fixture
def params(ssh_connection_params):
    return dict(ssh_connection_params)


def test_key_reexchange_during_a_command_loses_no_byte(params, sshd_fresh_host):
    # the server re-keys every 32 KB: dozens of key exchanges while 2 MB go out and 1 MB comes in
    host = sshd_fresh_host("RekeyLimit 32K\nLogLevel DEBUG1")
    out = SshProcess("seq 1 300000", host.address, connection_params=params).start()
    data = "".join("%07d\n" % i for i in range(150000))
    count = SshProcess("wc -c", host.address, connection_params=params).start()
    count.write(data).close_stdin()
    out.wait(120)
    count.wait(120)
    assert out.ok, out.error_reason
    lines = out.stdout.split("\n")
    assert len(lines) == 300001 and lines[0] == "1" and lines[-2] == "300000"
    assert count.ok and int(count.stdout.strip()) == len(data)
    assert host.log().count("SSH2_MSG_KEXINIT sent") >= 10  # the re-exchanges really happened


def test_a_server_without_clear_packet_lengths_keeps_a_thread_and_works(params, sshd_fresh_host, sshd_hosts):
    # no AES-GCM, no encrypt-then-MAC: the loop cannot cut packets. Its own handshake offers only those, the
    # server refuses them, and the host is reached the blocking way, where paramiko's thread keeps reading.
    old = sshd_fresh_host("Ciphers aes128-ctr\nMACs hmac-sha2-256")
    hosts = [old.address, sshd_hosts(1)[0].address]
    action = Remote("echo {{{host}}}; echo err >&2", hosts, connection_params=params).run(60)
    assert action.ok, [p.error_reason for p in action.processes]
    assert [p.stdout.strip() for p in action.processes] == hosts
    log = old.log()
    assert "no matching MAC" in log and log.count("Accepted publickey") == 1, log  # the loop's try, then the thread
    sleeper = SshProcess("sleep 60", old.address, connection_params=params).start()
    time.sleep(0.5)
    sleeper.kill()
    sleeper.wait(20)
    assert sleeper.ended and sleeper.killed


def test_a_host_frozen_with_input_queued_does_not_stall_the_others(params, sshd_fresh_host, sshd_hosts):
    frozen = sshd_fresh_host()
    sink = SshProcess("cat > /dev/null", frozen.address, connection_params=params).start()
    healthy = SshProcess("for i in $(seq 1 20); do echo $i; sleep 0.05; done", sshd_hosts(1)[0].address,
                         connection_params=params)
    deadline = time.monotonic() + 20
    while not sink.started and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # the exec request is out
    frozen.freeze()
    try:
        sink.write("x" * (16 * 1024 * 1024))  # more than the window and the socket buffers hold
        started = time.monotonic()
        healthy.run(30)
        assert healthy.ok and healthy.stdout.split() == [str(i) for i in range(1, 21)]
        assert time.monotonic() - started < 10
    finally:
        sink.kill()
        frozen.thaw()
    sink.wait(30)
    assert sink.ended


# --- the loop's own command channels (actors/ssh_exec_channel.py) ---------------------------------------------

def test_server_keepalives_on_a_command_channel_are_answered(params, sshd_fresh_host):
    # an idle client gets keepalive@openssh.com requests on its session channel: sshd hangs up on a client that
    # does not answer (here after a few seconds)
    host = sshd_fresh_host("ClientAliveInterval 1\nClientAliveCountMax 1")
    slow = SshProcess("sleep 6; echo done", host.address, connection_params=params).run(30)
    assert slow.ok and slow.stdout == "done\n", slow.error_reason


def test_a_refused_pty_ends_the_process_with_an_error_instead_of_hanging(params, sshd_fresh_host):
    host = sshd_fresh_host("PermitTTY no")
    refused = SshProcess("echo never", host.address, connection_params=dict(params, pty=True)).run(30)
    assert refused.ended and not refused.ok and not refused.timeouted
    assert "%s:%d: the server refused to start the command" % (host.address, host.port) in str(refused.error_reason)
    assert "never" not in refused.stdout


def test_a_big_input_waits_for_the_server_window(params, sshd_hosts):
    # 8 MB in: four times paramiko's 2 MB window, so sending must stop and resume on the server's adjusts
    data = "x" * (8 * 1024 * 1024)
    count = SshProcess("wc -c", sshd_hosts(1)[0].address, connection_params=params).start()
    count.write(data).close_stdin()
    count.wait(120)
    assert count.ok and int(count.stdout.strip()) == len(data), count.error_reason


def test_a_connection_outlives_a_host_frozen_while_we_send_to_it(params, sshd_fresh_host):
    # the loop never waits on a socket: with the socket still in paramiko's timeout mode, a send that found the
    # buffers full waited 2 s in the loop, then took the connection for dead ("timed out"). Six commands on one
    # connection, each with its own 2 MB window, put more in flight than the socket buffers hold.
    host = sshd_fresh_host()
    size = 4 * 1024 * 1024
    action = Remote("echo ready; wc -c", [host.address] * 6, connection_params=params).start()
    assert all(r[1] == 0 for r in action.expect("ready", timeout=20))
    host.freeze()
    try:
        for p in action.processes:
            p.write("x" * size)
            p.close_stdin()
        time.sleep(5)
    finally:
        host.thaw()
    action.wait(60)
    assert action.ok, [p.error_reason for p in action.processes]
    assert [p.stdout.split()[-1] for p in action.processes] == [str(size)] * 6


# --- connections the loop makes itself (actors/ssh_handshake.py) ----------------------------------------------

def _worker_entries(kind):
    """For each connection worker of this process, how many entries /proc/PID/<kind> has ("task": threads,
    "fd": open descriptors)."""
    counts = []
    for pid in os.listdir("/proc"):
        try:
            if open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()[1] == str(os.getpid()) \
                    and b"conn_worker" in open("/proc/%s/cmdline" % pid, "rb").read():
                counts.append(len(os.listdir("/proc/%s/%s" % (pid, kind))))
        except (OSError, IndexError):
            pass
    return sorted(counts)


def test_new_connections_are_made_by_the_loop_with_no_thread_each(params, sshd_many):
    # paramiko's way: a thread per connection for its life, and a pool thread per handshake
    addresses = sshd_many(40)
    action = Remote("echo {{{host}}}", addresses, connection_params=params).run(60)
    assert action.ok and [p.stdout.strip() for p in action.processes] == addresses
    threads = _worker_entries("task")
    assert threads and max(threads) < 10, threads


def test_the_loop_connects_to_a_host_given_by_name(sshd_env):
    # a name is resolved off the loop (a resolver may block)
    host = sshd_env.start_host("127.0.0.1", name="loopback-one")
    try:
        p = SshProcess("echo by name", "localhost", connection_params=sshd_env.connection_params()).run(30)
        assert p.ok and p.stdout.strip() == "by name", p.error_reason
    finally:
        sshd_env.stop_host(host)


def test_the_loop_tries_each_address_of_a_name_in_turn(sshd_env, sshd_hosts, monkeypatch):
    # as OpenSSH: a name whose first address refuses (nobody listens there) is reached on the next one. A worker
    # runs in this process, so that the resolver can answer two addresses for a made-up name.
    import socket

    from execo_actors.conn_worker import ConnWorker
    from execo_actors.ssh_config import host_spec

    host, = sshd_hosts(1)
    resolve = socket.getaddrinfo

    def two_addresses(name, port, *args, **kwargs):
        if name != "two-addresses.test":
            return resolve(name, port, *args, **kwargs)
        if kwargs.get("flags", 0) & socket.AI_NUMERICHOST:
            raise socket.gaierror(socket.EAI_NONAME, "not a numeric address")
        return resolve("127.0.3.250", port, *args, **kwargs) + resolve(host.address, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", two_addresses)
    ops_r, ops_w = os.pipe()
    events_r, events_w = os.pipe()
    worker = ConnWorker(ops_r, events_w)
    try:
        conn = worker.registry.get(host_spec("two-addresses.test", sshd_env.connection_params()))
        done = []
        conn.connect(done.append, worker.call)
        deadline = time.monotonic() + 20
        while not done and time.monotonic() < deadline:
            worker._turn(0.05)
        assert done == [None]
        link, = conn.links()
        assert link.transport.sock.getpeername()[0] == host.address and link.transport.threadless
    finally:
        worker.shutdown()
        for fd in (ops_r, ops_w, events_r, events_w):
            os.close(fd)


def test_refused_connections_leave_no_descriptor_behind(params, sshd_hosts):
    good = [h.address for h in sshd_hosts(2)]
    refused = ["127.0.3.%d" % i for i in range(1, 101)]  # nobody listens there
    counts = []
    for _ in range(3):  # the first round may start a worker: the rounds after it must not grow
        action = Remote("true", refused + good, connection_params=params, process_args={"nolog_error": True}).run(60)
        assert [p.ok for p in action.processes] == [False] * 100 + [True, True]
        assert all("connection refused" in str(p.error_reason) for p in action.processes[:100])
        counts.append(_worker_entries("fd"))
    assert counts[1] == counts[2] == counts[0], counts
