"""The msgpack journal: torn tails, corruption, compaction seen by another process, crash recovery."""

import os
import subprocess
import sys
import textwrap

import pytest

from execo_actors.journal import (Journal, JournalCorruptError, SNAPSHOT_MAGIC, encode_record, pack,
                                  read_journal_records, write_blob)
from execo_engine import HashableDict, ParamSweeper, ParamSweeperError, sweep

SWEEPS = sweep({"i": list(range(10))})


def in_child(directory, code, check=True):
    """Run sweeper code in a separate interpreter, with `s` a ParamSweeper on `directory`."""
    prog = ("from execo_engine import ParamSweeper, sweep\n"
            "s = ParamSweeper(%r, sweep({'i': list(range(10))}))\n" % directory) + textwrap.dedent(code)
    out = subprocess.run([sys.executable, "-c", prog], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         timeout=30)
    if check:
        assert out.returncode == 0, out.stderr.decode()
    return out


def journal_file(directory, generation=0):
    return os.path.join(directory, "journal-%d.msgpack" % generation)


@pytest.mark.parametrize("tail", [encode_record(pack(["d", [{"i": 9}]]))[:-3], b"\0" * 100, b"\x00\x00"])
def test_torn_last_record_is_dropped_with_a_warning(tmp_path, tail):
    d = str(tmp_path / "sw")
    in_child(d, "for _ in range(3): s.done(s.get_next())")
    size = os.path.getsize(journal_file(d))
    with open(journal_file(d), "ab") as f:
        f.write(tail)
    out = in_child(d, "print(s); s.done(s.get_next()); print(s)")
    assert "dropped a torn last record at byte %d" % size in out.stderr.decode()
    assert out.stdout.decode().splitlines() == [
        "sw <10 total, 3 done, 0 skipped, 0 in progress, 7 remaining>",
        "sw <10 total, 4 done, 0 skipped, 0 in progress, 6 remaining>"]
    assert len(read_journal_records(d)) == 8


def test_corrupt_record_in_the_middle_is_an_error_naming_the_file(tmp_path):
    d = str(tmp_path / "sw")
    in_child(d, "for _ in range(3): s.done(s.get_next())")
    path = journal_file(d)
    with open(path, "r+b") as f:
        f.seek(16 + 8 + 3)  # inside the first record's payload
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    before = open(path, "rb").read()
    out = in_child(d, "", check=False)
    assert out.returncode != 0
    assert "%s: corrupt record at byte 16" % path in out.stderr.decode()
    assert open(path, "rb").read() == before  # nothing was overwritten
    with pytest.raises(ParamSweeperError, match="corrupt record at byte 16"):
        ParamSweeper(d, SWEEPS)


def test_corrupt_snapshot_is_an_error_naming_it(tmp_path):
    d = str(tmp_path / "sw")
    in_child(d, "s.done(s.get_next()); s.compact()")
    snap = os.path.join(d, "snapshot.msgpack")
    data = bytearray(open(snap, "rb").read())
    data[-2] ^= 0x55
    open(snap, "wb").write(bytes(data))
    out = in_child(d, "", check=False)
    assert "%s: checksum mismatch" % snap in out.stderr.decode()


def test_compaction_by_another_process_is_followed(tmp_path):
    """A live process keeps working across a compaction done by another one (the seal)."""
    d = str(tmp_path / "sw")
    prog = ("import sys\nfrom execo_engine import ParamSweeper, sweep\n"
            "s = ParamSweeper(%r, sweep({'i': list(range(10))}))\n"
            "for line in sys.stdin:\n"
            "    c = s.get_next(); s.done(c); print(c['i'], s, flush=True)\n" % d)
    child = subprocess.Popen([sys.executable, "-c", prog], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    try:
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline().startswith("0 sw <10 total, 1 done")
        in_child(d, "s.done(s.get_next()); s.compact(); s.done(s.get_next())")
        assert not os.path.exists(journal_file(d, 0)) and os.path.exists(journal_file(d, 1))
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "3 sw <10 total, 4 done, 0 skipped, 0 in progress, 6 remaining>"
    finally:
        child.stdin.close()
        assert child.wait(timeout=30) == 0
        child.stdout.close()
    out = in_child(d, "print(s)")
    assert out.stdout.decode().strip() == "sw <10 total, 4 done, 0 skipped, 0 in progress, 6 remaining>"


def test_interrupted_compaction_loses_nothing(tmp_path):
    """A compactor killed after renaming the snapshot, before sealing the old journal."""
    d = str(tmp_path / "sw")
    os.makedirs(d)
    writer = Journal(d, HashableDict)
    with writer.locked():
        writer.read_new()
        writer.append(["d", [{"i": 0}]])
        covered = writer.offset
        # What compact() does up to the rename of the snapshot, then "dies":
        with open(journal_file(d, 1), "wb") as f:
            f.write(b"EXECOJ1\n" + (1).to_bytes(8, "big"))
        write_blob(os.path.join(d, "snapshot.msgpack"), SNAPSHOT_MAGIC,
                   {"format": 1, "generation": 1, "covers": [0, covered], "done": [{"i": 0}]})
    with writer.locked():  # a process that did not notice keeps appending to journal-0
        writer.read_new()
        writer.append(["d", [{"i": 1}]])
    writer.close()
    s = ParamSweeper(d, SWEEPS)
    assert s.get_done() == {HashableDict(i=0), HashableDict(i=1)}
    assert not os.path.exists(journal_file(d, 0))
    assert read_journal_records(d, HashableDict) == [("d", ({"i": 1},))]


def test_journal_bad_header_is_an_error(tmp_path):
    d = str(tmp_path / "sw")
    in_child(d, "s.done(s.get_next())")
    with open(journal_file(d), "r+b") as f:
        f.write(b"GARBAGE!")
    with pytest.raises(ParamSweeperError, match="journal-0.msgpack: bad header"):
        ParamSweeper(d, SWEEPS)


def test_automatic_compaction_at_open_keeps_every_mark(tmp_path):
    d = str(tmp_path / "sw")
    in_child(d, """
        for _ in range(700):
            c, = s.get_next_batch(1); s.cancel(c)
        s.done(s.get_next())
        """)
    out = in_child(d, "print(s)")  # opening compacts: 1401 records for 1 live mark
    assert out.stdout.decode().strip() == "sw <10 total, 1 done, 0 skipped, 0 in progress, 9 remaining>"
    assert os.path.exists(os.path.join(d, "snapshot.msgpack"))
    assert os.path.getsize(journal_file(d, 1)) < 100
