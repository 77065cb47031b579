"""Planning an experiment on Grid'5000: when are enough nodes free, and which OAR jobs to submit.

The interval and slot arithmetic lives in `execo_g5k.slots` (re-exported here); this module adds
what needs the API: the planning of sites, clusters and hosts (`get_planning`, from each site's
``status`` endpoint, which lists the nodes and their state, and its ``jobs`` endpoint, which
says when they are taken), spreading wanted nodes over sites (`distribute_hosts`), writing the
OAR requests (`get_jobs_specs`, `get_hosts_jobs`), and pictures of plannings and slots
(`draw_gantt`, `draw_slots`, with matplotlib: the optional ``plot`` extra).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from math import floor
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from execo.host import Host
from execo.log import logger, style
from execo.time_utils import get_seconds, get_unixts

from .api_cache import get_connection
from .api_utils import (UnknownElement, get_cluster_site, get_g5k_clusters, get_g5k_hosts,
                        get_g5k_sites, get_host_cluster, get_host_longname, get_host_site,
                        get_site_attributes, get_site_clusters, get_site_hosts)
from .charter import french_holidays, g5k_charter_time, get_charter_el_planning, get_next_charter_period
from .oar_submission import OarSubmission
from .slots import (NON_HOST_RESOURCES, complete_planning, compute_slots, find_first_slot, find_free_slot,
                    find_max_slot, max_resources, slots_limits)

JOB_END_MARGIN = 121
"""Seconds added to a job's end: OAR needs about two minutes to give its nodes back (execo 2.8)."""


def job_interval(job: Mapping[str, Any]) -> Optional[Tuple[int, int]]:
    """(start, end) of an API job document: started_at, else scheduled_at, plus walltime and the
    release margin; None for a job not scheduled yet."""
    start = job.get("started_at") or job.get("scheduled_at")
    walltime = job.get("walltime")
    if not start or walltime is None:
        return None
    return int(start), int(start) + int(walltime) + JOB_END_MARGIN


def planning_from_jobs(hosts: Mapping[str, Mapping[str, Iterable[str]]], jobs: Iterable[Mapping[str, Any]],
                       starttime: Any, endtime: Any, ignore_besteffort: bool = True,
                       vlans: Optional[Mapping[str, Iterable[str]]] = None,
                       out_of_chart: bool = False,
                       others: Optional[Mapping[str, Mapping[str, Iterable[str]]]] = None) -> Dict[str, Any]:
    """Build a complete planning from the hosts to watch and the API's job documents.

    :param hosts: ``{site: {cluster: [host fqdn, ...]}}``: the elements of the planning (the
      nodes that are alive, as the status endpoint tells).
    :param jobs: job documents as the jobs API gives them (with ``assigned_nodes`` and
      ``resources_by_type``); jobs of the besteffort queue are skipped when ignore_besteffort.
    :param vlans: ``{site: ['kavlan-4', ...]}`` to plan vlans too (routed vlans, numbers > 3).
    :param others: ``{site: {'subnets': ['10.158.0.0/22', ...], 'storage': ['sdb.node...', ...]}}``
      to plan subnets and disks too (taken by the jobs' ``resources_by_type`` subnets and disks).
    :return: ``{site: {cluster | 'vlans': {element: {'busy': [...], 'free': [...]}}}}`` within
      [starttime, endtime].
    """
    starttime, endtime = int(get_unixts(starttime)), int(get_unixts(endtime))
    if endtime <= starttime:
        raise ValueError("planning window ends (%s) before it starts (%s)" % (endtime, starttime))
    planning: Dict[str, Any] = {}
    where: Dict[str, List] = {}
    for site, clusters in hosts.items():
        planning[site] = {}
        for cluster, cluster_hosts in clusters.items():
            planning[site][cluster] = {}
            for host in cluster_hosts:
                planning[site][cluster][host] = {"busy": [], "free": []}
                where[host] = planning[site][cluster][host]["busy"]
    for site, site_vlans in (vlans or {}).items():
        planning.setdefault(site, {})["vlans"] = {v: {"busy": [], "free": []} for v in site_vlans}
    for site, kinds in (others or {}).items():
        for kind, elements in kinds.items():
            planning.setdefault(site, {})[kind] = {e: {"busy": [], "free": []} for e in elements}
            for element in elements:
                where[element] = planning[site][kind][element]["busy"]
    for job in jobs:
        if ignore_besteffort and job.get("queue") == "besteffort":
            continue
        interval = job_interval(job)
        if interval is None:
            logger.detail("job %s is not scheduled: left out of the planning", job.get("uid"))
            continue
        for node in job.get("assigned_nodes", ()):
            if node in where:
                where[node].append(interval)
        by_type = job.get("resources_by_type") or {}
        for element in list(by_type.get("subnets") or ()) + list(by_type.get("disks") or ()):
            if element in where:
                where[element].append(interval)
        job_vlans = by_type.get("vlans") or ()
        for site_planning in planning.values():
            for vlan in job_vlans:
                name = "kavlan-%s" % vlan
                if name in site_planning.get("vlans", {}):
                    site_planning["vlans"][name]["busy"].append(interval)
    return complete_planning(planning, starttime, endtime, out_of_chart)


def _sorted_hosts(hosts: Iterable[str]) -> List[str]:
    def key(h):
        short = h.split(".")[0]
        cluster, _, number = short.rpartition("-")
        return (cluster, int(number) if number.isdigit() else 0, h)
    return sorted(hosts, key=key)


def get_jobs_specs(resources: Mapping[str, Any], excluded_elements: Optional[Iterable[str]] = None,
                   name: Optional[str] = None) -> List[Tuple[OarSubmission, str]]:
    """One OAR submission per site for the wanted resources, e.g. ``{'lyon': 10, 'paravance': 4,
    'dahu-3.grenoble.grid5000.fr': 1, 'kavlan': ...}``.

    Explicit hosts become ``{host IN (...)}/nodes=n``, clusters ``{cluster='c'}/nodes=n``, sites
    ``nodes=n``; excluded hosts and clusters become ``host NOT IN``/``cluster NOT IN`` constraints;
    'kavlan' adds a ``{type='kavlan'}/vlan=1`` (``kavlan-global`` when several sites are used, on
    the first site listed in ``resources['kavlan']``).

    :return: ``[(OarSubmission(resources=..., name=name), site), ...]`` in the order the sites
      first appear in ``resources``.
    """
    excluded = set(excluded_elements or ())
    all_sites = set(get_g5k_sites())
    all_clusters = set(get_g5k_clusters(queues=None))
    all_hosts = {get_host_longname(h) for h in get_g5k_hosts(queues=None)}
    sites: List[str] = []
    for element in resources:
        if element in excluded or element == "kavlan":
            continue
        if element in all_sites:
            site = element
        elif element in all_clusters:
            site = get_cluster_site(element)
        elif element in all_hosts:
            site = get_host_site(element)
        else:
            raise ValueError("get_jobs_specs: %r is neither a site, a cluster, a host long name nor "
                             "'kavlan'" % (element,))
        if site not in sites and site not in excluded:
            sites.append(site)
    kavlan = None
    if "kavlan" in resources:
        kavlan = "kavlan-global" if len(sites) > 1 else "kavlan"

    specs = []
    for site in sites:
        site_hosts = {get_host_longname(h) for h in get_site_hosts(site, queues=None)}
        site_clusters = get_site_clusters(site, queues=None)
        constraints = []
        excluded_hosts = _sorted_hosts(site_hosts & excluded)
        if excluded_hosts:
            constraints.append("host NOT IN (%s)" % ", ".join("'%s'" % h for h in excluded_hosts))
        excluded_clusters = [c for c in site_clusters if c in excluded]
        cluster_constraints = ["cluster NOT IN (%s)" % ", ".join("'%s'" % c for c in excluded_clusters)] \
            if excluded_clusters else []
        rdefs = []
        explicit = _sorted_hosts(h for h in site_hosts & set(resources)
                                 if h not in excluded and get_host_cluster(h) not in excluded)
        if explicit:
            rdefs.append("{host IN (%s)}/nodes=%d" % (", ".join("'%s'" % h for h in explicit), len(explicit)))
        for cluster in site_clusters:
            if cluster in resources and cluster not in excluded and resources[cluster] > 0:
                rdefs.append("{%s}/nodes=%d" % (" AND ".join(["cluster='%s'" % cluster] + constraints),
                                                resources[cluster]))
        if resources.get(site, 0) > 0:
            site_constraints = constraints + cluster_constraints
            prefix = "{%s}/" % " AND ".join(site_constraints) if site_constraints else ""
            rdefs.append("%snodes=%d" % (prefix, resources[site]))
        if kavlan and (kavlan == "kavlan" or site in (resources["kavlan"] or ())):
            rdefs.append("{type='%s'}/vlan=1" % kavlan)
            kavlan = None
        if rdefs:
            specs.append((OarSubmission(resources="+".join(rdefs), name=name), site))
    return specs


def distribute_hosts(resources_available: Mapping[str, Any], resources_wanted: Mapping[str, Any],
                     excluded_elements: Optional[Iterable[str]] = None,
                     ratio: Optional[float] = None) -> Dict[str, Any]:
    """Decide how many nodes to take on each cluster and site.

    :param resources_available: free nodes per element, as in a slot (``slot[2]``).
    :param resources_wanted: ``{element: n}``; 0 means "all that is free". Clusters are served
      first, then sites, then 'grid5000' nodes are spread round-robin over the sites with free
      nodes left.
    :param excluded_elements: sites or clusters not to use.
    :param ratio: keep only this fraction (0..1) of each count.
    :return: ``{cluster: n, site: n, ..., 'kavlan': ...}``. ``resources_available`` is not modified.
    :raise ValueError: when more 'grid5000' nodes are wanted than are free.
    """
    excluded = set(excluded_elements or ())
    available = dict(resources_available)
    all_sites = set(get_g5k_sites())
    all_clusters = set(get_g5k_clusters(queues=None))

    def take(element: str, n: int) -> None:
        for key in (element, "grid5000"):
            if key in available:
                available[key] -= n

    resources: Dict[str, Any] = {}
    for element, n in resources_wanted.items():
        if element in all_clusters and element not in excluded:
            nodes = n if n > 0 else available.get(element, 0)
            resources[element] = nodes
            available[element] = available.get(element, 0) - nodes
            take(get_cluster_site(element), nodes)
    for element in excluded & all_clusters:
        lost = available.get(element, 0)
        if lost:
            available[element] = 0
            take(get_cluster_site(element), lost)
    for element in excluded & all_sites:
        take(element, available.get(element, 0))
        available[element] = 0
    for element, n in resources_wanted.items():
        if element in all_sites and element not in excluded:
            nodes = n if n > 0 else max(0, available.get(element, 0))
            resources[element] = nodes
            take(element, nodes)
    if "grid5000" in resources_wanted:
        wanted = resources_wanted["grid5000"]
        total = wanted if wanted > 0 else max(0, available.get("grid5000", 0))
        sites = [s for s in available if s in all_sites and s not in excluded and available[s] > 0]
        placed = 0
        while placed < total and sites:
            for site in list(sites):
                if placed == total:
                    break
                if available[site] <= 0:
                    sites.remove(site)
                    continue
                available[site] -= 1
                resources[site] = resources.get(site, 0) + 1
                placed += 1
        if placed < total:
            raise ValueError("distribute_hosts: %d grid5000 nodes wanted, only %d free once the "
                             "clusters and sites wanted are served" % (total, placed))
    if "kavlan" in resources_wanted:
        resources["kavlan"] = resources_available.get("kavlan")
    if ratio is not None:
        resources = {k: int(floor(v * ratio)) if isinstance(v, int) and not isinstance(v, bool) else v
                     for k, v in resources.items()}
    logger.debug("distribute_hosts: %s", resources)
    return resources


def show_resources(resources: Mapping[str, Any], msg: str = "Resources",
                   max_resources: Optional[Mapping[str, Any]] = None, queues: Any = "default") -> None:
    """Log (INFO) the resources per site and cluster, with ``/max`` when max_resources is given."""
    max_resources = max_resources or {}

    def count(element: str) -> str:
        text = str(resources[element])
        if element in max_resources:
            text += "/" + str(max_resources[element])
        return text

    lines = [style.log_header(msg)]
    total = 0
    for site in get_g5k_sites():
        clusters = [c for c in get_site_clusters(site, queues=queues) if c in resources]
        if site not in resources and not clusters:
            continue
        line = style.log_header(site).ljust(20) + " "
        if site in resources:
            line += count(site) + " "
        for cluster in clusters:
            line += "%s: %s " % (style.emph(cluster), count(cluster))
            total += resources[cluster]
        lines.append(line.rstrip())
    if "grid5000" in resources:
        lines.append(style.log_header("Grid5000").ljust(20) + count("grid5000"))
    elif total > 0:
        lines.append(style.log_header("Total ").ljust(20) + str(total))
    logger.info("\n".join(lines))



# -- the planning, from the API ------------------------------------------------------------------
ACTIVE_JOB_STATES = "waiting,launching,running"
"""The jobs that take nodes now or later (the jobs API's ``state`` filter)."""

PLANNING_WEEKS = 4
_JOBS_PAGE = 500  # the API's maximum page size


def _resolve_elements(elements: Iterable[Any]) -> Tuple[List[str], Set[str]]:
    """The sites to ask about, and the names (sites, clusters, host long names) to keep."""
    elements = [e.address if isinstance(e, Host) else e for e in elements]
    all_sites = get_g5k_sites()
    if "grid5000" in elements:
        return list(all_sites), set(all_sites)
    all_clusters = set(get_g5k_clusters(queues=None))
    sites: List[str] = []
    keep: Set[str] = set()
    for element in elements:
        if element in all_sites:
            site = element
        elif element in all_clusters:
            site = get_cluster_site(element)
        else:
            longname = get_host_longname(element) if isinstance(element, str) else None
            site = get_host_site(longname) if longname else None
            if site is None or get_host_cluster(longname) not in all_clusters \
                    or longname.partition(".")[0] not in set(get_g5k_hosts(queues=None)):
                raise UnknownElement("element (site, cluster or host)", element, ["grid5000"] + list(all_sites))
            element = longname
        keep.add(element)
        if site not in sites:
            sites.append(site)
    return sites, keep


def _site_vlans(site: str) -> List[str]:
    """The routed kavlans of a site (numbers above 3: 4-9 local routed, 10+ global)."""
    numbers = sorted(int(k) for k in (get_site_attributes(site).get("kavlans") or {}) if str(k).isdigit())
    return ["kavlan-%d" % n for n in numbers if n > 3]


def get_site_jobs(site: str, state: str = ACTIVE_JOB_STATES, **filters: Any) -> List[Dict[str, Any]]:
    """The site's jobs as the jobs API lists them, with their nodes (``resources=yes``), every page.

    :param filters: more query parameters (``name``, ``user``, ``queue``, ``project``).
    """
    api = get_connection()
    params = dict(filters, state=state, resources="yes", limit=str(_JOBS_PAGE))
    jobs: List[Dict[str, Any]] = []
    offset = 0
    while True:
        params["offset"] = str(offset)
        doc = api.get_json("sites/%s/jobs" % (site,), params)
        items = doc.get("items") or []
        jobs.extend(items)
        offset += len(items)
        if not items or offset >= int(doc.get("total", 0)):
            return jobs


def _site_planning_inputs(site: str, queues: Any, subnet: bool, storage: bool):
    """(hosts by cluster, jobs, others) of one site, from its status and jobs endpoints."""
    status = get_connection().get_json("sites/%s/status" % (site,), {
        "disks": "yes" if storage else "no", "subnets": "yes" if subnet else "no", "job_details": "no"})
    clusters = set(get_site_clusters(site, queues=queues))
    hosts: Dict[str, List[str]] = {}
    for fqdn, node in sorted((status.get("nodes") or {}).items()):
        cluster = get_host_cluster(fqdn)
        if cluster in clusters and node.get("hard") != "dead":
            hosts.setdefault(cluster, []).append(fqdn)
    others: Dict[str, List[str]] = {}
    if subnet:
        others["subnets"] = sorted(status.get("subnets") or {})
    if storage:
        others["storage"] = sorted(status.get("disks") or {})
    return hosts, get_site_jobs(site), others


def get_planning(elements: Iterable[Any] = ("grid5000",), vlan: bool = False, subnet: bool = False,
                 storage: bool = False, out_of_chart: bool = False, starttime: Any = None, endtime: Any = None,
                 ignore_besteffort: bool = True, queues: Any = "default") -> Dict[str, Any]:
    """The busy and free periods of Grid'5000 elements, from the API's status and jobs endpoints.

    :param elements: 'grid5000', sites, clusters or hosts; the planning holds the hosts they
      designate (the nodes the status endpoint lists, dead ones excepted).
    :param vlan: also plan the routed kavlans of the sites (``'vlans': {'kavlan-4': ...}``).
    :param subnet: also plan the subnets (``'subnets'``); ``storage``: the disks (``'storage'``).
    :param out_of_chart: the charter periods (weekdays 9:00-19:00) count as busy.
    :param starttime: window start (default: in one minute); ``endtime`` (default: 4 weeks later).
    :param ignore_besteffort: besteffort jobs do not make nodes busy.
    :param queues: the queues whose clusters are planned ('default'; None or 'all': any).
    :return: ``{site: {cluster | 'vlans' | 'subnets' | 'storage': {element: {'busy': [(start,
      end), ...], 'free': [...]}}}}``. The sites are asked in parallel.
    :raise UnknownElement: for an element that is no site, cluster or host (execo 2.8 logged
      an error and returned None).
    """
    starttime = int(get_unixts(starttime)) if starttime is not None else int(time.time() + 60)
    endtime = int(get_unixts(endtime)) if endtime is not None else starttime + PLANNING_WEEKS * 7 * 86400 + 60
    if queues == "all":
        queues = None
    sites, keep = _resolve_elements(elements)
    with ThreadPoolExecutor(max_workers=max(1, min(len(sites), 16)), thread_name_prefix="g5k-planning") as pool:
        inputs = dict(zip(sites, pool.map(lambda s: _site_planning_inputs(s, queues, subnet, storage), sites)))
    hosts = {}
    for site, (site_hosts, _, _) in inputs.items():
        hosts[site] = {cluster: [h for h in cluster_hosts
                                 if site in keep or cluster in keep or h in keep]
                       for cluster, cluster_hosts in site_hosts.items()}
        hosts[site] = {c: h for c, h in hosts[site].items() if h}
    jobs = [job for _, site_jobs, _ in inputs.values() for job in site_jobs]
    vlans = {site: _site_vlans(site) for site in sites} if vlan else None
    others = {site: site_others for site, (_, _, site_others) in inputs.items() if site_others}
    return planning_from_jobs(hosts, jobs, starttime, endtime, ignore_besteffort, vlans, out_of_chart, others)


def get_hosts_jobs(hosts: Iterable[Any], walltime: Any, out_of_chart: bool = False) -> List[Tuple[OarSubmission, str]]:
    """OAR reservations for the given hosts at the first date when all are free for ``walltime``.

    :return: one ``(OarSubmission(resources="{host IN ('a', ...)}/nodes=n", walltime=...,
      reservation_date=start), site)`` per site.
    :raise ValueError: when the hosts are never all free together within the planning window
      (4 weeks); execo 2.8 failed with a NameError then.
    """
    longnames = []
    for host in hosts:
        longname = get_host_longname(host)
        if longname is None:
            raise UnknownElement("host", host.address if isinstance(host, Host) else host)
        longnames.append(longname)
    seconds = get_seconds(walltime)
    planning = get_planning(elements=longnames, out_of_chart=out_of_chart)
    missing = set(longnames) - {h for site_pl in planning.values() for cluster, hosts_pl in site_pl.items()
                                if cluster not in NON_HOST_RESOURCES for h in hosts_pl}
    if missing:
        raise ValueError("get_hosts_jobs: hosts unknown to the status API or dead: %s" % ", ".join(sorted(missing)))
    start = None
    for slot in compute_slots(planning, seconds, include_hosts=True):
        if all(slot[2].get(h) == 1 for h in longnames):
            start = slot[0]
            break
    if start is None:
        raise ValueError("get_hosts_jobs: %s are never all free for %s within the planning window"
                         % (", ".join(sorted(set(longnames))), walltime))
    specs = []
    for site in planning:
        site_hosts = _sorted_hosts({h for h in longnames if get_host_site(h) == site})
        resources = "{host IN (%s)}/nodes=%d" % (", ".join("'%s'" % h for h in site_hosts), len(site_hosts))
        specs.append((OarSubmission(resources=resources, walltime=seconds, reservation_date=start), site))
    return specs


def get_api_job_by_name(job_name: str, sites: Optional[Iterable[str]] = None,
                        user: Any = False) -> Tuple[Optional[int], Optional[str]]:
    """``(job uid, site)`` of a waiting or running job with this name, from the jobs API, or
    ``(None, None)``. The sites are asked in parallel.

    :param user: only this user's jobs; False (default) means ``g5k_configuration['api_username']``
      when set, else any user; None means any user.

    The OAR-based ``execo_g5k.oar.get_job_by_name`` asks oarstat on the frontends instead.
    """
    from .config import g5k_configuration

    if user is False:
        user = g5k_configuration.get("api_username")
    sites = list(sites) if sites is not None else get_g5k_sites()
    filters = {"name": job_name}
    if user:
        filters["user"] = user

    def find(site: str):
        jobs = [j for j in get_site_jobs(site, **filters) if j.get("name") == job_name]
        return (int(jobs[0]["uid"]), site) if jobs else None

    with ThreadPoolExecutor(max_workers=max(1, min(len(sites), 16)), thread_name_prefix="g5k-jobs") as pool:
        for found in pool.map(find, sites):
            if found:
                return found
    return None, None


# -- pictures (matplotlib, the optional 'plot' extra) ---------------------------------------------
def _pyplot(show: bool):
    try:
        import matplotlib
        if not show:
            matplotlib.use("Agg", force=False)
        import matplotlib.dates as mdates
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("draw_gantt and draw_slots need matplotlib: pip install 'execo[plot]'") from None
    return plt, mdates


def _default_colors(names: Iterable[str]) -> Dict[str, Any]:
    import matplotlib

    cmap = matplotlib.colormaps.get_cmap("tab20") if hasattr(matplotlib, "colormaps") \
        else matplotlib.cm.get_cmap("tab20")
    return {name: cmap(i % 20) for i, name in enumerate(sorted(names))}


def _output(fig, plt, prefix: str, show: bool, save: bool, outfile: Optional[str]) -> Optional[str]:
    path = None
    if save:
        path = outfile or "%s_%s.png" % (prefix, time.strftime("%Y%m%d_%H%M%S"))
        fig.savefig(path, dpi=100)
        logger.info("%s written to %s", prefix, style.emph(path))
    if show:
        plt.show()
    plt.close(fig)
    return path


def draw_gantt(planning: Dict[str, Any], colors: Optional[Mapping[str, Any]] = None, show: bool = False,
               save: bool = True, outfile: Optional[str] = None) -> Optional[str]:
    """A Gantt chart of a planning: one line per host (or vlan, subnet, disk), its busy periods
    drawn in its cluster's colour. Saved as PNG (``outfile``, default ``gantt_<date>.png``) and/or
    shown; returns the file written, if any."""
    plt, mdates = _pyplot(show)
    rows = []  # (label, group, busy)
    for site in sorted(planning):
        for resource in sorted(planning[site]):
            for element in _sorted_hosts(planning[site][resource]):
                rows.append((element.split(".")[0], resource, planning[site][resource][element]["busy"]))
    colors = dict(colors or _default_colors({r[1] for r in rows}))
    dates = [d for _, _, busy in rows for interval in busy for d in interval] + \
            [d for site_pl in planning.values() for res in site_pl.values() for el in res.values()
             for interval in el["free"] for d in interval]
    height = max(3.0, min(0.12 * len(rows) + 1.5, 60.0))
    fig, ax = plt.subplots(figsize=(14, height))
    to_num = lambda ts: mdates.date2num(_datetime(ts))  # noqa: E731
    for y, (label, group, busy) in enumerate(rows):
        spans = [(to_num(s), to_num(e) - to_num(s)) for s, e in busy]
        if spans:
            ax.broken_barh(spans, (y - 0.4, 0.8), facecolors=colors.get(group, "tab:gray"))
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([r[0] for r in rows], fontsize=6 if len(rows) > 40 else 8)
    ax.set_ylim(-1, max(len(rows), 1))
    if dates:
        ax.set_xlim(to_num(min(dates)), to_num(max(dates)))
    ax.xaxis_date()
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M"))
    ax.invert_yaxis()
    ax.set_title("Grid'5000 planning (busy periods)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colors[g]) for g in sorted(colors) if any(r[1] == g for r in rows)]
    if handles:
        ax.legend(handles, [g for g in sorted(colors) if any(r[1] == g for r in rows)], loc="upper right",
                  fontsize=7)
    fig.autofmt_xdate()
    fig.tight_layout()
    return _output(fig, plt, "gantt", show, save, outfile)


def draw_slots(slots: Sequence[list], colors: Optional[Mapping[str, Any]] = None, show: bool = False,
               save: bool = True, outfile: Optional[str] = None) -> Optional[str]:
    """How many nodes are free at each slot start, per site and cluster ('grid5000' in black).
    Saved as PNG (``outfile``, default ``slots_<date>.png``) and/or shown; returns the file
    written, if any."""
    plt, mdates = _pyplot(show)
    elements = sorted({e for slot in slots for e, n in slot[2].items()
                       if isinstance(n, int) and not isinstance(n, bool) and e != "kavlan" and "." not in e})
    if colors is None:
        colors = dict(_default_colors(e for e in elements if e != "grid5000"), grid5000="black")
    fig, ax = plt.subplots(figsize=(14, 6))
    starts = [mdates.date2num(_datetime(slot[0])) for slot in slots]
    for element in elements:
        counts = [slot[2].get(element, 0) for slot in slots]
        ax.step(starts, counts, where="post", label=element, color=colors.get(element),
                linewidth=2.5 if element == "grid5000" else 1.2)
    ax.xaxis_date()
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M"))
    ax.set_ylabel("free nodes for the whole walltime")
    ax.set_title("Free nodes per slot")
    if elements:
        ax.legend(loc="upper left", fontsize=7, ncol=2)
    fig.autofmt_xdate()
    fig.tight_layout()
    return _output(fig, plt, "slots", show, save, outfile)


def _datetime(ts: float):
    import datetime

    return datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc)

__all__ = [
    "ACTIVE_JOB_STATES", "draw_gantt", "draw_slots", "get_api_job_by_name", "get_hosts_jobs", "get_planning",
    "get_site_jobs", "JOB_END_MARGIN", "NON_HOST_RESOURCES", "OarSubmission", "complete_planning", "compute_slots",
    "distribute_hosts", "find_first_slot", "find_free_slot", "find_max_slot", "french_holidays",
    "g5k_charter_time", "get_charter_el_planning", "get_jobs_specs", "get_next_charter_period",
    "job_interval", "max_resources", "planning_from_jobs", "show_resources", "slots_limits",
]
