"""Serve the Grid'5000 API stand-in until interrupted: python3 -m g5k_api_server [--port N]."""

import argparse
import signal
import sys
import threading

from .reference import DEFAULT_DATA_DIR
from .server import G5kAPIStandin


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="g5k_api_server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: any free port)")
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help="reference-repository data directory")
    parser.add_argument("--api-version", default="3.0", help="version prefix shown in base_uri")
    args = parser.parse_args(argv)
    try:
        api = G5kAPIStandin(args.data_dir, args.host, args.port, args.api_version).start()
    except (OSError, ValueError) as e:
        print("g5k_api_server: %s" % e, file=sys.stderr)
        return 1
    print("serving the Grid'5000 API stand-in at %s (Ctrl-C to stop)" % api.base_uri, flush=True)
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
