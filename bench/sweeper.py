#!/usr/bin/env python3
"""ParamSweeper throughput and crash safety: this execo against the original execo 2.8.2.

Each measurement runs worker processes doing ``get_next()`` + ``done()`` on a sweep of N
combinations (default 10,000) in a fresh directory:

1. one process, until the sweep is finished (or the time budget is spent);
2. four processes sharing the directory, started together: their aggregate rate;
3. (``--kill``) four processes while a loop SIGKILLs and replaces one every 50-150 ms:
   every ``done()`` that returned is logged by the worker, and a fresh process then
   counts the acknowledged combinations missing from get_done() ("lost") and the ones
   done twice ("duplicated": handed out to two workers).

The original runs with the python of a bench venv (``bench/.venvs/execo282``, created
with ``pip install execo==2.8.2`` on first use), in the same run, so that machine noise
hits both alike. The original is slow (about 150/s), so its runs are capped by
``--budget`` seconds and its rate is measured over what it did.

    python3 bench/sweeper.py [-n 10000] [-r 3] [--budget 20] [--kill] [--no-original]

On a busy machine the 4-process figure suffers most: the workers serialise on the
directory's lock, and a lock holder that loses its CPU stalls them all.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from typing import Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(HERE, ".venvs", "execo282")

WORKER = textwrap.dedent("""
    import json, os, sys, time
    from execo_engine import ParamSweeper, sweep
    directory, n, budget, start_at, log_path = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT) if log_path != "-" else None
    s = ParamSweeper(directory, sweep({"a": list(range(n // 100)), "b": list(range(100))}))
    while time.time() < start_at:
        time.sleep(0.0005)
    started = time.time()
    t0 = time.perf_counter()
    count = 0
    while time.perf_counter() - t0 < budget:
        c = s.get_next()
        if c is None:
            break
        s.done(c)
        count += 1
        if log is not None:
            os.write(log, b"%d %d %d\\n" % (os.getpid(), c["a"], c["b"]))
    print(json.dumps({"count": count, "elapsed": time.perf_counter() - t0, "start": started,
                      "end": time.time()}))
""")

CHECK = textwrap.dedent("""
    import json, sys
    from execo_engine import ParamSweeper, sweep
    n = int(sys.argv[2])
    s = ParamSweeper(sys.argv[1], sweep({"a": list(range(n // 100)), "b": list(range(100))}))
    print(json.dumps(sorted([c["a"], c["b"]] for c in s.get_done())))
""")


def ensure_original_venv() -> str:
    python = os.path.join(VENV, "bin", "python")
    if not os.path.exists(python):
        print("creating %s with execo 2.8.2 from PyPI..." % VENV, file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "execo==2.8.2"], check=True)
    return python


def start_workers(python: str, directory: str, n: int, count: int, budget: float,
                  log_path: str = "-", delay: float = 1.0) -> List[subprocess.Popen]:
    start_at = time.time() + delay  # let every worker import and open the sweeper first
    return [subprocess.Popen([python, "-c", WORKER, directory, str(n), str(budget), str(start_at),
                              log_path], stdout=subprocess.PIPE, text=True)
            for _ in range(count)], start_at


def done_in(python: str, directory: str, n: int) -> set:
    out = subprocess.run([python, "-c", CHECK, directory, str(n)], stdout=subprocess.PIPE,
                         text=True, check=True)
    return {tuple(x) for x in json.loads(out.stdout)}


def throughput(python: str, n: int, processes: int, budget: float) -> Dict[str, float]:
    directory = tempfile.mkdtemp(prefix="bench-sweeper-")
    try:
        workers, start_at = start_workers(python, directory, n, processes, budget)
        results = []
        for w in workers:
            out, _ = w.communicate()
            if w.returncode != 0:
                raise SystemExit("a worker failed (%s)" % python)
            results.append(json.loads(out))
        ops = sum(r["count"] for r in results)
        # From the first worker's start to the last end of a worker that did something:
        # on a loaded machine a worker may start late, or only to find nothing left.
        working = [r for r in results if r["count"]] or results
        wall = max(r["end"] for r in working) - min(max(r.get("start", start_at), start_at)
                                                     for r in results)
        done = done_in(python, directory, n)
        return {"ops": ops, "wall": wall, "rate": ops / wall, "recorded": len(done),
                "lost": ops - len(done)}
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def under_kills(python: str, n: int, seconds: float, seed: int = 1) -> Dict[str, int]:
    directory = tempfile.mkdtemp(prefix="bench-sweeper-kill-")
    log_path = os.path.join(directory, "acknowledged")
    rng = random.Random(seed)
    kills = 0
    open(log_path, "w").close()

    def working_pids() -> set:
        with open(log_path) as f:
            return {int(line.split()[0]) for line in f}

    try:
        workers, _ = start_workers(python, directory, n, 4, 1e9, log_path, delay=0.5)
        while not working_pids():
            time.sleep(0.05)
        deadline = time.time() + seconds
        while time.time() < deadline:
            time.sleep(rng.uniform(0.05, 0.15))
            started = working_pids()  # a worker still importing (busy machine) is not a victim
            candidates = [i for i, w in enumerate(workers) if w.pid in started]
            if not candidates:
                continue
            i = rng.choice(candidates)
            workers[i].send_signal(signal.SIGKILL)
            workers[i].communicate()
            kills += 1
            workers[i] = start_workers(python, directory, n, 1, 1e9, log_path, delay=0)[0][0]
        for w in workers:
            w.send_signal(signal.SIGKILL)
            w.communicate()
        acknowledged = collections.Counter()
        with open(log_path) as f:
            for line in f:
                _, a, b = line.split()
                acknowledged[(int(a), int(b))] += 1
        done = done_in(python, directory, n)
        return {"kills": kills, "acknowledged": len(acknowledged),
                "lost": sum(1 for c in acknowledged if c not in done),
                "duplicated": sum(1 for c, k in acknowledged.items() if k > 1)}
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=10000, help="combinations (a multiple of 100)")
    parser.add_argument("--budget", type=float, default=20.0,
                        help="seconds after which a run stops (the original never finishes 10,000 quickly)")
    parser.add_argument("--kill", action="store_true", help="also measure losses under SIGKILL")
    parser.add_argument("--kill-seconds", type=float, default=5.0)
    parser.add_argument("--kill-n", type=int, default=200000,
                        help="combinations of the SIGKILL run (enough to keep workers busy while killed)")
    parser.add_argument("--no-original", action="store_true", help="skip execo 2.8.2")
    parser.add_argument("-r", "--rounds", type=int, default=3,
                        help="rounds of this execo's runs (1 then 4 processes); the best of each is kept")
    args = parser.parse_args()
    impls = [("execo (this)", sys.executable)]
    if not args.no_original:
        impls.append(("execo 2.8.2", ensure_original_venv()))

    results: Dict[str, Dict[int, Dict[str, float]]] = {}
    rates: Dict[int, List[float]] = {1: [], 4: []}
    ratios: List[float] = []
    for name, python in impls:
        results[name] = {}
        for _ in range(args.rounds if python == sys.executable else 1):
            for procs in (1, 4):  # alternately, so that load changes hit both
                r = throughput(python, args.n, procs, args.budget)
                print("%-13s %d process%s: %6d get_next+done in %6.2f s = %8.1f /s, recorded %d, lost %d"
                      % (name, procs, "es" if procs > 1 else "  ", r["ops"], r["wall"], r["rate"],
                         r["recorded"], r["lost"]), flush=True)
                best = results[name].get(procs)
                if best is None or r["rate"] > best["rate"] or r["lost"]:
                    results[name][procs] = r
                if python == sys.executable:
                    rates[procs].append(r["rate"])
            if python == sys.executable:
                ratios.append(rates[4][-1] / rates[1][-1])
                print("%-13s this round, 4 processes / 1 process: %.2f" % ("", ratios[-1]), flush=True)
    ours = results["execo (this)"]
    print("this execo: 1 process best %.0f /s, median %.0f /s; 4 processes best %.0f /s, median %.0f /s"
          % (max(rates[1]), statistics.median(rates[1]), max(rates[4]), statistics.median(rates[4])))
    print("4 processes / 1 process: best/best %.2f; per round %s, median %.2f"
          % (max(rates[4]) / max(rates[1]), " ".join("%.2f" % x for x in ratios),
             statistics.median(ratios)))
    if "execo 2.8.2" in results:
        orig = results["execo 2.8.2"]
        print("this execo / execo 2.8.2, 1 process: %.1fx; 4 processes: %.1fx"
              % (ours[1]["rate"] / orig[1]["rate"], ours[4]["rate"] / orig[4]["rate"]))
    if args.kill:
        for name, python in impls:
            k = under_kills(python, args.kill_n if python == sys.executable else args.n, args.kill_seconds)
            print("%-13s under SIGKILL (%d kills in %.0f s): %d acknowledged done, %d lost, %d duplicated"
                  % (name, k["kills"], args.kill_seconds, k["acknowledged"], k["lost"], k["duplicated"]),
                  flush=True)
    ok = ours[1]["rate"] >= 1000 and ours[1]["lost"] == 0 and ours[4]["lost"] == 0 \
        and statistics.median(ratios) > 1
    print("targets (>= 1000/s in one process, nothing lost, 4 processes faster than 1 (median of "
          "rounds)): %s"
          % ("met" if ok else "NOT met"))


if __name__ == "__main__":
    main()
