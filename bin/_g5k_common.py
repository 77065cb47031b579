"""What the Grid'5000 command-line tools share: the API option, logging, and exit codes.

Exit codes: 0 success, 1 nothing found or some of the work failed, 2 bad usage (argparse's),
3 the API or a frontend could not be used, 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable, List, Optional

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def parser(prog: str, description: str, epilog: Optional[str] = None) -> argparse.ArgumentParser:
    """An argument parser with the options every tool has: --api-uri, -v, -q."""
    p = argparse.ArgumentParser(prog=prog, description=description, epilog=epilog,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--api-uri", metavar="URI",
                   help="Grid'5000 API base URI (default: g5k_configuration['api_uri'], "
                        "https://api.grid5000.fr/3.0/ unless ~/.execo.conf.py says otherwise)")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log messages (repeatable)")
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    return p


def apply_common(args: argparse.Namespace) -> None:
    from execo.log import logger
    from execo_g5k.config import g5k_configuration

    if args.api_uri:
        g5k_configuration["api_uri"] = args.api_uri
    if args.quiet:
        logger.setLevel(logging.WARNING)
    elif args.verbose >= 2:
        logger.setLevel(logging.DEBUG)
    elif args.verbose == 1:
        logger.setLevel(15)  # DETAIL


def run(prog: str, body: Callable[[], int]) -> int:
    """Run a tool's body; turn the errors users meet into a message and an exit code."""
    from execo.exceptions import ProcessesFailed
    from execo_g5k.api_connection import APIException

    try:
        return body()
    except APIException as e:
        sys.stderr.write("%s: the Grid'5000 API cannot be used: %s\n" % (prog, e))
        return EXIT_UNREACHABLE
    except ProcessesFailed as e:
        sys.stderr.write("%s: %s\n" % (prog, e))
        return EXIT_UNREACHABLE
    except (ValueError, KeyError) as e:
        message = str(e) if isinstance(e, ValueError) or not e.args else e.args[0]
        sys.stderr.write("%s: %s\n" % (prog, message))
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("%s: interrupted\n" % (prog,))
        return EXIT_INTERRUPTED


def sites_argument(value: Optional[str]) -> Optional[List[str]]:
    """``-s lyon,rennes`` -> ['lyon', 'rennes'], each checked against the reference."""
    if not value:
        return None
    from execo_g5k.api_utils import UnknownElement, get_g5k_sites

    sites = [s for s in value.split(",") if s]
    known = get_g5k_sites()
    for site in sites:
        if site not in known:
            raise UnknownElement("site", site, known)
    return sites
