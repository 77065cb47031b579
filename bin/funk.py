"""funk ("find your nodes"): when and where are the Grid'5000 nodes you want free?

    funk -m find_slots -r lille:10,lyon:10 -w 2:00:00
    funk -m max_nodes -r lyon:0,sophia:0 -w 10:00:00
    funk -m free_slot -r grid5000:50,nova:10 -w 1:00:00 -y

Modes (-m):
  find_slots  list every slot of the planning with the free nodes of the wanted elements,
              marking those where the request fits, and keep the first of them;
  free_slot   the first slot where the request fits;
  max_nodes   the slot with the most free nodes on the wanted elements (a count of 0 means
              as many as possible);
  date        whether the request fits at the date given by -s (default: now).

-r takes elements:count pairs: sites, clusters, 'grid5000' (spread over the sites) and
'kavlan' (a vlan; kavlan-global on several sites). The planning comes from the API's status
and jobs endpoints (see --api-uri). funk prints the slot, the nodes taken per element and the
oarsub command of each site; -y submits them (execo_g5k.oar.oarsub, on each site's frontend)
and prints the job ids. --gantt FILE draws the planning, --slots-picture FILE the slots (PNG,
with matplotlib).
"""

from __future__ import annotations

import sys
from typing import Any, Dict, List, Optional

from execo_bin import _g5k_common as common

MODES = ("find_slots", "free_slot", "max_nodes", "date")


def parse_resources(text: str) -> Dict[str, int]:
    """``lille:10,lyon:0,kavlan`` -> {'lille': 10, 'lyon': 0, 'kavlan': 1}; errors name the pair."""
    wanted: Dict[str, int] = {}
    for pair in text.split(","):
        pair = pair.strip()
        if not pair:
            continue
        element, _, count = pair.partition(":")
        if element == "kavlan" and not count:
            count = "1"
        try:
            number = int(count)
        except ValueError:
            raise ValueError("-r: %r is not element:count (count a number, 0 for as many as possible)" % (pair,)) \
                from None
        if number < 0:
            raise ValueError("-r: negative count in %r" % (pair,))
        wanted[element] = number
    if not wanted:
        raise ValueError("-r: no resources given")
    return wanted


def _check_elements(wanted: Dict[str, int], excluded: List[str]) -> None:
    from execo_g5k.api_utils import get_g5k_clusters, get_g5k_sites

    known = set(get_g5k_sites()) | set(get_g5k_clusters(queues=None)) | {"grid5000", "kavlan"}
    for element in list(wanted) + excluded:
        if element not in known:
            raise ValueError("unknown element %r: not a Grid'5000 site, a cluster, 'grid5000' or 'kavlan' (sites: %s)"
                             % (element, ", ".join(get_g5k_sites())))


def _format_counts(free: Dict[str, Any], elements: List[str]) -> str:
    return " ".join("%s:%s" % (e, free.get(e, 0)) for e in elements)


def main(argv: Optional[List[str]] = None) -> int:
    p = common.parser("funk", __doc__.split("\n\n", 1)[0], epilog=__doc__.split("\n\n", 2)[2] +
                      "\nexit codes: 0 slot found (and submitted with -y), 1 no slot, 2 bad usage or unknown "
                      "element,\n3 API or frontend unreachable, 4 submission failed")
    p.add_argument("-m", "--mode", choices=MODES, default="free_slot", help="what to look for (default free_slot)")
    p.add_argument("-r", "--resources", required=True, help="element:count,... e.g. lille:10,nova:4,kavlan")
    p.add_argument("-w", "--walltime", default="1:00:00", help="job duration (default 1:00:00)")
    p.add_argument("-s", "--start-date", help="planning start (default: in one minute); the date of -m date")
    p.add_argument("-e", "--end-date", help="planning end (default: 4 weeks after the start)")
    p.add_argument("-x", "--exclude", default="", help="sites, clusters or hosts not to use (comma-separated)")
    p.add_argument("-c", "--charter", action="store_true",
                   help="respect the usage charter: the day periods of weekdays count as busy")
    p.add_argument("-n", "--job-name", default="FUNK", help="name of the jobs (default FUNK)")
    p.add_argument("-t", "--job-type", action="append", default=[], help="OAR job type (repeatable), e.g. deploy")
    p.add_argument("-Q", "--queue", help="OAR queue")
    p.add_argument("-p", "--program", help="the jobs' command (default: OAR's sleep)")
    p.add_argument("-y", "--yes", action="store_true", help="submit the reservations found")
    p.add_argument("--gantt", metavar="FILE", help="draw the planning (PNG)")
    p.add_argument("--slots-picture", metavar="FILE", help="draw the free nodes per slot (PNG)")
    args = p.parse_args(argv)
    common.apply_common(args)

    def body() -> int:
        from execo.time_utils import format_date, get_seconds, get_unixts
        from execo_g5k.planning import (compute_slots, distribute_hosts, draw_gantt, draw_slots, find_free_slot,
                                        find_max_slot, get_jobs_specs, get_planning)

        wanted = parse_resources(args.resources)
        excluded = [e for e in args.exclude.split(",") if e]
        walltime = get_seconds(args.walltime)
        if not walltime or walltime <= 0:
            raise ValueError("-w: %r is not a duration" % (args.walltime,))
        _check_elements(wanted, [e for e in excluded if "." not in e and "-" not in e])
        elements = [e for e in wanted if e != "kavlan"] or ["grid5000"]
        start = get_unixts(args.start_date) if args.start_date else None
        end = get_unixts(args.end_date) if args.end_date else None
        if args.mode == "date":
            import time
            start = start if start is not None else time.time() + 60
            end = start + walltime + 1
        planning = get_planning(elements, vlan="kavlan" in wanted, out_of_chart=args.charter,
                                starttime=start, endtime=end)
        if args.gantt:
            draw_gantt(planning, outfile=args.gantt)
            print("gantt: %s" % (args.gantt,))
        slots = compute_slots(planning, walltime, excluded_elements=excluded)
        if args.slots_picture:
            draw_slots(slots, outfile=args.slots_picture)
            print("slots picture: %s" % (args.slots_picture,))
        shown = [e for e in wanted if e != "kavlan"]
        # counts of 0 mean "as many as possible": any free node satisfies them
        fitting = {e: max(n, 1) if e != "kavlan" else n for e, n in wanted.items()}
        if args.mode == "max_nodes":
            slot = find_max_slot(slots, dict(wanted))
        elif args.mode == "date":
            slot = find_free_slot(slots[:1], dict(fitting))
        else:
            if args.mode == "find_slots":
                for s in slots:
                    fits = find_free_slot([s], dict(fitting))[0] is not None
                    print("%s %s  %s%s" % ("*" if fits else " ", format_date(s[0]), _format_counts(s[2], shown),
                                           "  kavlan:%s" % (s[2]["kavlan"],) if "kavlan" in s[2] else ""))
            slot = find_free_slot(slots, dict(fitting))
        if slot[0] is None:
            print("no slot where %s fits for %s between %s and %s" % (
                args.resources, args.walltime, format_date(min(s[0] for s in slots)) if slots else "-",
                format_date(max(s[1] for s in slots)) if slots else "-"))
            return common.EXIT_FAILED
        resources = distribute_hosts(slot[2], wanted, excluded)
        specs = get_jobs_specs(resources, excluded, name=args.job_name)
        for spec, _ in specs:
            spec.walltime = walltime
            spec.reservation_date = slot[0]
            spec.job_type = list(args.job_type) or None
            spec.queue = args.queue
            spec.command = args.program
        print("slot: %s -> %s" % (format_date(slot[0]), format_date(slot[0] + walltime)))
        print("resources: %s" % (" ".join("%s:%s" % (e, n) for e, n in resources.items()),))
        from execo_g5k.oar import get_oarsub_commandline, oarsub
        for spec, site in specs:
            print("%s: %s" % (site, get_oarsub_commandline(spec)))
        if not args.yes:
            return common.EXIT_OK
        failed = False
        for result in oarsub(specs):
            if result.job_id is None:
                failed = True
                print("%s: submission failed: %s" % (result.frontend, result.error))
            else:
                print("%s: job %d submitted" % (result.frontend, result.job_id))
        return 4 if failed else common.EXIT_OK

    return common.run("funk", body)


if __name__ == "__main__":
    sys.exit(main())
