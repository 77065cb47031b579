"""Serve the Grid'5000 API stand-in until interrupted: python3 -m g5k_api_server [--port N] [--oar]."""

import argparse
import signal
import sys
import threading

from .oar_jobs import DEFAULT_OAR_API
from .reference import DEFAULT_DATA_DIR
from .server import G5kAPIStandin


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="g5k_api_server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: any free port)")
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help="reference-repository data directory")
    parser.add_argument("--api-version", default="3.0", help="version prefix shown in base_uri")
    parser.add_argument("--oar", action="store_true",
                        help="serve one site's jobs from the real OAR testbed (shared/testbed/oar-up)")
    parser.add_argument("--oar-api", default=DEFAULT_OAR_API,
                        help="OAR REST API of --oar (default %(default)s)")
    parser.add_argument("--oar-site", default="rennes", help="site backed by OAR (default %(default)s)")
    parser.add_argument("--oar-cluster", default="paravance",
                        help="cluster of OAR nodes without a cluster property (default %(default)s)")
    args = parser.parse_args(argv)
    try:
        api = G5kAPIStandin(args.data_dir, args.host, args.port, args.api_version,
                            oar_api=args.oar_api if args.oar else None, oar_site=args.oar_site,
                            oar_cluster=args.oar_cluster).start()
    except (OSError, ValueError) as e:
        print("g5k_api_server: %s" % e, file=sys.stderr)
        return 1
    print("serving the Grid'5000 API stand-in at %s (Ctrl-C to stop)" % api.base_uri, flush=True)
    for site, backend in api.state.oar_sites.items():
        print("jobs of %s from OAR at %s" % (site, backend.oar_api), flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        api.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
