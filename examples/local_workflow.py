#!/usr/bin/env python3
"""The seed's netcat bandwidth experiment, on this machine: no remote host needed.

Each "host" is a loopback address (127.0.0.2, 127.0.0.3, ...): a server listens on each,
and a client sends it 6.25 MB through netcat, all in parallel. The workflow is then
reported as the original execo did, and each client's dd line gives its bandwidth.

    python3 examples/local_workflow.py [--hosts 4] [--port 6543]
"""

import argparse
import re

from execo import Local, ParallelActions, Report, SequentialActions, logger, sleep
from execo.utils import get_port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=4, help="how many loopback addresses take part")
    parser.add_argument("--port", type=int, default=None, help="the servers' port (default: a free one)")
    args = parser.parse_args()
    port = args.port or get_port()
    addresses = ["127.0.0.%d" % (i + 2) for i in range(args.hosts)]
    targets = list(reversed(addresses))

    # Substitutions as in the seed: {{...}} picks each action's own element of the list.
    servers = ParallelActions([Local("exec nc -l -s %s -p %d > /dev/null" % (address, port),
                                     process_args={"timeout": 60}) for address in addresses])
    clients = ParallelActions([
        Local("{ dd if=/dev/zero bs=50000 count=125 | nc -q 0 %s %d; } 2>&1" % (target, port),
              process_args={"timeout": 60, "name": "send to %s" % target})
        for target in targets])

    servers.start()
    sleep(0.5)  # let the servers listen
    clients.run()
    servers.wait()

    print(Report([servers, clients]).to_string())
    for process in clients.processes:
        rate = re.search(r"copied, [\d.]+ s, ([\d.,]+ \S+)", process.stdout)
        print("%-24s %s" % (process.name, rate.group(1) if rate else process.stdout.strip()))
    if not (servers.ok and clients.ok):
        logger.error("some transfers failed")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
