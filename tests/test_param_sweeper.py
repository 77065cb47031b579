"""ParamSweeper: states, persistence across real processes, changed sweeps, retries, leases, bad input."""

import logging
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from execo_engine import HashableDict, ParamSweeper, ParamSweeperError, run_combinations, sweep


def run_python(code, timeout=30):
    """Run `code` in a fresh interpreter (a real separate process) and return its stdout."""
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, timeout=timeout)
    assert out.returncode == 0, out.stderr.decode()
    return out.stdout.decode()


def combs(n=3, m=2):
    return sweep({"a": list(range(n)), "b": ["x", "y", "z"][:m]})


def test_states_str_and_stats(tmp_path):
    sweeps = combs()
    s = ParamSweeper(str(tmp_path / "sw"), sweeps)
    assert str(s) == "sw <6 total, 0 done, 0 skipped, 0 in progress, 6 remaining>"
    first = s.get_next()
    assert first == sweeps[0]  # sweep order
    second, third = s.get_next_batch(2)
    s.done(first)
    s.skip(second)
    assert s.get_inprogress() == {third}
    s.cancel(third)
    assert str(s) == "sw <6 total, 1 done, 1 skipped, 0 in progress, 4 remaining>"
    all_, remaining, skipped, inprogress, done = s.stats()
    assert all_ == set(sweeps) and done == {first} and skipped == {second} and not inprogress
    assert remaining == set(sweeps) - {first, second}
    assert s.get_sweeps() == set(sweeps)
    rest = []
    while True:
        c = s.get_next()
        if c is None:
            break
        rest.append(c)
    assert rest == [c for c in sweeps if c not in (first, second)]  # third came back first
    s.done_batch(rest[:2])
    s.skip_batch(rest[2:3])
    s.cancel_batch(rest[3:])
    assert s.get_remaining() == set(rest[3:])
    s.reset()
    assert s.get_skipped() == set() and s.get_remaining() == {second, rest[2]} | set(rest[3:])
    assert s.get_done() == {first} | set(rest[:2])


def test_filter_chooses_and_batch_stops_at_the_end(tmp_path):
    sweeps = combs(4, 1)
    s = ParamSweeper(str(tmp_path / "sw"), sweeps)
    c = s.get_next(lambda remaining: sorted(remaining, key=lambda c: -c["a"]))
    assert c == {"a": 3, "b": "x"}
    assert s.get_next(lambda remaining: [x for x in remaining if x["a"] > 5]) is None
    assert len(s.get_next_batch(10)) == 3
    assert s.get_next() is None and s.get_next_batch(2) == []


def test_marks_persist_across_processes_including_skips(tmp_path):
    d = str(tmp_path / "sw")
    run_python("""
        from execo_engine import ParamSweeper, sweep
        s = ParamSweeper(%r, sweep({"a": [1, 2, 3, 4], "b": [(1, 2), (3,)]}), save_sweeps=True)
        s.done(s.get_next()); s.skip(s.get_next(), reason="no nodes"); s.get_next()
        """ % d)
    s = ParamSweeper(d)  # sweeps loaded from the saved file
    assert str(s) == "sw <8 total, 1 done, 1 skipped, 1 in progress, 5 remaining>"
    assert HashableDict({"a": 1, "b": (1, 2)}) in s.get_done()  # tuples and dicts round-trip
    assert list(s.get_skip_reasons().values()) == ["no nodes"]
    assert all(isinstance(c, HashableDict) for c in s.get_done())
    s.reset(reset_inprogress=True)
    assert str(s) == "sw <8 total, 1 done, 0 skipped, 0 in progress, 7 remaining>"
    out = run_python("""
        from execo_engine import ParamSweeper
        print(ParamSweeper(%r))
        """ % d)
    assert out.strip() == "sw <8 total, 1 done, 0 skipped, 0 in progress, 7 remaining>"


def test_changed_sweeps_add_new_report_removed_and_keep_done(tmp_path, caplog):
    d = str(tmp_path / "sw")
    s = ParamSweeper(d, sweep({"n": [1, 2, 3]}), save_sweeps=True)
    for _ in range(3):
        s.done(s.get_next())
    del s
    with caplog.at_level(logging.INFO, logger="execo"):
        s2 = ParamSweeper(d, sweep({"n": [2, 3, 4, 5]}), save_sweeps=True, name="again")
    assert s2.added == [{"n": 4}, {"n": 5}] and s2.removed == [{"n": 1}]
    assert "2 combinations added" in caplog.text and "no longer in the sweeps" in caplog.text
    assert s2.get_done() == {HashableDict(n=2), HashableDict(n=3)}
    assert s2.get_remaining() == {HashableDict(n=4), HashableDict(n=5)}
    s3 = ParamSweeper(d, sweep({"n": [1, 2, 3, 4, 5]}))
    assert len(s3.get_done()) == 3  # the mark of n=1 was kept while it was out of the sweeps


def test_threads_share_one_sweeper_without_duplicates(tmp_path):
    sweeps = sweep({"i": list(range(400))})
    s = ParamSweeper(str(tmp_path / "sw"), sweeps)
    got, lock = [], threading.Lock()

    def worker():
        other = ParamSweeper(str(tmp_path / "sw"), sweeps)  # same directory: same actor
        while True:
            c = other.get_next()
            if c is None:
                return
            with lock:
                got.append(c["i"])
            other.done(c)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == list(range(400))
    assert len(s.get_done()) == 400


def test_retry_helper_retries_then_skips_with_reason(tmp_path):
    s = ParamSweeper(str(tmp_path / "sw"), sweep({"k": ["good", "flaky", "bad"]}))
    attempts = {"good": 0, "flaky": 0, "bad": 0}

    def work(c):
        attempts[c["k"]] += 1
        if c["k"] == "bad" or (c["k"] == "flaky" and attempts["flaky"] < 2):
            raise RuntimeError("boom %d" % attempts[c["k"]])

    assert run_combinations(s, work, max_attempts=3) == 2
    assert attempts == {"good": 1, "flaky": 2, "bad": 3}
    assert s.get_done() == {HashableDict(k="good"), HashableDict(k="flaky")}
    reason = s.get_skip_reasons()[HashableDict(k="bad")]
    assert "failed 3 times" in reason and "boom 3" in reason
    assert s.get_failures()[HashableDict(k="bad")][0] == 3
    s.reset()  # forgets failures and skips: bad gets 3 new attempts
    assert s.failed(s.get_next(), "again", max_attempts=2) is True


def test_lease_expiry_returns_a_combination(tmp_path):
    d = str(tmp_path / "sw")
    run_python("""
        from execo_engine import ParamSweeper, sweep
        s = ParamSweeper(%r, sweep({"x": [1, 2]}), lease=0.5)
        print(s.get_next())
        """ % d)
    s = ParamSweeper(d, sweep({"x": [1, 2]}))
    assert s.get_inprogress() == {HashableDict(x=1)}
    time.sleep(0.6)
    assert s.get_next() == {"x": 1}  # expired, taken again (sweep order)


def test_reclaim_dead_only_reclaims_dead_owners(tmp_path):
    d = str(tmp_path / "sw")
    sweeps = sweep({"x": [1, 2, 3]})
    run_python("""
        from execo_engine import ParamSweeper, sweep
        ParamSweeper(%r, sweep({"x": [1, 2, 3]})).get_next()
        """ % d)
    s = ParamSweeper(d, sweeps)
    mine = s.get_next()
    assert s.reclaim_dead() == [HashableDict(x=1)]
    assert s.get_inprogress() == {mine}


def test_bad_persistence_dirs_and_sweeps(tmp_path):
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(ParamSweeperError, match="%s exists and is not a directory" % afile):
        ParamSweeper(str(afile), [1])
    with pytest.raises(ParamSweeperError, match="/proc/self/execo-sweeps cannot be created"):
        ParamSweeper("/proc/self/execo-sweeps", [1])
    with pytest.raises(ParamSweeperError, match="sweeps is empty"):
        ParamSweeper(str(tmp_path / "a"), [])
    with pytest.raises(ParamSweeperError, match=r"no sweeps given and none saved in .*b/sweeps.msgpack"):
        ParamSweeper(str(tmp_path / "b"))
    with pytest.raises(ParamSweeperError, match=r"combination \[1, 2\] is unhashable"):
        ParamSweeper(str(tmp_path / "c"), [(1,), [1, 2]])
    with pytest.raises(ParamSweeperError, match="cannot be stored"):
        ParamSweeper(str(tmp_path / "d"), [1, frozenset([2])])
