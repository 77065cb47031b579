"""Planning an experiment on Grid'5000: when are enough nodes free, and which OAR jobs to submit.

The interval and slot arithmetic lives in `execo_g5k.slots` (re-exported here); this module adds
what needs the reference API: building a planning from job documents, spreading wanted nodes
over sites (`distribute_hosts`) and writing the OAR requests (`get_jobs_specs`).
"""

from __future__ import annotations

from math import floor
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from execo.log import logger, style
from execo.time_utils import get_unixts

from .api_utils import (get_cluster_site, get_g5k_clusters, get_g5k_hosts, get_g5k_sites, get_host_cluster,
                        get_host_longname, get_host_site, get_site_clusters, get_site_hosts)
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
                       out_of_chart: bool = False) -> Dict[str, Any]:
    """Build a complete planning from the hosts to watch and the API's job documents.

    :param hosts: ``{site: {cluster: [host fqdn, ...]}}``: the elements of the planning (the
      nodes that are alive, as the status endpoint tells).
    :param jobs: job documents as the jobs API gives them (with ``assigned_nodes`` and
      ``resources_by_type``); jobs of the besteffort queue are skipped when ignore_besteffort.
    :param vlans: ``{site: ['kavlan-4', ...]}`` to plan vlans too (routed vlans, numbers > 3).
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
        job_vlans = (job.get("resources_by_type") or {}).get("vlans") or ()
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


__all__ = [
    "JOB_END_MARGIN", "NON_HOST_RESOURCES", "OarSubmission", "complete_planning", "compute_slots",
    "distribute_hosts", "find_first_slot", "find_free_slot", "find_max_slot", "french_holidays",
    "g5k_charter_time", "get_charter_el_planning", "get_jobs_specs", "get_next_charter_period",
    "job_interval", "max_resources", "planning_from_jobs", "show_resources", "slots_limits",
]
