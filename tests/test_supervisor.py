"""Retries of failed processes (the process supervisor) on real local processes and real sshd hosts."""

import threading
import time

import pytest

from execo import Local, Process, ProcessLifecycleHandler, Remote, SshProcess
from execo.supervisor import supervise

# fails (exit 1) until it has run `need` times; the count lives in a file
FLAKY = "n=$(cat {path} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {path}; echo attempt $n; [ $n -ge {need} ]"


def flaky(path, need=3):
    return FLAKY.format(path=path, need=need)


def runs(path):
    return int(path.read_text()) if path.exists() else 0


def wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)
    return predicate()


class Recorder(ProcessLifecycleHandler):
    def __init__(self):
        self.events = []

    def start(self, process):
        self.events.append("start")

    def end(self, process):
        self.events.append("end")

    def reset(self, process):
        self.events.append("reset")


def test_fails_twice_then_succeeds(tmp_path):
    state = tmp_path / "count"
    recorder = Recorder()
    p = Process(flaky(state), shell=True, retries=3, retry_backoff=0.05, lifecycle_handlers=[recorder])
    assert p.attempts == 0
    p.run(30)
    assert p.ended and p.finished_ok, p.dump()
    assert runs(state) == 3 and p.attempts == 3
    assert p.failures == ["exit code 1", "exit code 1"]
    assert p.stdout == "attempt 3\n"  # the handle shows the last attempt
    assert recorder.events == ["start", "reset", "start", "reset", "start", "end"]
    assert "retries=3" in repr(p) and "attempts=3" in str(p)


def test_retries_exhausted(tmp_path):
    state = tmp_path / "count"
    started = time.monotonic()
    p = Process(flaky(state, need=99), shell=True, retries=2, retry_backoff=0.2, nolog_exit_code=True).run(30)
    elapsed = time.monotonic() - started
    assert p.ended and not p.ok and p.exit_code == 1
    assert runs(state) == 3 and p.attempts == 3 and len(p.failures) == 2
    assert elapsed >= 0.2 + 0.4  # backoffs: 0.2 then doubled


def test_success_and_no_retries_are_untouched(tmp_path):
    p = Process("true", retries=3).run(10)
    assert p.finished_ok and p.attempts == 1 and p.failures == []
    q = Process("false", nolog_exit_code=True).run(10)
    assert q.attempts == 1 and not q.ok


def test_a_start_error_is_retried():
    p = Process("/nonexistent/program", retries=1, retry_backoff=0, nolog_error=True).run(10)
    assert p.error and p.attempts == 2 and p.failures[0].startswith("error: ")


def test_kill_while_running_is_not_retried(tmp_path):
    p = Process("sleep 30", retries=3, retry_backoff=0).start()
    assert wait_until(lambda: p.pid is not None)
    p.kill()
    p.wait(10)
    assert p.ended and p.killed and p.ok and p.attempts == 1


def test_kill_during_the_backoff_ends_at_once(tmp_path):
    state = tmp_path / "count"
    p = Process(flaky(state, need=99), shell=True, retries=5, retry_backoff=30, nolog_exit_code=True).start()
    assert wait_until(lambda: len(p.failures) == 1)
    assert not p.ended and p.running  # waiting for its retry: still running for wait() and actions
    killed_at = time.monotonic()
    p.kill()
    p.wait(10)
    assert time.monotonic() - killed_at < 2
    assert p.ended and p.killed and runs(state) == 1 and p.attempts == 1
    assert p.exit_code == 1


def test_timeout_is_retried_only_when_asked():
    p = Process("sleep 5", timeout=0.2, retries=2, retry_backoff=0, nolog_timeout=True).run(20)
    assert p.timeouted and p.attempts == 1
    q = Process("sleep 5", timeout=0.2, retries=1, retry_backoff=0, retry_timeout=True, nolog_timeout=True).run(20)
    assert q.timeouted and q.attempts == 2 and q.failures == ["timeout after 0.2s"]


def test_supervise_an_existing_process(tmp_path):
    state = tmp_path / "count"
    p = supervise(Process(flaky(state, need=2), shell=True), retries=1, retry_backoff=0).run(10)
    assert p.finished_ok and p.attempts == 2
    with pytest.raises(ValueError, match="already started"):
        supervise(p, 1)


def test_bad_arguments_name_the_culprit():
    with pytest.raises(TypeError, match="Process: argument retries"):
        Process("true", retries=-1)
    with pytest.raises(TypeError, match="SshProcess: argument retry_backoff"):
        SshProcess("true", "127.0.0.1", retry_backoff="soon")
    with pytest.raises(TypeError, match="argument retry_timeout"):
        Process("true", retries=1, retry_timeout="yes")


def test_local_action_with_retries(tmp_path):
    state = tmp_path / "count"
    cmd = flaky(state)
    action = Local(cmd, process_args={"retries": 2, "retry_backoff": 0.05}).run(30)
    assert action.ended and action.ok
    assert action.processes[0].attempts == 3


@pytest.mark.parametrize("backend", ["pool", "command"])
def test_remote_action_with_retries(tmp_path, sshd_hosts, ssh_connection_params, backend):
    hosts = [h.address for h in sshd_hosts(2)]
    params = dict(ssh_connection_params, ssh_backend=backend)
    cmd = flaky(str(tmp_path / "count-{{{host}}}"))
    action = Remote(cmd, hosts, connection_params=params, process_args={"retries": 2, "retry_backoff": 0.05})
    action.run(60)
    assert action.ended and action.ok, [p.dump() for p in action.processes]
    assert [p.attempts for p in action.processes] == [3, 3]
    assert [runs(tmp_path / ("count-" + h)) for h in hosts] == [3, 3]


@pytest.mark.parametrize("backend", ["pool", "command"])
def test_host_down_then_back(sshd_fresh_host, ssh_connection_params, backend):
    host = sshd_fresh_host()
    host.kill()
    params = dict(ssh_connection_params, ssh_backend=backend)
    p = SshProcess("echo back", host.address, connection_params=params, retries=6, retry_backoff=0.2,
                   nolog_error=True, nolog_exit_code=True).start()
    assert wait_until(lambda: len(p.failures) >= 1, 20), p.dump()
    restarter = threading.Timer(0.3, host.restart)
    restarter.start()
    try:
        p.wait(60)
    finally:
        restarter.join()
    assert p.finished_ok and p.stdout.strip() == "back", p.dump()
    assert 2 <= p.attempts <= 7
    if backend == "pool":
        assert "connection refused" in p.failures[0]
    else:
        assert p.failures[0] == "exit code 255"  # ssh's own failure status


def test_remote_kill_of_the_action_stops_the_retries(tmp_path, sshd_hosts, ssh_connection_params):
    host = sshd_hosts(1)[0].address
    state = tmp_path / "count"
    action = Remote(flaky(str(state), need=99), [host], connection_params=ssh_connection_params,
                    process_args={"retries": 5, "retry_backoff": 30, "nolog_exit_code": True}).start()
    process = action.processes[0]
    assert wait_until(lambda: len(process.failures) == 1, 20)
    action.kill()
    action.wait(10)
    assert action.ended and process.attempts == 1 and runs(state) == 1
