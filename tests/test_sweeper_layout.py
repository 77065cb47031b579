"""The on-disk layout with per-process marks files: merging, torn records, compaction with
several writers, reservations, and campaigns written by the single-journal layout."""

import logging
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from execo_actors.journal import (Journal, JournalCorruptError, SNAPSHOT_MAGIC, encode_record, pack,
                                  read_blob, read_journal_records, write_blob)
from execo_actors.marks import is_marks_name
from execo_actors.sweeper import SweeperState, SweepView
from execo_engine import HashableDict, ParamSweeper, ParamSweeperError, sweep

N = 20
HEADER = "from execo_engine import ParamSweeper, sweep\ns = ParamSweeper(%r, sweep({'i': list(range(%d))}))\n"


def child(directory, code, wait=True, n=N):
    """A real separate process with `s`, a ParamSweeper on `directory` (`n` combinations)."""
    prog = HEADER % (directory, n) + textwrap.dedent(code)
    proc = subprocess.Popen([sys.executable, "-c", prog], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    if not wait:
        return proc
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return out, err


def marks_files(directory):
    return sorted(n for n in os.listdir(directory) if is_marks_name(n))


def sweeper(directory, n=N):
    return ParamSweeper(directory, sweep({"i": list(range(n))}))


def done_ids(s):
    return sorted(c["i"] for c in s.get_done())


def test_two_writers_marks_are_merged(tmp_path):
    d = str(tmp_path / "sw")
    child(d, "for _ in range(3): s.done(s.get_next())")
    child(d, "for _ in range(4): s.done(s.get_next())")
    files = marks_files(d)
    assert len(files) == 2  # one per process
    records = read_journal_records(d, HashableDict)
    assert sorted(c["i"] for r in records if r[0] == "d" for c in r[1]) == list(range(7))
    s = sweeper(d)
    assert done_ids(s) == list(range(7))
    assert str(s) == "sw <20 total, 7 done, 0 skipped, 0 in progress, 13 remaining>"


def test_a_live_worker_sees_the_done_marks_of_another(tmp_path):
    d = str(tmp_path / "sw")
    worker = child(d, """
        import sys
        c = s.get_next()
        print(c["i"], flush=True)
        sys.stdin.readline()
        s.done(c)
        print(s, flush=True)
        sys.stdin.readline()
        """, wait=False)
    try:
        assert worker.stdout.readline().strip() == "0"
        s = sweeper(d)
        assert s.get_inprogress() == {HashableDict(i=0)}
        mine = s.get_next()
        assert mine == {"i": 1}
        s.done(mine)
        worker.stdin.write("go\n")
        worker.stdin.flush()
        assert worker.stdout.readline().strip() == "sw <20 total, 2 done, 0 skipped, 0 in progress, 18 remaining>"
        assert done_ids(s) == [0, 1]  # a query reads every marks file
    finally:
        worker.stdin.close()
        worker.wait(timeout=30)
        worker.stdout.close()
        worker.stderr.close()


@pytest.mark.parametrize("tail", [encode_record(pack(["d", [{"i": 19}]]))[:-2], b"\0" * 5])
def test_torn_record_in_one_writers_file_is_dropped_with_a_warning(tmp_path, tail):
    d = str(tmp_path / "sw")
    child(d, "for _ in range(3): s.done(s.get_next())")
    child(d, "for _ in range(2): s.done(s.get_next())")
    torn = marks_files(d)[0]
    path = os.path.join(d, torn)
    size = os.path.getsize(path)
    with open(path, "ab") as f:
        f.write(tail)
    out, err = child(d, "print(s); s.done(s.get_next()); print(s)")
    assert "%s: dropped a torn last record at byte %d" % (path, size) in err
    assert out.splitlines() == ["sw <20 total, 5 done, 0 skipped, 0 in progress, 15 remaining>",
                                "sw <20 total, 6 done, 0 skipped, 0 in progress, 14 remaining>"]


def test_torn_record_of_a_killed_writer(tmp_path):
    """SIGKILLed: its file is never retired by itself; its done marks count, its torn tail does not."""
    d = str(tmp_path / "sw")
    worker = child(d, """
        import sys
        for _ in range(3): s.done(s.get_next())
        s.get_next()
        print("ready", flush=True)
        sys.stdin.readline()
        """, wait=False)
    try:
        assert worker.stdout.readline().strip() == "ready"
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        for stream in (worker.stdin, worker.stdout, worker.stderr):
            stream.close()
    path = os.path.join(d, marks_files(d)[0])
    size = os.path.getsize(path)
    with open(path, "ab") as f:
        f.write(encode_record(pack(["d", [{"i": 3}]]))[:-1])
    out, err = child(d, "print(s); print(s.reclaim_dead()); print(s)")
    assert "dropped a torn last record at byte %d" % size in err
    assert out.splitlines() == ["sw <20 total, 3 done, 0 skipped, 1 in progress, 16 remaining>",
                                "[{'i': 3}]",
                                "sw <20 total, 3 done, 0 skipped, 0 in progress, 17 remaining>"]


def test_corrupt_record_inside_a_marks_file_is_an_error_naming_it(tmp_path):
    d = str(tmp_path / "sw")
    child(d, "for _ in range(3): s.done(s.get_next())")
    path = os.path.join(d, marks_files(d)[0])
    with open(path, "r+b") as f:
        f.seek(16 + 8 + 2)  # inside the first record's payload
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    before = open(path, "rb").read()
    with pytest.raises(ParamSweeperError, match="%s: corrupt record at byte 16" % path):
        sweeper(d).get_done()
    assert open(path, "rb").read() == before


def test_compaction_with_several_live_writers(tmp_path):
    """Two live workers keep marking done while a third process compacts."""
    d = str(tmp_path / "sw")
    prog = """
        import sys
        for line in sys.stdin:
            s.done(s.get_next()); print(s, flush=True)
        """
    workers = [child(d, prog, wait=False) for _ in range(2)]

    def step(w):
        w.stdin.write("go\n")
        w.stdin.flush()
        return w.stdout.readline().strip()

    try:
        for w in workers:
            step(w)
            step(w)
        child(d, "s.done(s.get_next()); s.compact()")
        snapshot = read_blob(os.path.join(d, "snapshot.msgpack"), SNAPSHOT_MAGIC, lambda b: __import__(
            "msgpack").unpackb(b, raw=False, strict_map_key=False))
        assert len(snapshot["done"]) == 5 and snapshot["generation"] == 1
        assert len(snapshot["writers"]) == 3  # the compactor was alive too
        assert not os.path.exists(os.path.join(d, "journal-0.msgpack"))
        assert step(workers[0]) == "sw <20 total, 6 done, 0 skipped, 0 in progress, 14 remaining>"
        assert step(workers[1]) == "sw <20 total, 7 done, 0 skipped, 0 in progress, 13 remaining>"
    finally:
        for w in workers:
            w.stdin.close()
            assert w.wait(timeout=30) == 0
            w.stdout.close()
            w.stderr.close()
    finished = marks_files(d)
    s = sweeper(d)
    assert done_ids(s) == list(range(7))
    s.compact()
    # Every writer finished: their files went at compaction (this process's own, created
    # with its sweeper, is all that is left, and goes when it stops).
    assert len(finished) == 3 and not set(finished) & set(marks_files(d))
    assert len(marks_files(d)) == 1
    assert done_ids(sweeper(d)) == list(range(7))


def test_fast_loop_reserves_ahead_and_releases_at_exit(tmp_path):
    """Reserved combinations are in progress for the others, remaining for their process."""
    d = str(tmp_path / "sw")
    worker = child(d, """
        import sys
        taken = [s.get_next() for _ in range(30)]
        print(s, flush=True)
        sys.stdin.readline()
        for c in taken: s.done(c)
        """, wait=False, n=200)
    try:
        own_view = worker.stdout.readline().strip()
        assert own_view == "sw <200 total, 0 done, 0 skipped, 30 in progress, 170 remaining>"
        others = sweeper(d, 200)
        _, _, _, inprogress, _ = others.counts()
        assert inprogress > 30  # the fast loop took some ahead
        worker.stdin.write("go\n")
        worker.stdin.flush()
        assert worker.wait(timeout=30) == 0
    finally:
        worker.stdin.close()
        worker.stdout.close()
        worker.stderr.close()
    others.update()
    assert str(others) == "sw <200 total, 30 done, 0 skipped, 0 in progress, 170 remaining>"
    assert [others.get_next()["i"] for _ in range(3)] == [30, 31, 32]  # released in order


def test_killed_fast_loop_reservations_are_reclaimed(tmp_path):
    d = str(tmp_path / "sw")
    worker = child(d, """
        import sys
        for _ in range(30): s.done(s.get_next())
        print("ready", flush=True)
        sys.stdin.readline()
        """, wait=False, n=100)
    try:
        assert worker.stdout.readline().strip() == "ready"
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        for stream in (worker.stdin, worker.stdout, worker.stderr):
            stream.close()
    s = sweeper(d, 100)
    assert done_ids(s) == list(range(30))
    reclaimed = s.reclaim_dead()
    assert len(reclaimed) > 0  # what the fast loop had taken ahead
    rest = []
    while True:
        c = s.get_next()
        if c is None:
            break
        rest.append(c["i"])
        s.done(c)
    assert sorted(rest) == list(range(30, 100))
    assert str(s) == "sw <100 total, 100 done, 0 skipped, 0 in progress, 0 remaining>"


def test_campaign_of_the_single_journal_layout_continues(tmp_path):
    """Before marks files: every mark in the journal, a format-1 snapshot; still read."""
    d = str(tmp_path / "sw")
    os.makedirs(d)
    write_blob(os.path.join(d, "snapshot.msgpack"), SNAPSHOT_MAGIC,
               {"format": 1, "generation": 1, "covers": [0, 16],
                "done": [{"i": 0}], "skipped": [[{"i": 1}, "no nodes"]],
                "inprogress": [[{"i": 2}, "otherhost:1:1", None]], "failures": []})
    old = Journal(d, HashableDict)
    with old.locked():
        old.read_new()
        old.append(["t", [{"i": 3}, {"i": 4}], "otherhost:1:1", None])
        old.append(["d", [{"i": 3}]])
        old.append(["c", [{"i": 4}], "cancelled"])
    old.close()
    s = sweeper(d)
    assert str(s) == "sw <20 total, 2 done, 1 skipped, 1 in progress, 16 remaining>"
    assert s.get_skip_reasons() == {HashableDict(i=1): "no nodes"}
    assert s.get_next() == {"i": 4}
    s.reset(True)
    assert str(s) == "sw <20 total, 2 done, 0 skipped, 0 in progress, 18 remaining>"


def test_cancel_and_retake_by_one_process_stays_in_progress(tmp_path):
    """A done mark can arrive after a later take (marks files are not ordered with the
    journal): done stays final and the later take does not resurrect it."""
    view = SweepView([HashableDict(i=i) for i in range(3)])
    state = SweeperState()
    state.views.append(view)
    view.rebuild(state)
    c = HashableDict(i=0)
    state.apply_mark(["d", [c]])
    state.apply(["t", [c], "a:1:1", None])
    assert c in state.done and c not in state.inprogress and c not in view.remaining
    state.apply(["c", [c], "lease expired"])
    assert c not in view.remaining  # done: never todo again
    other = HashableDict(i=1)
    state.apply(["t", [other], "a:1:1", None])
    state.apply(["c", [other], "cancelled"])
    assert other in view.remaining and other not in state.inprogress


def test_unregistered_and_retired_files_go_at_compaction(tmp_path, caplog):
    d = str(tmp_path / "sw")
    child(d, "s.done(s.get_next())")
    stray = os.path.join(d, "marks-00000000deadbeef.msgpack")
    with open(stray, "wb") as f:
        f.write(b"EXECOM1\n" + b"\0" * 8)
    os.utime(stray, (1, 1))  # old: left by a process killed before registering it
    before = marks_files(d)
    s = sweeper(d)
    s.compact()
    assert len(before) == 2 and not set(before) & set(marks_files(d))  # retired, stray
    assert done_ids(s) == [0]
