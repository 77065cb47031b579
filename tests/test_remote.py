"""Remote, Put, Get and SshProcess on real OpenSSH servers, through each SSH backend."""

import os
import stat
import time

import pytest

from execo import Get, Host, Put, Remote, Report, SshProcess, filter_bad_hosts, get_process

BACKENDS = ["pool", "command"]


@pytest.fixture(params=BACKENDS)
def params(request, ssh_connection_params):
    return dict(ssh_connection_params, ssh_backend=request.param)


@pytest.fixture
def addresses(sshd_hosts):
    return [host.addresses[0] for host in sshd_hosts(3)]


def test_ssh_process_runs_on_the_host(params, addresses):
    p = SshProcess("echo $SSH_CONNECTION", addresses[0], connection_params=params).run(30)
    assert p.finished_ok, p.dump()
    assert p.stdout.split()[2] == addresses[0]
    assert p.host == Host(addresses[0]) and p.remote_cmd == "echo $SSH_CONNECTION"


def test_get_process_with_a_host_is_remote(params, addresses):
    p = get_process("hostname", host=addresses[1], connection_params=params)
    assert isinstance(p, SshProcess)
    assert p.run(30).ok


def test_remote_substitutes_host_and_expressions_per_host(params, addresses):
    targets = list(reversed(addresses))
    action = Remote("echo {{{host}}} {{targets}}", addresses, connection_params=params).run(60)
    assert action.ok, Report([action]).to_string()
    assert [p.stdout.split() for p in action.processes] == [[a, t] for a, t in zip(addresses, targets)]
    assert action.name == "echo {{{host}}} {{targets}}"


def test_remote_exit_codes_and_report(params, addresses):
    codes = [0, 3, 0]
    action = Remote("exit {{codes}}", addresses, connection_params=params,
                    process_args={"nolog_exit_code": True}).run(60)
    assert [p.exit_code for p in action.processes] == codes
    assert not action.ok
    stats = action.stats()
    assert stats["num_processes"] == 3 and stats["num_non_zero_exit_codes"] == 1 and stats["num_ok"] == 2
    assert filter_bad_hosts(action, addresses) == [addresses[0], addresses[2]]


def test_remote_write_feeds_every_stdin(params, addresses):
    action = Remote("head -n 1", addresses, connection_params=params).start()
    action.write("line for all\n")
    action.wait(60)
    assert all("line for all" in p.stdout for p in action.processes), [p.dump() for p in action.processes]


def test_put_then_get_round_trip_keeps_modes(params, addresses, tmp_path):
    source = tmp_path / "source.txt"
    source.write_text("payload\n")
    os.chmod(source, 0o640)
    put = Put(addresses, [str(source)], str(tmp_path / "remote-{{{host}}}"), connection_params=params).run(60)
    assert put.ok, [p.dump() for p in put.processes]
    for address in addresses:
        copied = tmp_path / ("remote-" + address)
        assert copied.read_text() == "payload\n"
        assert stat.S_IMODE(copied.stat().st_mode) == 0o640
    get = Get(addresses, [str(tmp_path / "remote-{{{host}}}")], str(tmp_path / "back-{{{host}}}"),
              connection_params=params).run(60)
    assert get.ok, [p.dump() for p in get.processes]
    assert all((tmp_path / ("back-" + a)).read_text() == "payload\n" for a in addresses)
    assert put.name == "Put to 3 hosts" and get.name == "Get from 3 hosts"


def test_put_directory_recursively(params, addresses, tmp_path):
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "leaf").write_text("leaf")
    dest = tmp_path / "dest"
    dest.mkdir()
    put = Put(addresses[:1], [str(tree)], str(dest), connection_params=params).run(60)
    assert put.ok, put.processes[0].dump()
    assert (dest / "tree" / "sub" / "leaf").read_text() == "leaf"


def test_connection_refused_ends_only_that_host(params, addresses):
    hosts = addresses[:2] + ["127.0.0.9"]  # nothing listens there
    action = Remote("echo ok", hosts, connection_params=params, process_args={"nolog_exit_code": True}).run(60)
    assert [p.ok for p in action.processes] == [True, True, False]
    assert action.stats()["num_ok"] == 2


def test_timeout_ends_a_remote_command(params, addresses):
    started = time.monotonic()
    p = SshProcess("sleep 60", addresses[0], connection_params=params, timeout=1, nolog_timeout=True).run(30)
    assert p.timeouted and p.ended
    assert time.monotonic() - started < 15


def test_action_factory_follows_the_configuration(params, addresses, tmp_path):
    from execo import SCP, SSH, TAKTUK, get_fileget, get_fileput, get_remote
    from execo.action_factory import ActionFactory
    from execo.config import configuration

    action = get_remote("echo {{{host}}}", addresses[:1], connection_params=params)
    assert isinstance(action, Remote)
    assert action.run(30).processes[0].stdout.strip() == addresses[0]
    assert isinstance(get_fileput(addresses[:1], [__file__], str(tmp_path), connection_params=params), Put)
    assert isinstance(get_fileget(addresses[:1], [__file__], str(tmp_path), connection_params=params), Get)
    with pytest.raises(KeyError, match="no remote tool 42"):
        ActionFactory(remote_tool=42).get_remote("true", addresses)
    assert configuration["remote_tool"] == SSH and configuration["fileput_tool"] == SCP and TAKTUK == 2


_WORKERS_OF_THIS_PROCESS = (
    "import os, sys, time\n"
    "def workers():\n"
    "    found = []\n"
    "    for pid in os.listdir('/proc'):\n"
    "        try:\n"
    "            if open('/proc/' + pid + '/stat').read().rsplit(')', 1)[1].split()[1] == str(os.getpid()) \\\n"
    "                    and b'conn_worker' in open('/proc/' + pid + '/cmdline', 'rb').read():\n"
    "                found.append(pid)\n"
    "        except (OSError, IndexError):\n"
    "            pass\n"
    "    return found\n"
    "def wait_for_workers(n):\n"
    "    deadline = time.monotonic() + 10\n"
    "    while len(workers()) < n and time.monotonic() < deadline:\n"
    "        time.sleep(0.02)\n"
    "    time.sleep(0.2)  # no more than n\n"
    "    return workers()\n"
)


def _run_script(tmp_path, text):
    import subprocess
    import sys
    script = tmp_path / "script.py"
    script.write_text(_WORKERS_OF_THIS_PROCESS + text)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    return out.stdout.split(), out.stderr


def test_a_connection_worker_starts_when_the_first_remote_process_is_made(ssh_connection_params, addresses,
                                                                           tmp_path):
    """Made, not started: the worker's start-up (0.1-0.2 s) overlaps with what the script does next."""
    out, err = _run_script(tmp_path, (
        "from execo import SshProcess\n"
        "p = SshProcess('echo ran', %r, connection_params=%r)\n"
        "before = wait_for_workers(1)\n"
        "p.run(30)\n"
        "print(len(before), p.started, p.ok, p.stdout.strip(), workers() == before)\n"
        % (addresses[0], dict(ssh_connection_params))))
    assert out == ["1", "True", "True", "ran", "True"], err


def test_a_remote_starts_every_worker_its_hosts_need_when_it_is_made(tmp_path):
    """One worker per 128 hosts, up to ssh_workers: a Remote on 200 hosts starts two of three, before it runs
    (no host is reached: nothing connects until the Remote starts)."""
    out, err = _run_script(tmp_path, (
        "from execo import Remote, SshProcess\n"
        "from execo.config import configuration\n"
        "configuration['ssh_workers'] = 3\n"
        "small = Remote('true', ['127.0.%d.%d' % (10 + i // 200, i % 200 + 1) for i in range(200)])\n"
        "print(len(wait_for_workers(2)), small.started)\n"
        "big = Remote('true', ['127.0.%d.%d' % (10 + i // 200, i % 200 + 1) for i in range(600)])\n"
        "print(len(wait_for_workers(3)))\n"))
    assert out == ["2", "False", "3"], err
