"""The sshd fixtures themselves: real OpenSSH clients reach them; freeze, thaw and kill act on one host only."""

import socket
import subprocess
import time

from sshd_servers import descendants, ssh_command


def run_ssh(env, address, command, timeout=20):
    return subprocess.run(ssh_command(env, address, command), capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def test_openssh_client_reaches_each_host_on_its_address(sshd_env, sshd_hosts):
    for host in sshd_hosts(2):
        result = run_ssh(sshd_env, host.address, "echo $SSH_CONNECTION")
        assert result.returncode == 0, result.stderr
        assert result.stdout.split()[2:] == [host.address, str(sshd_env.port)]


def test_freeze_thaw_and_kill_one_host(sshd_env, sshd_fresh_host, sshd_hosts):
    other, = sshd_hosts(1)
    host = sshd_fresh_host()
    host.freeze()
    with socket.create_connection((host.address, host.port), timeout=2) as sock:
        sock.settimeout(0.5)
        try:
            banner = sock.recv(64)
        except socket.timeout:
            banner = None
    assert banner is None  # TCP accepts, sshd says nothing
    assert run_ssh(sshd_env, other.address, "true").returncode == 0
    host.thaw()
    assert run_ssh(sshd_env, host.address, "true").returncode == 0
    session = subprocess.Popen(ssh_command(sshd_env, host.address, "sleep 60"), stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not descendants(host.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        below = descendants(host.pid)
        assert below  # the connection's sshd and its command
        host.kill()
        assert session.wait(timeout=10) == 255  # the client saw its connection die
        assert all(is_gone(pid) for pid in below)
    finally:
        if session.poll() is None:
            session.kill()
            session.wait()
    try:
        socket.create_connection((host.address, host.port), timeout=2).close()
        refused = False
    except ConnectionRefusedError:
        refused = True
    assert refused
    host.restart()
    assert run_ssh(sshd_env, host.address, "true").returncode == 0


def is_gone(pid):
    """Exited: no /proc entry, or a zombie nobody reaped yet."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_many_addresses(sshd_env, sshd_many):
    addresses = sshd_many(20)  # two sshds: OpenSSH listens on at most 16 sockets
    assert len(set(addresses)) == 20
    for address in (addresses[0], addresses[-1]):
        result = run_ssh(sshd_env, address, "echo $SSH_CONNECTION")
        assert result.returncode == 0, result.stderr
        assert result.stdout.split()[2] == address


def test_gateway_proxyjump_with_openssh(sshd_env, sshd_gateway, sshd_hosts):
    host, = sshd_hosts(1)
    result = subprocess.run(["ssh", "-F", sshd_env.ssh_config_file, "-J", sshd_gateway.address, host.address,
                             "echo $SSH_CONNECTION"], capture_output=True, text=True, timeout=20,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[2] == host.address
    assert "to %s port %d" % (host.address, sshd_env.port) in sshd_gateway.log()
