"""g5k-show-all-jobs: the waiting and running jobs of every site (from the API's jobs endpoint).

    g5k-show-all-jobs [-s SITES] [-u USER | -a] [--state STATES]

One line per job: site, id, user, state, queue, start (or planned start), walltime, name and
node count. By default only the jobs of g5k_configuration['api_username'] (all users when it is
not set, as from inside Grid'5000); -a shows every user's.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from typing import List, Optional

from execo_bin import _g5k_common as common


def main(argv: Optional[List[str]] = None) -> int:
    p = common.parser("g5k-show-all-jobs", __doc__.split("\n\n", 1)[0],
                      epilog="exit codes: 0 jobs shown, 1 no job, 2 bad usage, 3 API unreachable")
    p.add_argument("-s", "--sites", help="only these sites (comma-separated; default: all)")
    who = p.add_mutually_exclusive_group()
    who.add_argument("-u", "--user", help="only this user's jobs")
    who.add_argument("-a", "--all-users", action="store_true", help="every user's jobs")
    p.add_argument("--state", default="waiting,launching,running",
                   help="job states (comma-separated; default: waiting,launching,running)")
    args = p.parse_args(argv)
    common.apply_common(args)

    def body() -> int:
        from execo.time_utils import format_date, format_seconds
        from execo_g5k.api_utils import get_g5k_sites
        from execo_g5k.config import g5k_configuration
        from execo_g5k.planning import get_site_jobs

        sites = common.sites_argument(args.sites) or get_g5k_sites()
        user = None if args.all_users else (args.user or g5k_configuration.get("api_username"))
        filters = {"user": user} if user else {}
        with ThreadPoolExecutor(max_workers=min(16, len(sites)) or 1) as pool:
            per_site = list(pool.map(lambda s: get_site_jobs(s, state=args.state, **filters), sites))
        rows = []
        for site, jobs in zip(sites, per_site):
            for job in sorted(jobs, key=lambda j: int(j["uid"])):
                start = job.get("started_at") or job.get("scheduled_at")
                rows.append((site, str(job["uid"]), job.get("user", "?"), job.get("state", "?"),
                             job.get("queue", "?"), format_date(start) if start else "-",
                             format_seconds(job.get("walltime")) if job.get("walltime") is not None else "-",
                             job.get("name") or "-", str(len(job.get("assigned_nodes") or ()))))
        if not rows:
            print("no job")
            return common.EXIT_FAILED
        header = ("site", "job", "user", "state", "queue", "start", "walltime", "name", "nodes")
        widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
        for row in [header] + rows:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        return common.EXIT_OK

    return common.run("g5k-show-all-jobs", body)


if __name__ == "__main__":
    sys.exit(main())
