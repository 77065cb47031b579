"""g5k-clean-all-jobs: delete your OAR jobs on every site (oarstat -u, then oardel, on each frontend).

    g5k-clean-all-jobs [-f] [-s SITES] [-n PREFIX] [--dry-run]

With -f, deletes again until no job is left (deleted jobs take a few seconds to go), giving up
after --timeout seconds. The sites' frontends are reached as execo_g5k does (ssh to
<site>.grid5000.fr, see default_frontend_connection_params); the site list comes from the API.
"""

from __future__ import annotations

import sys
import time
from typing import List, Optional

from execo_bin import _g5k_common as common


def main(argv: Optional[List[str]] = None) -> int:
    p = common.parser("g5k-clean-all-jobs", __doc__.split("\n\n", 1)[0],
                      epilog="exit codes: 0 no job left, 1 jobs left, 2 bad usage, 3 API or a frontend unreachable")
    p.add_argument("-f", "--force", action="store_true", help="repeat until no job is left")
    p.add_argument("-s", "--sites", help="only these sites (comma-separated; default: all)")
    p.add_argument("-n", "--name-prefix", help="only jobs whose name starts with this prefix")
    p.add_argument("--dry-run", action="store_true", help="only list the jobs that would be deleted")
    p.add_argument("--timeout", type=float, default=120.0, help="with -f, give up after this many seconds (120)")
    args = p.parse_args(argv)
    common.apply_common(args)

    def job_name(job_id, site):
        from execo_g5k.oar import OarJobNotFound, get_oar_job_info

        try:
            return get_oar_job_info(job_id, site, nolog_error=True).get("name") or ""
        except OarJobNotFound:  # ended since oarstat -u listed it
            return None

    def jobs_to_delete(sites):
        from execo_g5k.oar import get_current_oar_jobs

        jobs = get_current_oar_jobs(frontends=sites, abort_on_error=True)
        if args.name_prefix:
            jobs = [(job_id, site) for job_id, site in jobs
                    if (job_name(job_id, site) or "").startswith(args.name_prefix)]
        return jobs

    def body() -> int:
        from execo_g5k.api_utils import get_g5k_sites
        from execo_g5k.oar import oardel

        sites = common.sites_argument(args.sites) or get_g5k_sites()
        deadline = time.time() + args.timeout
        deleted = set()
        while True:
            jobs = jobs_to_delete(sites)
            if args.dry_run:
                for job_id, site in jobs:
                    print("%s: %s (would be deleted)" % (site, job_id))
                return common.EXIT_OK
            new = [j for j in jobs if j not in deleted]
            if new:
                oardel(new)
                for job_id, site in new:
                    print("%s: %s deleted" % (site, job_id))
                deleted.update(new)
            if not args.force:
                return common.EXIT_OK
            if not jobs:
                print("no job left")
                return common.EXIT_OK
            if time.time() > deadline:
                print("jobs still there after %gs: %s" % (args.timeout, " ".join("%s:%s" % (s, j) for j, s in jobs)))
                return common.EXIT_FAILED
            time.sleep(2)
            deleted.clear()  # still listed: delete them again

    return common.run("g5k-clean-all-jobs", body)


if __name__ == "__main__":
    sys.exit(main())
