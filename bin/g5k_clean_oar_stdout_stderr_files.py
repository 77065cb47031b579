"""g5k-clean-oar-stdout-stderr-files: remove the OAR.*.stdout and OAR.*.stderr files of your home
on every site's frontend.

    g5k-clean-oar-stdout-stderr-files [-s SITES] [--dry-run]

One line per site with the number of files removed. The frontends are reached as execo_g5k
does (ssh to <site>.grid5000.fr, see default_frontend_connection_params).
"""

from __future__ import annotations

import sys
from typing import List, Optional

from execo_bin import _g5k_common as common

# prints each file it removes; globs that match nothing stay unexpanded and fail the -e test
REMOVE = 'for f in OAR.*.stdout OAR.*.stderr; do [ -e "$f" ] && rm -f -- "$f" && echo "$f"; done; true'
LIST = 'for f in OAR.*.stdout OAR.*.stderr; do [ -e "$f" ] && echo "$f"; done; true'


def main(argv: Optional[List[str]] = None) -> int:
    p = common.parser("g5k-clean-oar-stdout-stderr-files", __doc__.split("\n\n", 1)[0],
                      epilog="exit codes: 0 done everywhere, 2 bad usage, 3 API or a frontend unreachable")
    p.add_argument("-s", "--sites", help="only these sites (comma-separated; default: all)")
    p.add_argument("--dry-run", action="store_true", help="only count the files")
    args = p.parse_args(argv)
    common.apply_common(args)

    def body() -> int:
        from execo.action_factory import get_remote
        from execo.config import make_connection_params
        from execo_g5k.api_utils import get_g5k_sites
        from execo_g5k.config import default_frontend_connection_params

        sites = common.sites_argument(args.sites) or get_g5k_sites()
        params = make_connection_params(None, default_frontend_connection_params)
        remote = get_remote(LIST if args.dry_run else REMOVE, sites, connection_params=params,
                            process_args={"nolog_exit_code": True, "nolog_error": True, "nolog_timeout": True,
                                          "timeout": 60})
        remote.run()
        failed = False
        for process, site in zip(remote.processes, sites):
            if process.ok:
                files = [l for l in process.stdout.replace("\r", "").splitlines() if l.startswith("OAR.")]
                print("%s: %d files %s" % (site, len(files), "found" if args.dry_run else "removed"))
            else:
                failed = True
                reason = process.error_reason or ("exit code %s" % process.exit_code)
                print("%s: failed (%s) %s" % (site, reason, process.stderr.strip()[:200]))
        return common.EXIT_UNREACHABLE if failed else common.EXIT_OK

    return common.run("g5k-clean-oar-stdout-stderr-files", body)


if __name__ == "__main__":
    sys.exit(main())
