"""One site's jobs read from a real OAR server's REST API, translated to Grid'5000 API job documents.

The real Grid'5000 API reads OAR's database; the testbed (shared/testbed) offers OAR's own
REST API instead, so this module asks it and rewrites each job the way g5k-api's OAR::Job
writes it (interfaces.md section 4): lower-case states, ``uid``/``user``/``submitted_at``/...
names, null fields left out, ``started_at`` kept even when 0, ``assigned_nodes`` and
``resources_by_type`` from the assigned *and* the planned (gantt) resources.

OAR's node names are not Grid'5000 names: the testbed's ``node-<i>`` (property
``cluster=paravance``) becomes ``<cluster>-<i>.<site>.grid5000.fr``, e.g.
``paravance-3.rennes.grid5000.fr``, one of the reference hosts the stand-in serves. `check()`
refuses a testbed whose nodes do not land on reference hosts, naming the node.

The documents come out in the stand-in's internal job shape (the one of simulated jobs), so
the stand-in's filters, paging and status code treat both kinds alike.
"""

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Dict, Iterable, List, Optional

from .reference import natural_key

OAR_STATES = ("Waiting", "Hold", "toLaunch", "toError", "toAckReservation", "Launching", "Running",
              "Suspended", "Resuming", "Finishing", "Terminated", "Error")
"""Every OAR job state, spelled as OAR spells them (the API shows them lower-cased)."""

STATE_BY_API_NAME = {s.lower(): s for s in OAR_STATES}
DEFAULT_OAR_API = "http://127.0.0.1:6668/oarapi"
DEFAULT_IDENT = "oar"
_ALL_ITEMS = 1_000_000
_IDS_PER_REQUEST = 100  # keeps the query string short; OAR takes ids separated by ':'
_WALLTIME = re.compile(r"walltime=(\d+):(\d+):(\d+)")
_NODE_NUMBER = re.compile(r"-(\d+)$")


class OarAPIError(Exception):
    """OAR's REST API failed or answered something unexpected; the message names the URL."""


class OarJobs:
    """The jobs of one site, from OAR's REST API at ``oar_api`` (``.../oarapi``).

    :param reference: the stand-in's ReferenceData (node names are checked against it).
    :param site: the Grid'5000 site the OAR server stands for.
    :param cluster: the cluster of OAR resources that have no ``cluster`` property.
    :param ident: the ``X-Remote-Ident`` sent (OAR's API wants an identity to show one job).
    """

    def __init__(self, reference, site: str = "rennes", cluster: str = "paravance",
                 oar_api: str = DEFAULT_OAR_API, ident: str = DEFAULT_IDENT, timeout: float = 20.0):
        if site not in reference.sites:
            raise ValueError("OAR-backed site %r is not a reference site (known: %s)"
                             % (site, ", ".join(sorted(reference.sites))))
        if cluster not in reference.clusters[site]:
            raise ValueError("OAR-backed cluster %r is not a cluster of %s (known: %s)"
                             % (cluster, site, ", ".join(sorted(reference.clusters[site]))))
        self.reference = reference
        self.site = site
        self.cluster = cluster
        self.oar_api = oar_api.rstrip("/")
        self.ident = ident
        self.timeout = timeout

    # -- node names --------------------------------------------------------------------------
    def host_name(self, resource: dict) -> str:
        """The Grid'5000 FQDN of an OAR resource: ``<cluster>-<n>.<site>.grid5000.fr`` where n is
        the number ending its network_address (node-3 -> paravance-3.rennes.grid5000.fr)."""
        address = str(resource.get("network_address") or "")
        cluster = resource.get("cluster") or self.cluster
        match = _NODE_NUMBER.search(address)
        if not match:
            raise OarAPIError("OAR resource %s: network_address %r does not end with a node number"
                              % (resource.get("id"), address))
        return "%s-%s.%s.grid5000.fr" % (cluster, int(match.group(1)), self.site)

    def nodes(self) -> Dict[str, dict]:
        """``{fqdn: {"hard": alive|absent|suspected|dead, "cores": n, "oar_name": address}}`` of
        the OAR nodes (default resources), read from OAR's resources."""
        nodes: Dict[str, dict] = {}
        for resource in self._items("resources/full.json", {}):
            if resource.get("type", "default") != "default":
                continue
            fqdn = self.host_name(resource)
            node = nodes.setdefault(fqdn, {"hard": "alive", "cores": 0,
                                           "oar_name": resource.get("network_address")})
            node["cores"] += 1
            node["hard"] = _worst(node["hard"], str(resource.get("state") or "Alive").lower())
        return nodes

    def check(self) -> Dict[str, dict]:
        """Fail unless OAR answers and each of its nodes is a reference host of the site."""
        nodes = self.nodes()
        known = set(self.reference.node_fqdns(self.site))
        for fqdn, node in sorted(nodes.items()):
            if fqdn not in known:
                raise ValueError("OAR node %s maps to %s, which is not a host of the reference site %s"
                                 % (node["oar_name"], fqdn, self.site))
        if not nodes:
            raise ValueError("OAR at %s has no resource of type default" % self.oar_api)
        return nodes

    # -- jobs --------------------------------------------------------------------------------
    def job_ids(self, states: Optional[Iterable[str]] = None, user: Optional[str] = None,
                name: Optional[str] = None, queue: Optional[str] = None) -> List[int]:
        """Ids of the jobs in these API states (``running``...; None: every state) with this
        owner, name and queue, newest first. State names OAR does not have match nothing, as
        in the real API. (OAR's short list is cheap; `details` costs about 35 ms per job.)"""
        oar_states = list(OAR_STATES) if states is None else \
            [STATE_BY_API_NAME[s] for s in states if s in STATE_BY_API_NAME]
        if not oar_states:
            return []
        summaries = self._items("jobs.json", {"state": ",".join(oar_states)})
        return sorted((int(j["id"]) for j in summaries
                       if (user is None or j.get("owner") == user) and (name is None or j.get("name") == name)
                       and (queue is None or j.get("queue") == queue)), reverse=True)

    def details(self, ids: List[int]) -> List[dict]:
        """Job documents of these OAR job ids, in the order given (unknown ids are left out)."""
        found: Dict[int, dict] = {}
        for i in range(0, len(ids), _IDS_PER_REQUEST):
            chunk = ids[i:i + _IDS_PER_REQUEST]
            params = {"ids": ":".join(str(x) for x in chunk), "state": ",".join(OAR_STATES)}
            for oar_job in self._items("jobs/details.json", params):
                found[int(oar_job["id"])] = self.translate(oar_job)
        return [found[x] for x in ids if x in found]

    def job(self, uid: str) -> Optional[dict]:
        """One job document, or None when OAR does not know the id."""
        if not uid.isdigit():
            return None
        jobs = self.details([int(uid)])
        if jobs:
            return jobs[0]
        # OAR's lists skip jobs that never had resources (a reservation deleted while waiting);
        # the job itself is still there, as it is in g5k-api.
        oar_job = self._get("jobs/%s.json" % uid, {}, missing_ok=True)
        return self.translate(oar_job) if isinstance(oar_job, dict) and "id" in oar_job else None

    def translate(self, oar_job: dict) -> dict:
        """A g5k-api job document from one item of OAR's ``jobs/details``."""
        cores: Dict[str, List[str]] = {}
        for resource in oar_job.get("resources") or ():
            if resource.get("type", "default") == "default":
                fqdn = self.host_name(resource)
                cores.setdefault(fqdn, []).append("%s/%s" % (fqdn, resource.get("cpuset")))
        nodes = sorted(cores, key=natural_key)
        doc = {
            "uid": int(oar_job["id"]),
            "user_uid": oar_job.get("owner"),
            "user": oar_job.get("owner"),
            "walltime": _walltime(oar_job),
            "queue": oar_job.get("queue"),
            "state": str(oar_job.get("state") or "").lower(),
            "project": oar_job.get("project"),
            "name": oar_job.get("name"),
            "types": list(oar_job.get("types") or []),
            "mode": oar_job.get("type"),
            "command": oar_job.get("command"),
            "submitted_at": oar_job.get("submission_time"),
            "scheduled_at": oar_job.get("scheduled_start") or None,
            "started_at": oar_job.get("start_time"),
            "stopped_at": oar_job.get("stop_time") or None,
            "message": oar_job.get("message"),
            "exit_code": oar_job.get("exit_code"),
            "properties": oar_job.get("properties"),
            "directory": oar_job.get("launching_directory"),
            "events": [{"uid": e.get("event_id"), "created_at": e.get("date"), "type": e.get("type"),
                        "description": e.get("description")}
                       for e in sorted(oar_job.get("events") or (), key=lambda e: (e.get("date"), e.get("event_id")))],
            "assigned_nodes": nodes,
            "resources_by_type": {"cores": [c for n in nodes for c in sorted(cores[n])]} if nodes else {},
        }
        return {k: v for k, v in doc.items() if v is not None}

    # -- HTTP --------------------------------------------------------------------------------
    def _items(self, path: str, params: Dict[str, str]) -> List[dict]:
        """Every item of an OAR collection (one request: the limit is set above the total)."""
        params = dict(params, limit=str(_ALL_ITEMS), offset="0")
        doc = self._get(path, params)
        items = doc.get("items") if isinstance(doc, dict) else None
        if not isinstance(items, list):
            raise OarAPIError("GET %s: no items list in the answer" % self._url(path, params))
        return items

    def _url(self, path: str, params: Dict[str, str]) -> str:
        return "%s/%s?%s" % (self.oar_api, path, urllib.parse.urlencode(params))

    def _get(self, path: str, params: Dict[str, str], missing_ok: bool = False):
        """The decoded JSON answer; None for a 404 when ``missing_ok``."""
        url = self._url(path, params)
        request = urllib.request.Request(url, headers={"Accept": "application/json", "X-Remote-Ident": self.ident})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                body = answer.read()
        except urllib.error.HTTPError as e:
            detail = e.read()[:300].decode("utf-8", "replace")
            e.close()
            if e.code == 404 and missing_ok:
                return None
            raise OarAPIError("GET %s: HTTP %d %s" % (url, e.code, detail.strip())) from None
        except (OSError, ValueError) as e:
            raise OarAPIError("GET %s failed: %s" % (url, e)) from None
        try:
            return json.loads(body.decode("utf-8"))
        except ValueError as e:
            raise OarAPIError("GET %s: answer is not JSON (%s): %r" % (url, e, body[:200])) from None


_HARD_ORDER = ("alive", "absent", "suspected", "dead")


def _worst(a: str, b: str) -> str:
    """A node is as bad as its worst core (an unknown state counts as dead)."""
    rank = lambda s: _HARD_ORDER.index(s) if s in _HARD_ORDER else len(_HARD_ORDER)  # noqa: E731
    worst = max(a, b, key=rank)
    return worst if worst in _HARD_ORDER else "dead"


def _walltime(oar_job: dict) -> Optional[int]:
    """Seconds; OAR's API omits the walltime of a job not scheduled yet, but its request holds it."""
    if oar_job.get("walltime") is not None:
        return int(oar_job["walltime"])
    match = _WALLTIME.search(str(oar_job.get("wanted_resources") or ""))
    if match:
        h, m, s = (int(x) for x in match.groups())
        return h * 3600 + m * 60 + s
    return None
