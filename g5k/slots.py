"""Planning arithmetic: busy/free intervals of each resource, and the slots where enough are free.

A planning is ``{site: {cluster | 'vlans' | 'subnets' | 'storage': {element: {'busy': [(start,
end), ...], 'free': [(start, end), ...]}}}}`` with unix timestamps; elements are host names
under a cluster, ``kavlan-N`` under 'vlans'. A slot is ``[start, start + walltime, free]`` where
``free`` counts the hosts free for the whole walltime per element: ``{'grid5000': n, site: n,
cluster: n, 'kavlan': ...}``.

These functions only compute: no API request, except `find_free_slot` which asks the (cached)
reference for the site of the clusters it is given.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from execo.time_utils import get_seconds

from .api_utils import get_cluster_site
from .charter import get_charter_el_planning

NON_HOST_RESOURCES = ("vlans", "subnets", "storage")
"""Keys of a site planning that are not clusters."""

Interval = Tuple[int, int]
NO_SLOT = (None, None, None)


# -- intervals -------------------------------------------------------------------------------
def merge_intervals(intervals: Iterable[Sequence[float]]) -> List[Interval]:
    """Sorted intervals, overlapping or touching ones merged into one."""
    merged: List[List[float]] = []
    for start, end in sorted(tuple(i) for i in intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


def truncate_intervals(intervals: Iterable[Sequence[float]], starttime: float, endtime: float) -> List[Interval]:
    """The parts of sorted intervals that lie within [starttime, endtime]."""
    return [(max(s, starttime), min(e, endtime)) for s, e in intervals if e >= starttime and s <= endtime]


def free_intervals(busy: Sequence[Interval], starttime: float, endtime: float) -> List[Interval]:
    """The gaps between merged busy intervals, within [starttime, endtime]."""
    free = []
    cursor = starttime
    for start, end in busy:
        if start > cursor:
            free.append((cursor, start))
        cursor = max(cursor, end)
    if cursor < endtime:
        free.append((cursor, endtime))
    return free


def _elements(planning: Dict[str, Dict[str, Dict[str, Any]]]):
    for site, site_planning in planning.items():
        for resource, elements in site_planning.items():
            for element, el_planning in elements.items():
                yield site, resource, element, el_planning


def complete_planning(planning: Dict[str, Any], starttime: float, endtime: float,
                      out_of_chart: bool = False) -> Dict[str, Any]:
    """Normalise every element's busy list (sorted, merged, clipped to the window) and compute
    its free list; with ``out_of_chart``, the charter periods count as busy. Works in place and
    returns the planning."""
    charter = get_charter_el_planning(starttime, endtime) if out_of_chart else []
    for _, _, _, el_planning in _elements(planning):
        busy = merge_intervals(list(el_planning.get("busy", [])) + charter)
        el_planning["busy"] = truncate_intervals(busy, starttime, endtime)
        el_planning["free"] = free_intervals(el_planning["busy"], starttime, endtime)
    return planning


def slots_limits(planning: Dict[str, Any]) -> List[float]:
    """Every date where some element changes state, sorted, without the last one (the window's end)."""
    limits = set()
    for _, _, _, el_planning in _elements(planning):
        for start, end in list(el_planning["busy"]) + list(el_planning["free"]):
            limits.add(start)
            limits.add(end)
    return sorted(limits)[:-1]


# -- slots -----------------------------------------------------------------------------------
def _without_excluded(planning: Dict[str, Any], excluded: Iterable[str]) -> Dict[str, Any]:
    """A view of the planning without excluded sites, clusters, hosts or vlans (the input is not
    modified, unlike in execo 2.8)."""
    excluded = set(excluded)
    return {site: {res: {el: pl for el, pl in elements.items() if el not in excluded}
                   for res, elements in site_pl.items() if res not in excluded}
            for site, site_pl in planning.items() if site not in excluded}


def _is_free(el_planning: Dict[str, Any], start: float, end: float) -> bool:
    return any(s <= start and e >= end for s, e in el_planning["free"])


def _vlan_number(name: str) -> int:
    try:
        return int(str(name).rsplit("-", 1)[-1])
    except ValueError:
        raise ValueError("vlan names in a planning are 'kavlan-<number>', not %r" % (name,)) from None


def compute_slots(planning: Dict[str, Any], walltime: Any, excluded_elements: Optional[Iterable[str]] = None,
                  include_hosts: bool = False) -> List[list]:
    """The slots of a planning for a walltime: at each date where something changes, how many
    hosts of each site and cluster (and of the whole grid) stay free for the whole walltime.

    :param walltime: anything `execo.time_utils.get_seconds` reads ("1:00:00", 3600, a timedelta).
    :param excluded_elements: sites, clusters, hosts or vlans to leave out.
    :param include_hosts: also give each host, with 1 when it is free and 0 otherwise.
    :return: ``[[start, start + walltime, {'grid5000': n, site: n, cluster: n, ...}], ...]``
      sorted by start. With vlans in the planning, ``'kavlan'`` is the number of free local vlans
      (numbers below 10) of a one-site planning, or the list of sites with a free global vlan
      (numbers above 10) of a multi-site planning.
    """
    walltime = get_seconds(walltime)
    if walltime is None or walltime <= 0:
        raise ValueError("compute_slots needs a positive walltime, not %r" % (walltime,))
    if excluded_elements:
        planning = _without_excluded(planning, excluded_elements)
    with_vlans = any("vlans" in site_pl for site_pl in planning.values())
    global_vlans = with_vlans and len(planning) > 1
    slots = []
    for limit in slots_limits(planning):
        stop = limit + walltime
        free: Dict[str, Any] = {"grid5000": 0}
        if with_vlans:
            free["kavlan"] = [] if global_vlans else 0
        for site, site_planning in planning.items():
            free[site] = 0
            for cluster, hosts in site_planning.items():
                if cluster in NON_HOST_RESOURCES:
                    continue
                free[cluster] = 0
                for host, el_planning in hosts.items():
                    host_free = _is_free(el_planning, limit, stop)
                    if host_free:
                        free["grid5000"] += 1
                        free[site] += 1
                        free[cluster] += 1
                    if include_hosts:
                        free[host] = int(host_free)
            for vlan, el_planning in site_planning.get("vlans", {}).items():
                number = _vlan_number(vlan)
                if not _is_free(el_planning, limit, stop):
                    continue
                if global_vlans and number > 10 and site not in free["kavlan"]:
                    free["kavlan"].append(site)
                elif not global_vlans and number < 10:
                    free["kavlan"] += 1
        slots.append([limit, stop, free])
    slots.sort(key=itemgetter(0))
    return slots


def max_resources(planning: Dict[str, Any]) -> Dict[str, int]:
    """How many hosts the planning has per site, per cluster and in all."""
    resources = {"grid5000": 0}
    for site, site_planning in planning.items():
        resources[site] = 0
        for cluster, hosts in site_planning.items():
            if cluster in NON_HOST_RESOURCES:
                continue
            resources[cluster] = len(hosts)
            resources[site] += len(hosts)
            resources["grid5000"] += len(hosts)
    return resources


# -- choosing a slot -------------------------------------------------------------------------
def _check_wanted(slots: Sequence[list], resources_wanted: Dict[str, Any]) -> None:
    """An element no slot knows is a typo or an excluded element: say so rather than ignore it."""
    if not slots:
        return
    known = set()
    for slot in slots:
        known.update(slot[2])
    unknown = sorted(str(e) for e in resources_wanted if e != "kavlan" and e not in known)
    if unknown:
        raise ValueError("resources_wanted names elements absent from the slots (unknown, excluded, "
                         "or hosts without include_hosts=True): %s" % ", ".join(unknown))


def _vlan_ok(slot: list, resources_wanted: Dict[str, Any]) -> bool:
    if "kavlan" not in resources_wanted:
        return True
    free_vlans = slot[2].get("kavlan")
    return bool(free_vlans)


def _wanted_nodes(slot: list, resources_wanted: Dict[str, Any]) -> int:
    return sum(n for element, n in slot[2].items() if element in resources_wanted and element != "kavlan")


def find_first_slot(slots: Sequence[list], resources_wanted: Dict[str, Any]):
    """The first slot where at least one host of the wanted elements is free (and a vlan, if
    'kavlan' is wanted); ``(None, None, None)`` when there is none."""
    _check_wanted(slots, resources_wanted)
    for slot in slots:
        if _wanted_nodes(slot, resources_wanted) > 0 and _vlan_ok(slot, resources_wanted):
            return slot
    return NO_SLOT


def find_max_slot(slots: Sequence[list], resources_wanted: Dict[str, Any]):
    """The first slot with the most free hosts in the wanted elements (and a vlan, if 'kavlan'
    is wanted); ``(None, None, None)`` when no slot has any."""
    _check_wanted(slots, resources_wanted)
    best, best_nodes = NO_SLOT, 0
    for slot in slots:
        nodes = _wanted_nodes(slot, resources_wanted)
        if nodes > best_nodes and _vlan_ok(slot, resources_wanted):
            best, best_nodes = slot, nodes
    return best


def find_free_slot(slots: Sequence[list], resources_wanted: Dict[str, Any]):
    """The first slot with enough free hosts for every wanted element, e.g. ``{'grid5000': 50,
    'lyon': 20, 'nova': 10}``; hosts wanted on a cluster count on top of those wanted on its
    site. ``(None, None, None)`` when there is none. As in execo 2.8, when 'kavlan' is wanted,
    ``resources_wanted['kavlan']`` is set to the slot's free vlans."""
    _check_wanted(slots, resources_wanted)
    real_wanted = {e: n for e, n in resources_wanted.items() if e != "kavlan"}
    for element, n_nodes in resources_wanted.items():
        if element in ("kavlan", "grid5000"):
            continue
        site = get_cluster_site(element)  # None for a site or a host
        if site is not None and site in resources_wanted:
            real_wanted[site] += n_nodes
    for slot in slots:
        if not _vlan_ok(slot, resources_wanted):
            continue
        if all(slot[2].get(element, 0) >= n for element, n in real_wanted.items()):
            if "kavlan" in resources_wanted:
                resources_wanted["kavlan"] = slot[2]["kavlan"]
            return slot
    return NO_SLOT

