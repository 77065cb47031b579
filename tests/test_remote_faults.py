"""Remote execution when hosts misbehave: each fault ends only that host's processes."""

import os
import time

import pytest

from proc_helpers import alive, wait_gone

from execo import Remote, Report, SshProcess


@pytest.fixture
def params(ssh_connection_params):
    opts = list(ssh_connection_params["ssh_options"])
    opts[opts.index("ConnectTimeout=5")] = "ConnectTimeout=2"
    return dict(ssh_connection_params, ssh_options=tuple(opts))






def read_pid(path, seconds=15):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if os.path.exists(path):
            text = open(path).read().strip()
            if text:
                return int(text)
        time.sleep(0.05)
    raise AssertionError("no pid written to %s" % path)


def test_frozen_host_times_out_and_the_others_go_on(params, sshd_hosts, sshd_fresh_host):
    frozen = sshd_fresh_host()
    frozen.freeze()
    try:
        hosts = [h.address for h in sshd_hosts(2)] + [frozen.address]
        started = time.monotonic()
        action = Remote("echo fine", hosts, connection_params=params).run(60)
        assert time.monotonic() - started < 20
        bad = action.processes[2]
        assert [p.ok for p in action.processes] == [True, True, False]
        assert bad.error and frozen.address in str(bad.error_reason)
        assert "fine" in action.processes[0].stdout
        assert Report([action]).stats()["num_errors"] == 1
    finally:
        frozen.thaw()


def test_connection_lost_mid_command_names_the_host(params, sshd_hosts, sshd_fresh_host):
    doomed = sshd_fresh_host()
    action = Remote("echo started; sleep 30; echo never", [sshd_hosts(1)[0].address, doomed.address],
                    connection_params=params, process_args={"timeout": 40}).start()
    assert all(r[1] == 0 for r in action.expect("started", timeout=20))
    doomed.kill()
    lost = action.processes[1]
    lost.wait(30)
    assert lost.ended and not lost.ok and doomed.address in str(lost.error_reason)
    assert action.processes[0].running
    action.kill().wait(30)


def test_authentication_failure_names_the_host(params, sshd_hosts, tmp_path):
    stranger = tmp_path / "stranger_key"
    os.system("ssh-keygen -q -t ed25519 -N '' -f %s" % stranger)
    p = SshProcess("true", sshd_hosts(1)[0].address, connection_params=dict(params, keyfile=str(stranger), ssh_config_file=os.devnull),
                   nolog_error=True).run(30)
    assert p.error and sshd_hosts(1)[0].address in str(p.error_reason)
    assert "auth" in str(p.error_reason).lower()


@pytest.mark.parametrize("how", ["kill", "timeout"])
def test_kill_and_timeout_leave_no_orphan_on_the_host(params, sshd_hosts, tmp_path, how):
    pidfile = tmp_path / "remote.pid"
    p = SshProcess("sleep 60 & echo $! > %s; wait" % pidfile, sshd_hosts(1)[0].address, connection_params=params,
                   timeout=2 if how == "timeout" else None, nolog_timeout=True)
    p.start()
    remote_child = read_pid(str(pidfile))
    assert alive(remote_child)
    if how == "kill":
        p.kill()
    p.wait(30)
    assert p.ended and (p.killed or p.timeouted)
    assert wait_gone(remote_child)


def test_remote_expect_and_stdin(params, sshd_hosts):
    p = SshProcess("echo ready; read x; echo got $x", sshd_hosts(1)[0].address, connection_params=params).start()
    assert p.expect("ready", timeout=20)[0] == 0
    p.write("hello\n")
    assert p.expect(r"got (\w+)", timeout=20)[1].group(1) == "hello"
    p.wait(20)
    assert p.ok


def test_big_remote_output_and_stderr_stay_apart(params, sshd_hosts):
    p = SshProcess("seq 200000; echo oops >&2", sshd_hosts(1)[0].address, connection_params=params).run(60)
    lines = p.stdout.splitlines()
    assert len(lines) == 200000 and lines[-1] == "200000"
    assert p.stderr == "oops\n"


def test_pty_on_request(params, sshd_hosts):
    p = SshProcess("test -t 0 && echo tty", sshd_hosts(1)[0].address, connection_params=dict(params, pty=True)).run(30)
    assert p.stdout == "tty\r\n"


def test_many_hosts_in_parallel(params, sshd_many):
    addresses = sshd_many(60)
    action = Remote("echo {{{host}}}", addresses, connection_params=params).run(120)
    assert action.ok, Report([action]).to_string()
    assert [p.stdout.strip() for p in action.processes] == addresses


def test_timeout_applies_while_the_connection_is_set_up(params, sshd_fresh_host):
    frozen = sshd_fresh_host()
    frozen.freeze()
    try:
        slow = dict(params, ssh_options=("-o", "ConnectTimeout=30", "-o", "StrictHostKeyChecking=no",
                                         "-o", "UserKnownHostsFile=/dev/null"))
        started = time.monotonic()
        p = SshProcess("true", frozen.address, connection_params=slow, timeout=1, nolog_timeout=True).run(60)
        assert p.ended and p.timeouted
        assert time.monotonic() - started < 10
    finally:
        frozen.thaw()


@pytest.mark.parametrize("route", ["direct", "proxyjump"])
def test_server_alive_ends_the_commands_of_a_host_frozen_mid_command(params, sshd_env, sshd_hosts, sshd_fresh_host,
                                                                      sshd_gateway, tmp_path, route):
    # ServerAliveInterval / ServerAliveCountMax as in OpenSSH: a host that stops answering (frozen, or its network
    # gone) ends its commands with an error after about (CountMax + 1) x Interval, instead of hanging until the
    # process timeout; a quiet but healthy connection answers the keepalives and stays up. Behind a gateway, the
    # gateway's connection stays up and the keepalives of the target's own connection go unanswered.
    frozen = sshd_fresh_host()
    good, = sshd_hosts(1)
    name = frozen.address
    if route == "proxyjump":
        config = tmp_path / "ssh_config"
        config.write_text("Host behind\n    HostName %s\n    ProxyJump %s\n" % (frozen.address, sshd_gateway.address)
                          + sshd_env.ssh_config_text())
        params = dict(params, ssh_config_file=str(config))
        name = "behind"
    alive = dict(params, ssh_options=tuple(params["ssh_options"]) + ("-o", "ServerAliveInterval=1",
                                                                     "-o", "ServerAliveCountMax=2"))
    stuck = SshProcess("echo started; sleep 60", name, connection_params=alive, nolog_error=True)
    stuck.start()
    deadline = time.monotonic() + 20
    while "started" not in stuck.stdout and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "started" in stuck.stdout, stuck.error_reason
    frozen.freeze()
    try:
        started = time.monotonic()
        quiet = SshProcess("sleep 5; echo fine", good.address, connection_params=alive).run(30)
        stuck.wait(30)
        assert stuck.ended and stuck.error and not stuck.ok
        assert time.monotonic() - started < 15
        reason = str(stuck.error_reason)
        assert frozen.address in reason and "ServerAliveCountMax" in reason, reason
        assert (" via " in reason) == (route == "proxyjump"), reason
        assert quiet.ok and quiet.stdout.strip() == "fine"
    finally:
        frozen.thaw()
        stuck.kill()


def test_server_alive_ends_a_transfer_to_a_host_frozen_mid_copy(params, sshd_hosts, sshd_fresh_host, tmp_path):
    # the keepalives guard every use of the connection, SFTP included: a copy to a host that froze ends with an
    # error saying why, while a copy to a healthy host completes
    from execo import Put
    alive = dict(params, ssh_options=tuple(params["ssh_options"]) + ("-o", "ServerAliveInterval=1",
                                                                     "-o", "ServerAliveCountMax=2"))
    frozen = sshd_fresh_host()
    good, = sshd_hosts(1)
    source = tmp_path / "big"
    source.write_bytes(os.urandom(64 * 1024 * 1024))
    warm = SshProcess("true", frozen.address, connection_params=alive).run(30)  # the connection is up
    assert warm.ok, warm.error_reason
    put = Put([frozen.address, good.address], [str(source)], str(tmp_path / "copy-{{{host}}}"),
              connection_params=alive).start()
    time.sleep(0.3)  # the copy is under way
    frozen.freeze()
    try:
        put.wait(60)
        stuck, fine = put.processes
        assert stuck.ended and not stuck.ok
        assert frozen.address in str(stuck.error_reason) and "ServerAliveCountMax" in str(stuck.error_reason), \
            stuck.error_reason
        assert fine.ok, fine.error_reason
        assert (tmp_path / ("copy-" + good.address)).read_bytes() == source.read_bytes()
    finally:
        frozen.thaw()


def test_keys_from_ssh_agent_are_tried_when_the_key_files_are_refused(sshd_env, sshd_fresh_host, tmp_path):
    # the worker's loop offers the key files; ssh-agent's keys (its calls block) are tried the blocking way
    import subprocess
    import sys
    host = sshd_fresh_host()
    stranger = tmp_path / "stranger_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    agent_sock = str(tmp_path / "agent.sock")
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", agent_sock], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(agent_sock) and time.monotonic() < deadline:
            time.sleep(0.05)
        env = dict(os.environ, SSH_AUTH_SOCK=agent_sock)
        subprocess.run(["ssh-add", "-q", sshd_env.client_key], env=env, check=True)
        params = sshd_env.connection_params(keyfile=str(stranger), ssh_config_file=os.devnull)
        script = ("from execo import SshProcess\n"
                  "p = SshProcess('echo via agent', %r, connection_params=%r).run(30)\n"
                  "print(p.ok, p.stdout.strip(), p.error_reason)\n" % (host.address, params))
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
        assert out.stdout.strip() == "True via agent None", out.stdout + out.stderr
        assert host.log().count("Accepted publickey") == 1
    finally:
        agent.terminate()
        agent.wait(10)
