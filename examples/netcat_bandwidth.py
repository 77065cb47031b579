#!/usr/bin/env python3
"""The seed's netcat bandwidth experiment, over ssh, on the hosts you name.

On every host a server listens with netcat on the host's own address; every host then
sends 6.25 MB to another host (the list reversed), all at once. The Report and each
client's dd line show what happened.

    python3 examples/netcat_bandwidth.py host1 host2 host3 host4 [--user U] [--port P]
        [--keyfile K] [--ssh-config FILE] [--nc-port 6543]
"""

import argparse
import re

from execo import Remote, Report, logger, sleep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("hosts", nargs="+")
    parser.add_argument("--user")
    parser.add_argument("--port", type=int)
    parser.add_argument("--keyfile")
    parser.add_argument("--ssh-config", help="an OpenSSH client config file (default ~/.ssh/config)")
    parser.add_argument("--nc-port", type=int, default=6543)
    args = parser.parse_args()
    connection_params = {"user": args.user, "port": args.port, "keyfile": args.keyfile,
                         "ssh_config_file": args.ssh_config}
    hosts = args.hosts
    targets = list(reversed(hosts))
    port = args.nc_port

    servers = Remote("nc -l -s {{{host}}} -p %d > /dev/null" % port, hosts,
                     connection_params=connection_params, process_args={"timeout": 60})
    clients = Remote("{ dd if=/dev/zero bs=50000 count=125 | nc -q 0 {{targets}} %d; } 2>&1" % port, hosts,
                     connection_params=connection_params, process_args={"timeout": 60})
    servers.start()
    sleep(1)
    clients.run()
    servers.wait()

    print(Report([servers, clients]).to_string())
    for process in clients.processes:
        rate = re.search(r"copied, [\d.]+ s, ([\d.,]+ \S+)", process.stdout)
        print("%-16s -> %-16s %s" % (process.host.address, targets[clients.processes.index(process)],
                                     rate.group(1) if rate else process.stdout.strip()))
    if not (servers.ok and clients.ok):
        logger.error("some transfers failed")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
