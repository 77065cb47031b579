"""Four worker processes share one sweeper while a loop SIGKILLs and replaces them."""

import collections
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

from execo_actors.journal import read_journal_records
from execo_engine import HashableDict, ParamSweeper, sweep

N = 400

WORKER = textwrap.dedent("""
    import os, random, sys, time
    from execo_engine import ParamSweeper, sweep
    directory, log_path = sys.argv[1], sys.argv[2]
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    pid = os.getpid()
    s = ParamSweeper(directory, sweep({"i": list(range(%d))}))
    os.write(log, b"reclaim %%d %%d\\n" %% (pid, len(s.reclaim_dead())))
    while True:
        c = s.get_next()
        if c is None:
            break
        os.write(log, b"take %%d %%d\\n" %% (pid, c["i"]))
        time.sleep(random.uniform(0.002, 0.012))
        s.done(c)
        os.write(log, b"done %%d %%d\\n" %% (pid, c["i"]))
    os.write(log, b"exit %%d\\n" %% pid)
""" % N)


def start_worker(directory, log_path):
    return subprocess.Popen([sys.executable, "-c", WORKER, directory, log_path])


def test_killed_workers_lose_nothing_and_never_share_a_combination(tmp_path):
    directory, log_path = str(tmp_path / "sweeps"), str(tmp_path / "log")
    ParamSweeper(directory, sweep({"i": list(range(N))}))  # create it before the workers race
    open(log_path, "w").close()
    workers = [start_worker(directory, log_path) for _ in range(4)]
    killed = set()
    rng = random.Random(4)

    def working_pids():
        with open(log_path) as f:
            return {int(line.split()[1]) for line in f if line.startswith("take ")}

    try:
        while len(killed) < 8 and any(w.poll() is None for w in workers):
            time.sleep(rng.uniform(0.05, 0.15))
            # Only workers that hold combinations (under load, a new one may still be importing).
            started = working_pids()
            alive = [w for w in workers if w.poll() is None and w.pid in started]
            if not alive:
                continue
            victim = rng.choice(alive)
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            killed.add(victim.pid)
            workers[workers.index(victim)] = start_worker(directory, log_path)
        for w in workers:
            assert w.wait(timeout=60) in (0, -signal.SIGKILL)
        # The last combinations held by killed workers: one more worker recovers them.
        last = start_worker(directory, log_path)
        assert last.wait(timeout=60) == 0
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()

    assert len(killed) >= 2, "the kill loop did not overlap the work"
    final = ParamSweeper(directory, sweep({"i": list(range(N))}))
    assert str(final) == "sweeps <%d total, %d done, 0 skipped, 0 in progress, 0 remaining>" % (N, N)

    assert not os.path.exists(os.path.join(directory, "snapshot.msgpack"))
    done_records = collections.Counter()
    for record in read_journal_records(directory, HashableDict):
        if record[0] == "d":
            for c in record[1]:
                done_records[c["i"]] += 1
    assert done_records == collections.Counter({i: 1 for i in range(N)})  # each done exactly once

    takes = collections.defaultdict(list)
    reclaimed = 0
    with open(log_path) as f:
        for line in f:
            words = line.split()
            if words[0] == "take":
                takes[int(words[2])].append(int(words[1]))
            elif words[0] == "reclaim":
                reclaimed += int(words[2])
    assert set(takes) == set(range(N))
    for i, pids in takes.items():
        # Handed out again only after its holder was killed, never to two live workers.
        assert all(pid in killed for pid in pids[:-1]), (i, pids, killed)
    assert reclaimed >= 1, "no in-progress mark of a killed worker was recovered"
