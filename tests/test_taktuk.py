"""TaktukRemote, TaktukPut and TaktukGet against the real taktuk and real sshd servers.

The hosts are this machine (one sshd per loopback address), so taktuk's self-propagation
(``-s``, the default) runs the shipped taktuk code with this machine's perl on each host.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time

import pytest

from execo import Report, configuration
from proc_helpers import processes_with
from execo.host import Host
from execo.taktuk import TaktukGet, TaktukProcess, TaktukPut, TaktukRemote, taktuk_escape, taktuk_remote_command

pytestmark = [pytest.mark.skipif(shutil.which("taktuk") is None, reason="taktuk is not installed"),
              pytest.mark.timeout(180)]

WAIT = 90  # generous: taktuk's deployment over ssh is slow on a loaded CI machine
UNREACHABLE = "127.0.0.9"  # no sshd listens there (the fixtures use .10 and up)


@pytest.fixture(scope="module")
def cp(taktuk_connection_params):
    return taktuk_connection_params


def _addresses(sshd_hosts, n):
    return [host.address for host in sshd_hosts(n)]


def _wait_until(predicate, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _taktuk_dirs():
    return {name for name in os.listdir(tempfile.gettempdir()) if name.startswith("execo-taktuk-")}


def _open_fds():
    return len(os.listdir("/proc/self/fd"))


def test_escaping_for_taktuk():
    assert taktuk_escape("a [b] !c d\te") == "a! ![b!]! !!c! d!\te"
    # two levels: the options file, then the remote taktuk
    assert taktuk_remote_command("]") == "!!!]"
    assert taktuk_remote_command("a\nb").startswith("eval!!! ")


def test_outputs_exit_codes_and_substitutions(sshd_hosts, cp):
    hosts = _addresses(sshd_hosts, 4)
    words = ["alpha", "beta", "gamma", "delta"]
    codes = [0, 0, 5, 0]
    TaktukRemote("true", hosts[:1], connection_params=cp).run(timeout=WAIT)  # warm up the runtime
    fds = _open_fds()
    dirs = _taktuk_dirs()
    remote = TaktukRemote("echo {{{host}}} {{words}}; echo err-{{{host}}} >&2; exit {{codes}}", hosts,
                          connection_params=cp)
    assert [p.cmd for p in remote.processes][2] == "echo %s gamma; echo err-%s >&2; exit 5" % (hosts[2], hosts[2])
    remote.run(timeout=WAIT)
    assert remote.ended
    for index, process in enumerate(remote.processes):
        assert isinstance(process, TaktukProcess)
        assert process.host == Host(hosts[index])
        assert process.started and process.ended
        assert process.stdout == "%s %s\n" % (hosts[index], words[index])
        assert process.stderr == "err-%s\n" % (hosts[index],)
        assert process.exit_code == codes[index]  # decoded: exit 5 gives 5
        assert process.error is False
    assert [p.ok for p in remote.processes] == [True, True, False, True]
    assert not remote.ok
    stats = Report([remote]).stats()
    assert (stats["num_processes"], stats["num_started"], stats["num_ended"]) == (4, 4, 4)
    assert (stats["num_non_zero_exit_codes"], stats["num_errors"], stats["num_ok"]) == (1, 0, 3)
    assert _taktuk_dirs() == dirs  # the options file and its directory are gone
    assert _wait_until(lambda: _open_fds() <= fds, 5)


def test_shell_syntax_reaches_the_remote_shell_unchanged(sshd_hosts, cp):
    hosts = _addresses(sshd_hosts, 1)
    script = ("[ -d / ] && echo 'two  spaces [x] ! ]' \"-] -[\"\n"
              "if true\nthen\n  printf '%s\\n' 'tab\there'\nfi")
    remote = TaktukRemote(script, hosts, connection_params=cp).run(timeout=WAIT)
    process = remote.processes[0]
    assert process.exit_code == 0, process.dump()
    assert process.stdout == "two  spaces [x] ! ] -] -[\ntab\there\n"


def test_unreachable_host_fails_alone(sshd_hosts, cp):
    hosts = _addresses(sshd_hosts, 3) + [UNREACHABLE]
    remote = TaktukRemote("echo ok-{{{host}}}", hosts, connection_params=cp).run(timeout=WAIT)
    good, bad = remote.processes[:3], remote.processes[3]
    for process in good:
        assert process.ok and process.stdout == "ok-%s\n" % (process.host.address,)
    assert bad.error and not bad.ok and bad.exit_code is None
    assert UNREACHABLE in bad.error_reason and "connection" in bad.error_reason and "failed" in bad.error_reason
    assert "Connection refused" in bad.stderr  # ssh's own message, from taktuk's connector stream
    stats = Report([remote]).stats()
    assert (stats["num_errors"], stats["num_ok"], stats["num_ended"]) == (1, 3, 4)


def test_lost_connection_names_the_host(sshd_hosts, sshd_fresh_host, cp):
    doomed = sshd_fresh_host()
    other = _addresses(sshd_hosts, 1)[0]
    marker = "execo-taktuk-lost-%d" % os.getpid()
    remote = TaktukRemote("sleep 30; echo %s" % marker, [doomed.address, other], connection_params=cp,
                          process_args={"nolog_error": True})
    remote.start()
    try:
        assert _wait_until(lambda: all(p.started for p in remote.processes)), [str(p) for p in remote.processes]
        doomed.kill()
        lost = remote.processes[0]
        assert _wait_until(lambda: lost.ended, 30)
        assert lost.error and doomed.address in lost.error_reason and "lost" in lost.error_reason
        assert not remote.processes[1].ended  # the other host goes on
    finally:
        remote.kill()
        remote.wait(WAIT)
    assert remote.ended
    assert remote.processes[1].killed and remote.processes[1].ok


def test_kill_ends_the_remote_commands(sshd_hosts, cp):
    hosts = _addresses(sshd_hosts, 3)
    marker = "execo-taktuk-kill-%d" % os.getpid()
    remote = TaktukRemote("sleep 60; echo %s" % marker, hosts, connection_params=cp).start()
    assert _wait_until(lambda: all(p.started for p in remote.processes))
    assert _wait_until(lambda: len(processes_with("sleep 60; echo %s" % marker)) >= 3, 20)
    started = time.monotonic()
    remote.kill().wait(WAIT)
    assert remote.ended and time.monotonic() - started < 30
    for process in remote.processes:
        assert process.killed and process.ended and process.ok and not process.forced_kill
        assert process.exit_code == -signal.SIGTERM
    assert _wait_until(lambda: not processes_with("sleep 60; echo %s" % marker), 10)


def test_kill_escalates_to_sigkill(sshd_hosts, cp, monkeypatch):
    monkeypatch.setitem(configuration, "kill_timeout", 1)
    hosts = _addresses(sshd_hosts, 2)
    marker = "execo-taktuk-stubborn-%d" % os.getpid()
    remote = TaktukRemote("trap '' TERM; sleep 60; echo %s" % marker, hosts, connection_params=cp).start()
    assert _wait_until(lambda: all(p.started for p in remote.processes))
    assert _wait_until(lambda: len(processes_with("sleep 60; echo %s" % marker)) >= 2, 20)
    remote.kill().wait(WAIT)
    assert remote.ended
    for process in remote.processes:
        assert process.killed and process.forced_kill and process.exit_code == -signal.SIGKILL
    assert _wait_until(lambda: not processes_with("sleep 60; echo %s" % marker), 10)


def test_process_timeout_is_enforced_by_taktuk(sshd_hosts, cp, monkeypatch):
    monkeypatch.setitem(configuration, "kill_timeout", 2)
    hosts = _addresses(sshd_hosts, 3)
    commands = ["sleep 30", "echo fast", "trap '' TERM; sleep 30"]  # noqa: F841 (read by the substitution)
    remote = TaktukRemote("{{commands}}", hosts, connection_params=cp,
                          process_args={"timeout": 2, "nolog_timeout": True})
    started = time.monotonic()
    remote.run(timeout=WAIT)
    assert time.monotonic() - started < 30
    slow, fast, stubborn = remote.processes
    assert slow.timeouted and slow.killed and not slow.forced_kill and slow.exit_code == -signal.SIGTERM
    assert not slow.ok
    assert fast.ok and fast.stdout == "fast\n" and not fast.timeouted
    assert stubborn.timeouted and stubborn.forced_kill and stubborn.exit_code == -signal.SIGKILL
    with TaktukRemote("sleep 30", hosts[:1], connection_params=cp) as remote:
        remote.start()
        assert _wait_until(lambda: remote.processes[0].started)
        with pytest.raises(NotImplementedError, match="kill its TaktukRemote"):
            remote.processes[0].kill()
    assert remote.wait(WAIT).ended and remote.processes[0].killed


def test_expect_and_handlers_on_taktuk_processes(sshd_hosts, cp, tmp_path):
    hosts = _addresses(sshd_hosts, 2)
    out = str(tmp_path / "out-{{{host}}}")
    remote = TaktukRemote("echo ready {{{host}}}; sleep 1; echo after", hosts, connection_params=cp,
                          process_args={"stdout_handlers": [out]})
    remote.start()
    results = remote.expect(r"ready (\S+)", timeout=WAIT)
    assert [match.group(1) for _, _, match in results] == hosts
    remote.wait(WAIT)
    for address in hosts:
        with open(str(tmp_path / ("out-" + address))) as f:
            assert f.read() == "ready %s\nafter\n" % (address,)


def test_one_keyfile_and_one_port(cp):
    with pytest.raises(ValueError, match=r"port.*127\.0\.0\.2[12]"):
        TaktukRemote("true", [Host("127.0.0.21", port=2222), "127.0.0.22"], connection_params=cp)
    with pytest.raises(ValueError, match=r"keyfile.*/other/key.*127\.0\.0\.21"):
        TaktukRemote("true", [Host("127.0.0.21", keyfile="/other/key"), "127.0.0.22"], connection_params=cp)


def test_no_hosts_ends_at_once(cp):
    remote = TaktukRemote("true", [], connection_params=cp).run(timeout=10)
    assert remote.ended and remote.ok and remote.processes == []


def test_missing_taktuk_program(sshd_hosts, cp):
    hosts = _addresses(sshd_hosts, 2)
    params = dict(cp, taktuk="/nonexistent/taktuk")
    remote = TaktukRemote("true", hosts, connection_params=params, process_args={"nolog_error": True})
    dirs = _taktuk_dirs()
    remote.run(timeout=WAIT)
    for process in remote.processes:
        assert process.error and "taktuk could not run" in process.error_reason
        assert "/nonexistent/taktuk" in str(process.error_reason)
    assert _taktuk_dirs() == dirs


def test_put_files_and_a_directory_then_get_them_back(sshd_hosts, cp, tmp_path):
    hosts = _addresses(sshd_hosts, 3)
    src = tmp_path / "src"
    (src / "tree" / "sub").mkdir(parents=True)
    (src / "file.txt").write_text("hello taktuk\n")
    (src / "tree" / "a").write_text("a" * 1000)
    (src / "tree" / "sub" / "b").write_bytes(os.urandom(200000))
    dest = tmp_path / "dest"  # every host is this machine: one writer, or they race on the same files
    dest.mkdir()
    put = TaktukPut(hosts[:1], [str(src / "file.txt"), str(src / "tree")], str(dest), connection_params=cp)
    assert put.name == "TaktukPut to 1 hosts"
    put.run(timeout=WAIT)
    assert put.ok, [p.dump() for p in put.processes]
    assert all(p.exit_code == 0 for p in put.processes)
    assert (dest / "file.txt").read_text() == "hello taktuk\n"
    assert (dest / "tree" / "a").read_text() == "a" * 1000
    assert (dest / "tree" / "sub" / "b").read_bytes() == (src / "tree" / "sub" / "b").read_bytes()

    back = tmp_path / "back"
    back.mkdir()
    get = TaktukGet(hosts, [str(dest / "file.txt"), str(dest / "tree")], str(back / "$position"),
                    connection_params=cp)
    for position in range(1, 4):
        (back / str(position)).mkdir()
    get.run(timeout=WAIT)
    assert get.ok, [p.dump() for p in get.processes]
    for position in range(1, 4):  # taktuk's $position: one copy per host
        assert (back / str(position) / "file.txt").read_text() == "hello taktuk\n"
        assert (back / str(position) / "tree" / "sub" / "b").read_bytes() == (src / "tree" / "sub" / "b").read_bytes()


def test_put_failures_are_per_host(sshd_hosts, cp, tmp_path):
    hosts = _addresses(sshd_hosts, 2) + [UNREACHABLE]
    (tmp_path / "f").write_text("x")
    put = TaktukPut(hosts, [str(tmp_path / "f")], str(tmp_path / "no" / "such" / "dir" / "f"),
                    connection_params=cp)
    put.run(timeout=WAIT)
    reasons = [p.error_reason for p in put.processes]
    assert all(p.error for p in put.processes), reasons
    assert "transfer" in reasons[0] and hosts[0] in reasons[0]
    assert UNREACHABLE in reasons[2] and "connection" in reasons[2]
    missing = TaktukPut(hosts[:2], [str(tmp_path / "missing")], str(tmp_path), connection_params=cp).run(timeout=WAIT)
    assert all(p.error and "1 of 1 file transfers failed" in p.error_reason for p in missing.processes)
