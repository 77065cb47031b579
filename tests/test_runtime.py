"""The runtime as a whole: leaks, exit, controller death, and logging."""

import os
import resource
import signal
import subprocess
import sys
import textwrap
import threading
import time

from proc_helpers import alive, wait_gone
from execo import ParallelActions, Local, Process
from execo_actors.runtime import get_runtime


def open_fds():
    return len(os.listdir("/proc/self/fd"))


def settle(measure, target, seconds=10.0):
    """Idle helper threads retire after a short delay: wait for the count to come back."""
    deadline = time.monotonic() + seconds
    value = measure()
    while value > target and time.monotonic() < deadline:
        time.sleep(0.1)
        value = measure()
    return value


def test_no_fd_or_thread_leak_after_rounds_of_many_parallel_processes():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    width = min(soft // 2, 2000)
    Process("true").run()  # the runtime itself is not a leak
    ParallelActions([Local("true")]).run()
    settle(threading.active_count, 0, seconds=3)
    fds_before, threads_before = open_fds(), threading.active_count()
    for _ in range(3):
        processes = [Process("echo x", shell=True, nolog_exit_code=True) for _ in range(width)]
        for p in processes:
            p.start()
        for p in processes:
            p.wait(60)
        assert all(p.ended for p in processes)
        assert all(p.stdout == "x\n" for p in processes if not p.error)
    action = ParallelActions([Local("true") for _ in range(50)]).run(60)
    assert action.ok
    assert settle(open_fds, fds_before) == fds_before
    assert settle(threading.active_count, threads_before) <= threads_before


def run_script(source, timeout=30, **kwargs):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(source)], capture_output=True, text=True,
                          timeout=timeout, **kwargs)






def test_children_are_killed_when_the_controller_is_sigkilled(tmp_path):
    pidfile = tmp_path / "pids"
    controller = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys, time
        from execo import Process
        ps = [Process("sleep 120").start(), Process("sleep 120 & wait", shell=True).start()]
        for p in ps:
            p.started_event.wait()
        open(sys.argv[1], "w").write(" ".join(str(p.pid) for p in ps))
        time.sleep(120)
        """), str(pidfile)])
    try:
        deadline = time.monotonic() + 20
        while not pidfile.exists() or not pidfile.read_text():
            assert time.monotonic() < deadline, "controller did not start its children"
            time.sleep(0.05)
        pids = [int(pid) for pid in pidfile.read_text().split()]
        assert all(alive(pid) for pid in pids)
        controller.send_signal(signal.SIGKILL)
        controller.wait()
        assert all(wait_gone(pid, 30) for pid in pids)  # the sentinel may start slowly on a loaded machine
    finally:
        controller.kill()
        controller.wait()


def test_children_are_killed_at_normal_interpreter_exit():
    result = run_script("""
        from execo import Process
        p = Process("sleep 120").start()
        p.started_event.wait()
        print(p.pid)
        """)
    assert result.returncode == 0, result.stderr
    assert wait_gone(int(result.stdout))


def test_children_survive_when_kill_childs_at_end_is_off(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".execo.conf.py").write_text("configuration = {'kill_childs_at_end': False}\n")
    result = run_script("""
        from execo import Process
        p = Process("sleep 120").start()
        p.started_event.wait()
        print(p.pid)
        """, env=dict(os.environ, HOME=str(home)))
    assert result.returncode == 0, result.stderr
    pid = int(result.stdout)
    time.sleep(0.5)
    assert alive(pid)
    os.kill(pid, signal.SIGKILL)


def test_failed_process_warning_goes_to_stderr():
    result = run_script("""
        from execo import Process
        Process("exit 3", shell=True).run()
        """)
    assert result.returncode == 0
    assert result.stdout == ""
    assert "WARNING" in result.stderr and "terminated" in result.stderr and "exit_code=3" in result.stderr


def test_runtime_is_shared_and_survives_many_users():
    assert get_runtime() is get_runtime()
    results = []

    def worker():
        results.append(Process("echo t").run(10).stdout)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert results == ["t\n"] * 8
