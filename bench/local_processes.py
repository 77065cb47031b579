#!/usr/bin/env python3
"""Local process throughput: execo's facade against a bare subprocess.Popen loop.

Both start N ``true`` processes all at once and then wait for all of them, alternately,
in this same process, so that machine noise hits both alike. Prints the best rate of each
over the rounds and their ratio (target: at least 0.7 at N=1000), the controller CPU time
per process, and the peak RSS growth for N concurrent ``sleep 5`` (target: under 20 KB
per process).

    python3 bench/local_processes.py [-n 1000] [-r 5]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time

from execo import Process


def popen_round(n: int) -> float:
    started = time.perf_counter()
    children = [subprocess.Popen(["true"]) for _ in range(n)]
    for child in children:
        child.wait()
    return time.perf_counter() - started


def execo_round(n: int) -> float:
    started = time.perf_counter()
    processes = [Process("true").start() for _ in range(n)]
    for process in processes:
        process.wait()
    elapsed = time.perf_counter() - started
    failed = [p for p in processes if not p.finished_ok]
    if failed:
        raise SystemExit("%d processes failed, first: %s" % (len(failed), failed[0]))
    return elapsed


def cpu_per_process(n: int) -> float:
    """Controller CPU (all threads) per process, for one execo round."""
    before = time.process_time()
    execo_round(n)
    return (time.process_time() - before) / n


def rss_per_process(n: int) -> float:
    """Peak RSS growth while n ``sleep 5`` run at once, per process (bytes)."""
    def rss() -> int:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    before = rss()
    processes = [Process("sleep 5").start() for _ in range(n)]
    for process in processes:
        process.started_event.wait()
    peak = rss()
    for process in processes:
        process.kill()
    for process in processes:
        process.wait()
    return (peak - before) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000, help="processes per round")
    parser.add_argument("-r", "--rounds", type=int, default=5)
    parser.add_argument("--rss-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8 * args.n + 1024)), hard))

    if args.rss_only:  # in a fresh interpreter: memory freed by earlier rounds would hide growth
        execo_round(10)
        print(rss_per_process(args.n))
        return
    execo_round(10)  # start the runtime outside the measurement
    popen_times, execo_times = [], []
    for _ in range(args.rounds):
        popen_times.append(popen_round(args.n))
        execo_times.append(execo_round(args.n))
    popen_rate = args.n / min(popen_times)
    execo_rate = args.n / min(execo_times)
    print("N=%d, best of %d rounds" % (args.n, args.rounds))
    print("  subprocess.Popen loop : %7.0f processes/s" % popen_rate)
    print("  execo Process         : %7.0f processes/s" % execo_rate)
    print("  ratio execo / Popen   : %7.2f   (target >= 0.70)" % (execo_rate / popen_rate))
    print("  controller CPU        : %7.0f us/process" % (cpu_per_process(args.n) * 1e6))
    rss = float(subprocess.run([sys.executable, __file__, "-n", str(args.n), "--rss-only"],
                               check=True, capture_output=True, text=True).stdout)
    print("  RSS, %d x sleep 5   : %7.1f KB/process (target < 20)" % (args.n, rss / 1024))


if __name__ == "__main__":
    main()
