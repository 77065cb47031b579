"""Questions about Grid'5000 answered from the reference API: sites, clusters, hosts, networks.

Everything static comes from the local copy kept by `execo_g5k.api_cache` (fetched once, checked
against the API's version); `get_resource_attributes`, `get_hosts_metric` and `set_nodes_vlan`
always talk to the API. Host names may be given short (``paravance-1``), long
(``paravance-1.rennes.grid5000.fr``), with an interface or kavlan part
(``paravance-1-eth1``, ``paravance-1-kavlan-4.rennes.grid5000.fr``), or as execo Hosts.

An unknown site, cluster, host or network equipment raises `UnknownElement` (a ValueError and a
KeyError, so that code written for either of execo 2.8's behaviours keeps working), whose
message names it and the known ones.
"""

from __future__ import annotations

import copy
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Iterable, List, Optional, Sequence

from execo.log import logger
from execo.time_utils import get_seconds, get_unixts

from .api_cache import get_api_data, get_connection
from .api_connection import APIConnection, APIException

DEFAULT_CLUSTER_QUEUES = ["admin", "default", "besteffort"]
"""What a cluster without a ``queues`` attribute is taken to accept (execo 2.8's rule)."""

_host_group_regex = re.compile(r"^([a-zA-Z]+\d*)-\d+(\.(\w+))?")
# short name, interface (any word but kavlan-N / ipv6), kavlan part, ipv6 part, domain
_host_name_regex = re.compile(r"^([a-zA-Z]+\d*-\d+)(-(?!kavlan-\d+)(?!ipv6)(\w+))?(-kavlan-\d+)?(-ipv6)?(\.([.\w]+))?$")


class UnknownElement(ValueError, KeyError):
    """A site, cluster, host or network equipment the reference does not know."""

    def __init__(self, kind: str, name: Any, known: Iterable[str] = ()):
        self.kind = kind
        self.name = name
        known = sorted(known)
        text = "unknown Grid'5000 %s %r" % (kind, name)
        if known:
            shown = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "")
            text += " (known %ss: %s)" % (kind, shown)
        ValueError.__init__(self, text)

    def __str__(self) -> str:
        return self.args[0]


def _address(host: Any) -> str:
    """The address of an execo Host, or the string given."""
    address = getattr(host, "address", host)
    if not isinstance(address, str):
        raise TypeError("a host name must be a string or an execo Host, not %r" % (host,))
    return address


def _queues_list(queues: Any) -> Optional[List[str]]:
    if queues is None or queues is False:
        return None
    if isinstance(queues, str):
        return [queues]
    return list(queues)


# -- sites, clusters, hosts -------------------------------------------------------------------
def get_g5k_sites() -> List[str]:
    """The Grid'5000 sites, sorted."""
    return sorted(get_api_data()["hierarchy"])


def _check_site(site: str) -> Dict[str, List[str]]:
    hierarchy = get_api_data()["hierarchy"]
    if site not in hierarchy:
        raise UnknownElement("site", site, hierarchy)
    return hierarchy[site]


def _site_of_cluster(cluster: str) -> Optional[str]:
    for site, clusters in get_api_data()["hierarchy"].items():
        if cluster in clusters:
            return site
    return None


def filter_clusters(clusters: Iterable[str], queues: Any = "default") -> List[str]:
    """Keep the clusters with at least one OAR queue among ``queues``.

    :param queues: a queue name or a list of them; None or False keeps every cluster. A cluster
      whose reference has no ``queues`` counts as being in admin, default and besteffort.
    """
    wanted = _queues_list(queues)
    clusters = list(clusters)
    if wanted is None:
        return clusters
    return [c for c in clusters if set(get_cluster_queues(c)) & set(wanted)]


def get_site_clusters(site: str, queues: Any = "default") -> List[str]:
    """The clusters of a site (filtered by queue, see `filter_clusters`)."""
    return filter_clusters(_check_site(site), queues)


def get_site_hosts(site: str, queues: Any = "default") -> List[str]:
    """The host uids of a site's clusters (filtered by queue)."""
    hosts = []
    for cluster in get_site_clusters(site, queues):
        hosts.extend(get_cluster_hosts(cluster))
    return hosts


def get_g5k_clusters(queues: Any = "default") -> List[str]:
    """Every cluster of every site (filtered by queue), sorted by site then cluster."""
    return filter_clusters([c for s in get_g5k_sites() for c in get_api_data()["hierarchy"][s]], queues)


def get_g5k_hosts(queues: Any = "default") -> List[str]:
    """Every host uid (filtered by the queue of its cluster)."""
    hosts = []
    for cluster in get_g5k_clusters(queues):
        hosts.extend(get_cluster_hosts(cluster))
    return hosts


def get_cluster_hosts(cluster: str) -> List[str]:
    """The host uids of a cluster (``paravance-1``, ...), in the API's order."""
    site = _site_of_cluster(cluster)
    if site is None:
        raise UnknownElement("cluster", cluster, get_api_data()["clusters"])
    return list(get_api_data()["hierarchy"][site][cluster])


def get_cluster_site(cluster: str) -> Optional[str]:
    """The site of a cluster, or None when no site has it (as in execo 2.8)."""
    return _site_of_cluster(cluster)


def get_cluster_queues(cluster: str) -> List[str]:
    """The OAR queues of a cluster (``['admin', 'default']``, ``['admin', 'production']``, ...)."""
    queues = get_cluster_attributes(cluster).get("queues")
    return list(queues) if queues else list(DEFAULT_CLUSTER_QUEUES)


def get_cluster_jobtypes(cluster: str) -> List[str]:
    """The OAR job types a job must have to run on the cluster: ``['exotic']`` for an exotic
    cluster, else ``[]``. (execo 2.8.2 meant this but read the flag from the wrong attribute and
    raised TypeError; here the cluster's ``exotic`` flag is read.)"""
    return ["exotic"] if get_cluster_attributes(cluster).get("exotic") else []


def get_host_cluster(host: Any) -> Optional[str]:
    """The cluster of a host, read from its name (``paravance-1[...]`` -> ``paravance``)."""
    m = _host_group_regex.match(canonical_host_name(_address(host)))
    return m.group(1) if m else None


def get_host_site(host: Any) -> Optional[str]:
    """The site of a host: the second label of its long name, else the site of its cluster."""
    m = _host_group_regex.match(canonical_host_name(_address(host)))
    if not m:
        return None
    return m.group(3) or get_cluster_site(m.group(1))


def group_hosts(hosts: Iterable[Any]) -> Dict[Optional[str], Dict[Optional[str], List[Any]]]:
    """Group hosts as ``{site: {cluster: [hosts]}}``, each host given back as it was given."""
    grouped: Dict[Optional[str], Dict[Optional[str], List[Any]]] = {}
    for host in hosts:
        grouped.setdefault(get_host_site(host), {}).setdefault(get_host_cluster(host), []).append(host)
    return grouped


# -- host names ------------------------------------------------------------------------------
def canonical_host_name(host: Any) -> Any:
    """The host name without its interface, kavlan or ipv6 part.

    ``paravance-1-eth1-kavlan-4.rennes.grid5000.fr`` -> ``paravance-1.rennes.grid5000.fr``.
    Given a string, returns a string; given an execo Host, returns a copy with the new address.
    """
    address = _address(host)
    m = _host_name_regex.match(address)
    canonical = m.group(1) + (m.group(6) or "") if m else address
    if isinstance(host, str):
        return canonical
    h = copy.copy(host)
    h.address = canonical
    return h


def get_host_shortname(host: Any) -> str:
    """``paravance-1`` for any form of the name of paravance-1."""
    return canonical_host_name(_address(host)).partition(".")[0]


def get_host_longname(host: Any) -> Optional[str]:
    """``paravance-1.rennes.grid5000.fr``: the canonical name, site found from the cluster if
    missing; None when the site cannot be found (as in execo 2.8)."""
    name = canonical_host_name(_address(host))
    short, _, rest = name.partition(".")
    site = rest.partition(".")[0] if rest else get_host_site(short)
    if not site:
        return None
    return "%s.%s.grid5000.fr" % (short, site)


def get_host_interface(host: Any) -> Optional[str]:
    """The interface a host name designates: ``eth1`` for ``paravance-1-eth1.rennes.grid5000.fr``,
    ``eth0`` for the plain name; None when the name is not a Grid'5000 node name."""
    m = _host_name_regex.match(_address(host))
    if not m:
        return None
    return m.group(3) or "eth0"


# -- attributes ------------------------------------------------------------------------------
def get_host_attributes(host: Any) -> Dict[str, Any]:
    """The reference attributes of a host (architecture, network_adapters, ...)."""
    hosts = get_api_data()["hosts"]
    uid = get_host_shortname(host)
    if uid not in hosts:
        raise UnknownElement("host", _address(host))
    return hosts[uid]


def get_cluster_attributes(cluster: str) -> Dict[str, Any]:
    """The reference attributes of a cluster (model, queues, ...)."""
    clusters = get_api_data()["clusters"]
    if cluster not in clusters:
        raise UnknownElement("cluster", cluster, clusters)
    return clusters[cluster]


def get_site_attributes(site: str) -> Dict[str, Any]:
    """The reference attributes of a site (name, location, kavlans, ...)."""
    sites = get_api_data()["sites"]
    if site not in sites:
        raise UnknownElement("site", site, sites)
    return sites[site]


def get_resource_attributes(path: str) -> Any:
    """GET any API path (relative to the API base URI) and return its decoded JSON, uncached."""
    return get_connection().get_json(path)


# -- network equipments ----------------------------------------------------------------------
def get_site_network_equipments(site: str) -> List[str]:
    """The uids of a site's network equipments (switches, routers)."""
    _check_site(site)
    return list(get_api_data()["network"].get(site, {}))


def get_network_equipment_site(equip: str) -> Optional[str]:
    """The site holding a network equipment, or None (a backbone equipment, or unknown)."""
    network = get_api_data()["network"]
    for site in get_g5k_sites():
        if equip in network.get(site, {}):
            return site
    return None


def get_network_equipment_attributes(equip: str) -> Dict[str, Any]:
    """The reference attributes of a site network equipment, or of a backbone one."""
    network = get_api_data()["network"]
    site = get_network_equipment_site(equip)
    if site is not None:
        return network[site][equip]
    for attrs in network["backbone"]:
        if attrs.get("uid") == equip:
            return attrs
    known = [e for s in get_g5k_sites() for e in network.get(s, {})]
    raise UnknownElement("network equipment", equip, known)


def get_host_network_equipments(host: Any) -> List[str]:
    """The switches a host's usable Ethernet interfaces (not management ones) are plugged to."""
    adapters = get_host_attributes(host).get("network_adapters") or []
    return sorted({a["switch"] for a in adapters
                   if a.get("switch") and not a.get("management") and a.get("mountable")
                   and a.get("interface") == "Ethernet"})


def get_cluster_network_equipments(cluster: str) -> List[str]:
    """The switches the hosts of a cluster are plugged to."""
    return sorted({e for h in get_cluster_hosts(cluster) for e in get_host_network_equipments(h)})


# -- live API calls --------------------------------------------------------------------------
def get_hosts_metric(hosts: Sequence[Any], metric: str, from_ts: Any = None, to_ts: Any = None,
                     resolution: Any = None) -> Dict[Any, Dict[str, Any]]:
    """Metric values of hosts from the (old) metrology API, one request per site, in parallel.

    :param from_ts: start date (anything `execo.time_utils.get_unixts` reads), optional.
    :param to_ts: end date, optional.
    :param resolution: seconds between values (anything `get_seconds` reads), optional.
    :return: ``{host: {'values': [(timestamp, value), ...], 'from', 'to', 'resolution', 'type'}}``,
      each host as it was given. With ``timestamps`` in the answer they pair with the values;
      otherwise the timestamps are from, from + resolution, ...
    """
    from_ts = int(get_unixts(from_ts)) if from_ts is not None else None
    to_ts = int(get_unixts(to_ts)) if to_ts is not None else None
    resolution = int(get_seconds(resolution)) if resolution is not None else None
    by_site: Dict[str, List[Any]] = {}
    for host in hosts:
        site = get_host_site(host)
        if site is None:
            raise UnknownElement("host", _address(host))
        by_site.setdefault(site, []).append(host)

    def site_metrics(site: str, site_hosts: List[Any]) -> Dict[Any, Dict[str, Any]]:
        params = {"only": ",".join(get_host_shortname(h) for h in site_hosts)}
        for key, value in (("from", from_ts), ("to", to_ts), ("resolution", resolution)):
            if value is not None:
                params[key] = str(value)
        doc = get_connection().get_json("sites/%s/metrics/%s/timeseries" % (site, metric), params)
        result = {}
        for item in doc.get("items", []):
            for host in site_hosts:
                if get_host_shortname(host) == item.get("uid"):
                    result[host] = _metric_entry(item)
        return result

    res: Dict[Any, Dict[str, Any]] = {}
    with ThreadPoolExecutor(max_workers=max(1, len(by_site)), thread_name_prefix="g5k-metrics") as pool:
        for part in [pool.submit(site_metrics, s, h) for s, h in by_site.items()]:
            res.update(part.result())
    return res


def _metric_entry(item: Dict[str, Any]) -> Dict[str, Any]:
    values = item.get("values", [])
    if "timestamps" in item:
        stamps = item["timestamps"]
    else:
        stamps = range(item["from"], item["from"] + item["resolution"] * len(values), item["resolution"])
    entry = {"values": list(zip(stamps, values))}
    for key in ("from", "to", "resolution", "type"):
        if key in item:
            entry[key] = item[key]
    return entry


def set_nodes_vlan(site: str, hosts: Iterable[Any], interface: str, vlan_id: Any) -> Any:
    """Put an interface of hosts in a kavlan VLAN (POST /sites/<site>/vlans/<vlan_id>).

    :param interface: the interface name, e.g. ``eth1``: ``paravance-1.rennes.grid5000.fr``
      becomes ``paravance-1-eth1.rennes.grid5000.fr``.
    :return: the requests.Response of the API (as execo 2.8; ``.json()`` gives the per-node status).
    """
    _check_site(site)
    addresses = []
    for host in hosts:
        short, _, rest = get_host_longname(host).partition(".")
        addresses.append("%s-%s.%s" % (short, interface, rest))
    logger.info("Setting %s in vlan %s of site %s", addresses, vlan_id, site)
    return get_connection().post("sites/%s/vlans/%s" % (site, vlan_id), {"nodes": addresses})


__all__ = [
    "APIConnection", "APIException", "UnknownElement", "canonical_host_name", "filter_clusters",
    "get_cluster_attributes", "get_cluster_hosts", "get_cluster_jobtypes", "get_cluster_network_equipments",
    "get_cluster_queues", "get_cluster_site", "get_g5k_clusters", "get_g5k_hosts", "get_g5k_sites",
    "get_host_attributes", "get_host_cluster", "get_host_interface", "get_host_longname",
    "get_host_network_equipments", "get_host_shortname", "get_host_site", "get_hosts_metric",
    "get_network_equipment_attributes", "get_network_equipment_site", "get_resource_attributes",
    "get_site_attributes", "get_site_clusters", "get_site_hosts", "get_site_network_equipments",
    "group_hosts", "set_nodes_vlan",
]
