#!/usr/bin/env python3
"""CPU of one connection worker per new connection and per command on a warm one, through the facade.

    python3 bench/worker_cpu.py [-n 300] [--rounds 5] [--repeat 3]

Wall times on this shared 2-core machine move by 20% from run to run; the worker's own CPU seconds (read from
/proc) move much less, which makes this the A/B measure of a change in actors/ (run it before and after).
One worker (``ssh_workers = 1``) serves N loopback hosts: it is started first on one host, outside the count;
then a cold round on the N-1 others (new connections), then ``--rounds`` warm rounds on the same hosts.
Prints, per repeat: the cold and warm wall times, the worker's CPU per new connection (handshake,
authentication and one `true`) and per warm command.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, os.path.join(HERE, "peers"))

import procinfo  # noqa: E402
from sshd_servers import SshdEnv  # noqa: E402


def measure(addresses, params, rounds):
    from execo import Remote
    from execo_actors import runtime

    try:
        Remote("true", addresses[:1], connection_params=params).run()  # the worker starts, outside the count
        workers = [pid for pid, cmdline in procinfo.children(os.getpid()) if "conn_worker" in cmdline]
        worker = workers[0]
        hosts = addresses[1:]
        cpu0, t0 = procinfo.cpu_seconds(worker), time.perf_counter()
        cold = Remote("true", hosts, connection_params=params).run()
        cpu1, t1 = procinfo.cpu_seconds(worker), time.perf_counter()
        warm_ok = all(Remote("true", hosts, connection_params=params).run().ok for _ in range(rounds))
        cpu2, t2 = procinfo.cpu_seconds(worker), time.perf_counter()
        if not (cold.ok and warm_ok):
            raise SystemExit("errors: %s" % [p.error_reason for p in cold.processes if not p.ok][:3])
        return (t1 - t0, t2 - t1, (cpu1 - cpu0) / len(hosts), (cpu2 - cpu1) / len(hosts) / rounds)
    finally:
        runtime._shutdown()  # the next repeat starts a new runtime and a new worker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=300, help="hosts (default 300)")
    parser.add_argument("--rounds", type=int, default=5, help="warm rounds (default 5)")
    parser.add_argument("--repeat", type=int, default=3, help="measures, each with a new worker (default 3)")
    args = parser.parse_args()
    env = SshdEnv()
    try:
        addresses = env.many_addresses(args.n + 1)
        params = env.connection_params()
        from execo.config import configuration

        configuration["ssh_workers"] = 1
        for i in range(args.repeat):
            cold, warm, per_host, per_command = measure(addresses, params, args.rounds)
            print("run %d: cold %.2f s, warm x%d %.2f s; worker CPU %.2f ms per new connection, %.3f ms per warm "
                  "command" % (i + 1, cold, args.rounds, warm, per_host * 1000, per_command * 1000), flush=True)
    finally:
        env.stop()


if __name__ == "__main__":
    main()
