"""Fan-out through the connection worker pool alone: `true` on N loopback hosts, cold then warm rounds.

    python3 bench/pool_fanout.py [-n 100] [--rounds 10] [--workers N]

Starts its own sshds (16 addresses each, MaxStartups/MaxSessions raised), drives a WorkerPool with a bare
select loop (no execo facade, no actors), and prints: worker start, the cold round (new connections), each
warm round (connections reused) and the total.
"""

import argparse
import itertools
import os
import select
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from sshd_servers import SshdEnv  # noqa: E402

from execo_actors.ssh_config import host_spec  # noqa: E402
from execo_actors.worker_pool import WorkerPool  # noqa: E402


def run_round(pool, specs, ids):
    pending = set()
    for spec in specs:
        pid = next(ids)
        pending.add(pid)
        pool.send({"op": "exec", "id": pid, "host": spec, "cmd": "true", "pty": False})
    errors = []
    while pending:
        readable, writable, _ = select.select(pool.fds_to_read(), pool.fds_to_write(), [], 1.0)
        events = []
        for fd in readable:
            events += pool.handle_readable(fd)
        for fd in writable:
            events += pool.handle_writable(fd)
        for event in events:
            if event["ev"] == "ended":
                pending.discard(event["id"])
                if event["error"] or event["status"] != 0:
                    errors.append(event)
    return errors


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100, help="number of hosts (default 100)")
    parser.add_argument("--rounds", type=int, default=10, help="warm rounds (default 10)")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: one per core)")
    parser.add_argument("--ssh", action="store_true", help="also time one round of N plain `ssh` processes at once, "
                        "measured in the same run (a baseline that shows how loaded the machine is)")
    args = parser.parse_args()

    env = SshdEnv()
    pool = None
    try:
        addresses = env.many_addresses(args.n)
        params = env.connection_params()
        t0 = time.perf_counter()
        specs = [host_spec(a, params) for a in addresses]
        t_specs = time.perf_counter() - t0
        pool = WorkerPool(args.workers)
        ids = itertools.count(1)
        t0 = time.perf_counter()
        errors = run_round(pool, specs, ids)
        cold = time.perf_counter() - t0
        warm = []
        for _ in range(args.rounds):
            t1 = time.perf_counter()
            errors += run_round(pool, specs, ids)
            warm.append(time.perf_counter() - t1)
        total = time.perf_counter() - t0
        print("hosts=%d workers=%d  host_spec x%d: %.3fs" % (args.n, pool.n_workers, args.n, t_specs))
        print("cold (workers start + connect + run): %.3fs" % cold)
        print("warm rounds: %s" % " ".join("%.3f" % w for w in warm))
        print("warm mean: %.3fs   cold + %d warm: %.3fs   errors: %d" % (sum(warm) / max(1, len(warm)),
                                                                        args.rounds, total, len(errors)))
        for error in errors[:5]:
            print("  ", error)
        if args.ssh:
            t1 = time.perf_counter()
            procs = [subprocess.Popen(["ssh", "-F", env.ssh_config_file, a, "true"], stdin=subprocess.DEVNULL)
                     for a in addresses]
            failed = sum(p.wait() != 0 for p in procs)
            print("baseline: %d plain ssh processes at once: %.3fs (%d failed)" % (args.n, time.perf_counter() - t1,
                                                                                  failed))
        print("load average: %.1f %.1f %.1f" % os.getloadavg())
    finally:
        if pool is not None:
            pool.close()
        env.stop()


if __name__ == "__main__":
    main()
