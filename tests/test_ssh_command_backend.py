"""The ssh command-line backend's connection reuse: OpenSSH ControlMaster in a private directory."""

import os
import subprocess
import sys
import textwrap
import time

import pytest

from execo import SshProcess
from proc_helpers import processes_with
from execo.ssh_master import control_dir, control_options


@pytest.fixture
def command_params(ssh_connection_params):
    return dict(ssh_connection_params, ssh_backend="command")


def accepted_logins(host):
    return host.log().count("Accepted publickey")


def master_check(socket_path):
    return subprocess.run(["ssh", "-F", "/dev/null", "-o", "ControlPath=" + socket_path, "-O", "check", "x"],
                          capture_output=True, text=True)


def test_options_on_for_plain_ssh_only(command_params):
    options = control_options(command_params)
    assert options[:2] == ("-o", "ControlMaster=auto") and options[-1] == "ControlPersist=60"
    assert options[3] == "ControlPath=" + os.path.join(control_dir(), "%C")
    assert os.stat(control_dir()).st_mode & 0o777 == 0o700
    assert control_options(dict(command_params, ssh="oarsh")) == ()
    assert control_options(dict(command_params, ssh="/usr/bin/ssh", ssh_control_persist=5))[-1] == "ControlPersist=5"
    assert control_options(dict(command_params, ssh_control_master=False)) == ()
    assert control_options(dict(command_params, ssh_options=("-o", "ControlMaster=no"))) == ()
    assert control_options(dict(command_params, ssh_options=("-S", "none"))) == ()
    with pytest.raises(ValueError, match="ssh_control_persist"):
        control_options(dict(command_params, ssh_control_persist="long"))


def test_ssh_process_command_line(command_params, sshd_hosts):
    address = sshd_hosts(1)[0].address
    cmd = SshProcess("true", address, connection_params=command_params).cmd
    assert "ControlMaster=auto" in cmd and cmd[-2:] == (address, "true")
    pooled = SshProcess("true", address, connection_params=dict(command_params, ssh_backend="pool")).cmd
    assert "ControlMaster=auto" not in pooled  # execo 2.8's command line, for show: the pool runs it


def test_two_processes_share_one_master(command_params, sshd_fresh_host):
    host = sshd_fresh_host()
    first = SshProcess("echo one", host.address, connection_params=command_params).run(30)
    assert first.finished_ok and first.stdout.strip() == "one", first.dump()
    sockets = os.listdir(control_dir())
    mine = [name for name in sockets if master_check(os.path.join(control_dir(), name)).returncode == 0]
    assert mine, sockets
    second = SshProcess("echo two", host.address, connection_params=command_params).run(30)
    assert second.finished_ok and second.stdout.strip() == "two", second.dump()
    assert accepted_logins(host) == 1, host.log()  # the second one went through the master
    without = SshProcess("echo three", host.address,
                         connection_params=dict(command_params, ssh_control_master=False)).run(30)
    assert without.finished_ok
    assert accepted_logins(host) == 2


def test_no_master_remains_after_the_controller_exits(sshd_hosts, sshd_env, tmp_path):
    address = sshd_hosts(1)[0].address
    script = tmp_path / "controller.py"
    script.write_text(textwrap.dedent("""
        import sys
        from execo import SshProcess
        from execo.ssh_master import control_dir
        params = dict(%r, ssh_backend="command")
        p = SshProcess("echo reused", %r, connection_params=params).run(30)
        q = SshProcess("echo reused", %r, connection_params=params).run(30)
        assert p.finished_ok and q.finished_ok, p.dump() + q.dump()
        print(control_dir(), flush=True)
    """ % (sshd_env.connection_params(), address, address)))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    directory = result.stdout.strip()
    assert directory.startswith("/") and "execo-ssh-" in directory
    deadline = time.monotonic() + 5
    while processes_with(directory) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_with(directory) == []
    assert not os.path.exists(directory)
