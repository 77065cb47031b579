"""Local processes through the facade, on real child processes."""

import io
import logging
import os
import re
import signal
import sys
import time

import pytest

from proc_helpers import alive, wait_gone

from execo import (STDERR, STDOUT, Process, ProcessLifecycleHandler,
                   ProcessOutputHandler, get_process)






def test_run_collects_outputs_and_decoded_exit_code():
    p = Process("echo out; echo err >&2; exit 3", shell=True, nolog_exit_code=True).run()
    assert p.started and p.ended and not p.running
    assert p.stdout == "out\n" and p.stderr == "err\n"
    assert p.exit_code == 3  # decoded status: the original gives the raw 768
    assert not p.ok and not p.finished_ok
    assert p.pid > 0 and p.start_date <= p.end_date


def test_string_command_is_split_without_shell_and_list_is_quoted_with_shell():
    assert Process("printf '%s|' 'a b' c").run().stdout == "a b|c|"
    assert Process(["printf", "%s|", "a b; echo injected"]).run().stdout == "a b; echo injected|"
    assert Process(["echo", "$HOME; echo x"], shell=True).run().stdout == "$HOME; echo x\n"


def test_signal_death_gives_negative_exit_code():
    p = Process("kill -USR1 $$", shell=True, nolog_exit_code=True).run()
    assert p.exit_code == -signal.SIGUSR1
    assert not p.ok


def test_killed_by_user_is_ok():
    p = Process("sleep 30").start()
    p.started_event.wait(5)
    p.kill()
    p.wait(10)
    assert p.ended and p.killed and p.exit_code == -signal.SIGTERM
    assert p.ok and not p.forced_kill


def test_sigkill_follows_sigterm_after_kill_timeout():
    p = Process("trap '' TERM; echo ready; sleep 30", shell=True).start()
    assert p.expect("ready", timeout=5)[0] == 0
    started = time.monotonic()
    p.kill(auto_force_kill_timeout=0.5)
    p.wait(10)
    assert p.ended and p.forced_kill and p.exit_code == -signal.SIGKILL
    assert 0.4 < time.monotonic() - started < 5


def test_timeout_kills_and_marks_timeouted(caplog):
    started = time.monotonic()
    p = Process("sleep 30", timeout=0.3).run()
    assert p.timeouted and p.killed and not p.ok
    assert time.monotonic() - started < 5
    assert p.timeout_date == pytest.approx(p.start_date + 0.3)
    assert Process("sleep 30", timeout=0.2, ignore_timeout=True).run().ok


def test_mass_timeouts_all_end_within_seconds():
    started = time.monotonic()
    processes = [Process("sleep 60", timeout=1, nolog_timeout=True).start() for _ in range(100)]
    for p in processes:
        p.wait(20)
    assert all(p.ended and p.timeouted for p in processes)
    assert time.monotonic() - started < 6


def test_kill_subprocesses_kills_the_whole_tree(tmp_path):
    pidfile = tmp_path / "child.pid"
    p = Process("sleep 60 & echo $! > %s; wait" % pidfile, shell=True).start()
    deadline = time.monotonic() + 5
    while not (pidfile.exists() and pidfile.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.02)
    child = int(pidfile.read_text())
    assert alive(child)
    p.kill()
    p.wait(10)
    assert wait_gone(child)


def test_without_kill_subprocesses_only_the_process_is_signalled(tmp_path):
    pidfile = tmp_path / "child.pid"
    p = Process(["sh", "-c", "sleep 60 & echo $! > %s; wait" % pidfile], kill_subprocesses=False).start()
    deadline = time.monotonic() + 5
    while not (pidfile.exists() and pidfile.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.02)
    child = int(pidfile.read_text())
    p.kill()
    p.wait(10)
    assert p.ended
    assert alive(child)
    os.kill(child, signal.SIGKILL)


def test_background_child_holding_the_pipe_does_not_block_the_end():
    started = time.monotonic()
    p = Process("sleep 5 & echo done", shell=True, kill_subprocesses=False).run(10)
    assert p.ended and p.stdout == "done\n"
    assert time.monotonic() - started < 3
    os.killpg(p.pid, signal.SIGKILL)


def test_write_close_stdin_and_process_as_a_file():
    p = Process("cat").start()
    p.write("hello\n")
    print("world", file=p)
    p.close_stdin()
    p.wait(10)
    assert p.stdout == "hello\nworld\n" and p.exit_code == 0


def test_write_to_an_ended_process_sets_write_error():
    p = Process("true").run()
    p.write("late\n")
    deadline = time.monotonic() + 5
    while not p.write_error and time.monotonic() < deadline:
        time.sleep(0.01)
    assert p.write_error and not p.ok
    tolerant = Process("true", ignore_write_error=True, nolog_write_error=True).run()
    tolerant.write("late\n")
    deadline = time.monotonic() + 5
    while not tolerant.write_error and time.monotonic() < deadline:
        time.sleep(0.01)
    assert tolerant.write_error and tolerant.ok


def test_pty_gives_a_terminal_for_stdin_and_stdout():
    p = Process("test -t 0 && test -t 1 && ! test -t 2 && echo tty", shell=True, pty=True).run(10)
    assert p.stdout == "tty\r\n"
    p = Process("read line; echo got $line", shell=True, pty=True).start()
    p.write("yes\n")
    p.wait(10)
    assert "got yes" in p.stdout


def test_expect_with_backtracking_and_successive_matches():
    p = Process("echo one; echo two; sleep 0.3; echo three; sleep 30", shell=True).start()
    time.sleep(0.2)
    index, match = p.expect(["nothere", r"^t(\w+)$"], timeout=5)
    assert index == 1 and match.group(1) == "wo"
    index, match = p.expect(r"^t(\w+)$", timeout=5)
    assert index == 0 and match.group(1) == "hree"
    assert p.expect("never", timeout=0.2) == (None, None)
    p.kill().wait()


def test_expect_without_backtrack_ignores_earlier_output():
    p = Process("echo early; sleep 0.5; echo late; sleep 30", shell=True).start()
    time.sleep(0.3)
    index, match = p.expect(r"\w+", timeout=5, backtrack=False)
    assert match.group(0) == "late"
    p.kill().wait()


def test_expect_on_stderr_and_end_of_stream():
    p = Process("echo hi >&2", shell=True).start()
    assert p.expect("hi", stream=STDERR, timeout=5)[0] == 0
    assert p.expect("nothing", timeout=5) == (None, None)  # eof: returns before the timeout
    p.wait()


def test_big_output_arrives_intact():
    p = Process(["seq", "200000"]).run(60)
    lines = p.stdout.splitlines()
    assert len(lines) == 200000 and lines[0] == "1" and lines[-1] == "200000"


def test_megabytes_written_just_before_exit_are_not_lost():
    p = Process([sys.executable, "-c", "import sys; sys.stdout.write('x' * 5000000); sys.stderr.write('y' * 3000000)"]).run(60)
    assert len(p.stdout) == 5000000 and len(p.stderr) == 3000000


class Lines(ProcessOutputHandler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def read_line(self, process, stream, string, eof=False, error=False):
        self.lines.append((stream, string))


def test_output_handler_gets_lines_split_like_the_reference():
    handler = Lines()
    script = "import sys,time; w=sys.stdout.write; w('a\\r'); sys.stdout.flush(); time.sleep(0.1); w('\\nb\\x0bc\\x0cd\\u2028e'); sys.stdout.flush()"
    Process([sys.executable, "-c", script], stdout_handlers=[handler]).run(10)
    assert handler.lines == [(STDOUT, "a\r\n"), (STDOUT, "b\x0b"), (STDOUT, "c\x0c"), (STDOUT, "d\u2028"), (STDOUT, "e")]


def test_handlers_may_be_fds_files_and_filenames(tmp_path):
    read_fd, write_fd = os.pipe()
    buffer = io.StringIO()
    filename = str(tmp_path / "shared.log")
    a = Process("echo a", stdout_handlers=[write_fd, buffer, filename])
    b = Process("echo b", stdout_handlers=[filename])
    a.run(10)
    b.run(10)
    os.close(write_fd)
    assert os.read(read_fd, 100) == b"a\n"
    os.close(read_fd)
    assert buffer.getvalue() == "a\n"
    assert sorted(open(filename).read().splitlines()) == ["a", "b"]


class Recorder(ProcessLifecycleHandler):
    def __init__(self):
        self.events = []

    def start(self, process):
        self.events.append(("start", process.started))

    def end(self, process):
        self.events.append(("end", process.exit_code, process.stdout))


def test_lifecycle_handlers_run_before_wait_returns():
    recorder = Recorder()
    p = Process("echo x", lifecycle_handlers=[recorder]).run(10)
    assert recorder.events == [("start", True), ("end", 0, "x\n")]
    assert p.ended


class Broken(ProcessOutputHandler):
    def read_line(self, process, stream, string, eof=False, error=False):
        raise RuntimeError("handler bug")


def test_handler_exceptions_are_logged_and_do_not_break_the_run(caplog):
    caplog.set_level(logging.ERROR, logger="execo")
    lines = Lines()
    p = Process("echo a; echo b", shell=True, stdout_handlers=[Broken(), lines]).run(10)
    assert p.ok and p.stdout == "a\nb\n"
    assert [line for _, line in lines.lines] == ["a\n", "b\n"]
    assert "handler bug" in caplog.text


def test_missing_command_is_an_error_with_one_warning(caplog):
    caplog.set_level(logging.WARNING, logger="execo")
    p = Process("no_such_command_xyz --flag").run(10)
    assert p.started and p.ended and p.error and not p.ok
    assert isinstance(p.error_reason, FileNotFoundError)
    assert p.exit_code is None and p.pid is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "no_such_command_xyz" in warnings[0].getMessage()


def test_bad_cwd_is_an_error_naming_it(caplog):
    p = Process("true", cwd="/no/such/dir").run(10)
    assert p.error and "/no/such/dir" in str(p.error_reason)
    assert Process("pwd", cwd="/tmp").run().stdout == "/tmp\n"
    assert Process("echo $X", shell=True, env={"X": "42", "PATH": os.environ["PATH"]}).run().stdout == "42\n"


@pytest.mark.parametrize("kwargs, word", [
    (dict(cmd=42), "cmd"),
    (dict(cmd="true", timeout="soon"), "timeout"),
    (dict(cmd="true", stdout_handlers="file.log"), "stdout_handlers"),
    (dict(cmd="true", cwd=3), "cwd"),
    (dict(cmd="true", name=5), "name"),
])
def test_wrong_argument_types_name_the_argument(kwargs, word):
    with pytest.raises(TypeError, match=word):
        Process(**kwargs)


def test_nolog_flags_silence_the_warning(caplog):
    caplog.set_level(logging.WARNING, logger="execo")
    Process("exit 2", shell=True, nolog_exit_code=True).run()
    Process("sleep 5", timeout=0.1, nolog_timeout=True).run()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    Process("exit 2", shell=True).run()
    assert "terminated" in caplog.text and "exit_code=2" in caplog.text


def test_wait_before_start_is_an_error_and_reset_allows_a_rerun():
    p = Process("echo again")
    with pytest.raises(ValueError):
        p.wait()
    p.run()
    assert p.stdout == "again\n"
    p.reset()
    assert not p.started and p.stdout == ""
    p.run()
    assert p.stdout == "again\n" and p.ended


def test_context_manager_kills_on_exit():
    with Process("sleep 30") as p:
        p.start()
        p.started_event.wait(5)
    p.wait(10)
    assert p.killed and p.ended


def test_str_repr_dump_and_stats():
    p = Process("echo hi", shell=True).run()
    assert repr(p) == "Process('echo hi', shell=True)"
    assert re.match(r"<Process\('echo hi', shell=True, name=echo hi, started=True, start_date=\d{4}-", str(p))
    assert "exit_code=0, ok=True, pid=%d)>" % p.pid in str(p)
    assert p.dump().endswith(")>\nstdout:\nhi\nstderr:\n")
    stats = p.stats()
    assert stats["num_processes"] == 1 and stats["num_finished_ok"] == 1 and stats["num_ok"] == 1


def test_get_process_without_host_is_local():
    p = get_process("echo local", host=None, connection_params={"user": "x"})
    assert type(p) is Process and p.run().stdout == "local\n"


def test_default_handlers_can_be_turned_off():
    p = Process("echo hidden", default_stdout_handler=False).run()
    assert p.stdout == ""


def test_ok_while_running_and_before_start():
    p = Process("sleep 30")
    assert p.ok and not p.finished_ok
    p.start()
    p.started_event.wait(5)
    assert p.running and p.ok
    p.kill().wait()


def test_writes_before_start_are_sent_once_started():
    p = Process("cat")
    p.write("early\n")
    p.close_stdin()
    p.run(10)
    assert p.stdout == "early\n" and p.ok
