#!/usr/bin/env python3
"""The seed's netcat bandwidth experiment, on nodes reserved through OAR.

Reserve nodes (or find the job of an earlier run by its name), wait for the job to start,
get its nodes, start a netcat server on each node, have each node send 6.25 MB to another
node (the list reversed), print the Report and each client's bandwidth, and release the nodes.

On Grid'5000 (from your machine, or on a frontend with --site omitted):

    python3 examples/g5k_netcat_oar.py --site rennes --nodes 4

On the OAR testbed of this project (frontend oaruser@127.0.0.1, nodes node-1..node-4):

    python3 examples/g5k_netcat_oar.py --frontend 127.0.0.1 --user oaruser \\
        --keyfile /root/.ssh/id_ed25519 --oar-timezone UTC --polling-interval 1
"""

import argparse
import datetime
import re

from execo import Host, Remote, Report, logger, sleep
from execo_g5k.config import default_oarsh_oarcp_params, g5k_configuration
from execo_g5k.oar import (OarSubmission, get_job_by_name, get_oar_job_nodes, oardel, oarsub,
                           wait_oar_job_start)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--site", help="a Grid'5000 site: its frontend is <site>.grid5000.fr")
    where.add_argument("--frontend", help="the address of an OAR frontend (not rewritten)")
    parser.add_argument("--user", help="login on the frontend and on the nodes")
    parser.add_argument("--keyfile", help="ssh key for the frontend and the nodes")
    parser.add_argument("--port", type=int, help="ssh port of the frontend and the nodes")
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--walltime", default="0:10:00")
    parser.add_argument("--job-name", default="execo-netcat", help="reused by a later run to find the job again")
    parser.add_argument("--oarsh", action="store_true",
                        help="reach the nodes with oarsh/oarcp and the job key given by --job-key")
    parser.add_argument("--job-key", help="a key file on the frontend for oarsub -k -i (and for oarsh)")
    parser.add_argument("--nc-port", type=int, default=6543)
    parser.add_argument("--oar-timezone", help="the zone OAR prints dates in (default Europe/Paris)")
    parser.add_argument("--polling-interval", type=float, help="seconds between two looks at the job")
    parser.add_argument("--keep", action="store_true", help="do not delete the job at the end")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.oar_timezone:
        g5k_configuration["oar_timezone"] = args.oar_timezone
    if args.polling_interval:
        g5k_configuration["polling_interval"] = args.polling_interval
        g5k_configuration["tiny_polling_interval"] = args.polling_interval
    if args.job_key:
        g5k_configuration["oar_job_key_file"] = args.job_key
    auth = {"user": args.user, "keyfile": args.keyfile, "port": args.port}
    if args.frontend:
        frontend = Host(args.frontend, **auth)
        frontend_params = {"host_rewrite_func": None}
    else:
        frontend = Host(args.site, **auth) if args.site else None  # None: this machine is the frontend
        frontend_params = None
    if args.oarsh:
        node_params = dict(default_oarsh_oarcp_params, keyfile=args.job_key)
    else:
        node_params = dict(auth)

    job_id = get_job_by_name(args.job_name, frontend, frontend_params)
    if job_id is not None:
        logger.info("reusing job %d (%s)", job_id, args.job_name)
    else:
        [(job_id, _)] = oarsub([(OarSubmission("nodes=%d" % args.nodes, args.walltime, name=args.job_name,
                                               job_type="allow_classic_ssh"), frontend)],
                               frontend_params, abort_on_error=True)
        logger.info("submitted job %d", job_id)
    try:
        def show(prediction: float) -> None:
            print("job %d predicted to start at %s" % (job_id, datetime.datetime.fromtimestamp(prediction)))

        if not wait_oar_job_start(job_id, frontend, frontend_params, timeout=600, prediction_callback=show):
            raise SystemExit("job %d did not start" % (job_id,))
        hosts = get_oar_job_nodes(job_id, frontend, frontend_params)
        print("job %d runs on %s" % (job_id, " ".join(h.address for h in hosts)))
        targets = [h.address for h in reversed(hosts)]
        port = args.nc_port

        servers = Remote("nc -l -s {{{host}}} -p %d > /dev/null" % port, hosts,
                         connection_params=node_params, process_args={"timeout": 60})
        clients = Remote("{ dd if=/dev/zero bs=50000 count=125 | nc -q 0 {{targets}} %d; } 2>&1" % port, hosts,
                         connection_params=node_params, process_args={"timeout": 60})
        servers.start()
        sleep(1)
        clients.run()
        servers.wait()

        print(Report([servers, clients]).to_string())
        for process, target in zip(clients.processes, targets):
            rate = re.search(r"copied, [\d.]+ s, ([\d.,]+ \S+)", process.stdout)
            print("%-16s -> %-16s %s" % (process.host.address, target, rate.group(1) if rate else process.stdout.strip()))
        if not (servers.ok and clients.ok):
            logger.error("some transfers failed")
            raise SystemExit(1)
    finally:
        if not args.keep:
            oardel([(job_id, frontend)], frontend_params)
            print("job %d deleted" % (job_id,))


if __name__ == "__main__":
    main()
