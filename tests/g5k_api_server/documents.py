"""Build the JSON documents the Grid'5000 API answers: envelopes, links, status, jobs, metrics.

Pure functions of (reference data, request): the HTTP layer only routes and encodes. Shapes follow
shared/g5k/interfaces.md sections 1.4, 2, 3 and 4 (g5k-api v3.11).
"""

import time
from typing import Dict, Iterable, List, Optional

ITEM_TYPE = "application/vnd.grid5000.item+json"
COLLECTION_TYPE = "application/vnd.grid5000.collection+json"

ACTIVE_JOB_STATES = ("waiting", "hold", "tolaunch", "toerror", "toackreservation", "launching",
                     "running", "suspended", "resuming", "finishing")
SITE_EXTRA_COLLECTIONS = ("jobs", "environments", "deployments", "vlans", "metrics", "storage")
DEFAULT_QUEUES = ("default",)


class NotFound(Exception):
    """The path names no resource: the API answers 404 'Cannot find resource <path>'."""


def link(rel: str, href: str, kind: str = ITEM_TYPE) -> dict:
    return {"rel": rel, "href": href, "type": kind}


def item(doc: dict, href: str, parent: str, version: str, subcollections: Iterable[str] = (),
         extra_links: Iterable[dict] = ()) -> dict:
    """A reference item: the raw document plus version and links, like the real server writes it."""
    out = dict(doc)
    out["version"] = version
    links = [link(rel, href + "/" + rel, COLLECTION_TYPE) for rel in subcollections]
    links += [link("self", href), link("parent", parent),
              link("version", href + "/versions/" + version),
              link("versions", href + "/versions", COLLECTION_TYPE)]
    out["links"] = links + list(extra_links)
    return out


def collection(items: List[dict], href: str, parent: str, version: Optional[str] = None,
               offset: int = 0, total: Optional[int] = None) -> dict:
    out = {"total": len(items) if total is None else total, "offset": offset, "items": items}
    if version is not None:
        out["version"] = version
    out["links"] = [link("self", href, COLLECTION_TYPE), link("parent", parent)]
    return out


def wanted_queues(query: Dict[str, str]) -> Optional[set]:
    """The queues a clusters request asks for; None means every queue (queues=all)."""
    value = query.get("queues")
    if value is None:
        return set(DEFAULT_QUEUES)
    if value == "all":
        return None
    return {q for q in value.split(",") if q}


def cluster_visible(cluster: dict, queues: Optional[set]) -> bool:
    if queues is None:
        return True
    return bool(set(cluster.get("queues") or ("admin", "default")) & queues)


class Documents:
    """Answers GET/POST paths (after the version prefix) from a ReferenceData and a StandinState."""

    def __init__(self, state):
        self.state = state

    @property
    def ref(self):
        return self.state.reference

    # -- reference -------------------------------------------------------------------------
    def root(self, v: str, query) -> dict:
        if _truthy(query.get("deep")):
            sites = {s: self.site_deep(v, s) for s in self.ref.sites}
            return {"total": len(sites), "offset": 0, "items": {"sites": sites},
                    "version": self.state.version}
        doc = dict(self.ref.grid)
        doc["version"] = self.state.version
        doc["timestamp"] = int(time.time())
        doc["links"] = [link("sites", "/%s/sites" % v, COLLECTION_TYPE),
                        link("network_equipments", "/%s/network_equipments" % v, COLLECTION_TYPE),
                        link("users", "/%s/users" % v, COLLECTION_TYPE),
                        link("self", "/%s/" % v), link("parent", "/%s/" % v),
                        link("version", "/%s/versions/%s" % (v, self.state.version)),
                        link("versions", "/%s/versions" % v, COLLECTION_TYPE)]
        return doc

    def site_item(self, v: str, site: str) -> dict:
        doc = self._site(site)
        href = "/%s/sites/%s" % (v, site)
        subdirs = ["clusters"] + [k for k, docs in self.ref.site_subdirs[site].items() if docs]
        extra = [link(rel, href + "/" + rel, COLLECTION_TYPE) for rel in SITE_EXTRA_COLLECTIONS]
        extra.append(link("status", href + "/status"))
        return item(doc, href, "/%s/" % v, self.state.version, subdirs, extra)

    def site_deep(self, v: str, site: str) -> dict:
        doc = dict(self._site(site))
        doc["clusters"] = {c: self.cluster_deep(site, c) for c in self.ref.clusters[site]}
        for kind, docs in self.ref.site_subdirs[site].items():
            doc[kind] = list(docs.values())
        return doc

    def cluster_deep(self, site: str, cluster: str) -> dict:
        doc = dict(self.ref.clusters[site][cluster])
        doc["nodes"] = list(self.ref.nodes[site][cluster].values())
        return doc

    def sites(self, v: str) -> dict:
        return collection([self.site_item(v, s) for s in self.ref.sites],
                          "/%s/sites" % v, "/%s/" % v, self.state.version)

    def clusters(self, v: str, site: str, query) -> dict:
        self._site(site)
        queues = wanted_queues(query)
        items = [self.cluster_item(v, site, c) for c, doc in self.ref.clusters[site].items()
                 if cluster_visible(doc, queues)]
        return collection(items, "/%s/sites/%s/clusters" % (v, site), "/%s/sites/%s" % (v, site),
                          self.state.version)

    def cluster_item(self, v: str, site: str, cluster: str, query=None) -> dict:
        doc = self._cluster(site, cluster)
        if query is not None and not cluster_visible(doc, wanted_queues(query)):
            raise NotFound()
        if query is not None and _truthy(query.get("deep")):
            deep = self.cluster_deep(site, cluster)
            deep["version"] = self.state.version
            return deep
        href = "/%s/sites/%s/clusters/%s" % (v, site, cluster)
        return item(doc, href, "/%s/sites/%s" % (v, site), self.state.version, ["nodes"],
                    [link("status", href + "/status")])

    def nodes(self, v: str, site: str, cluster: str) -> dict:
        self._cluster(site, cluster)
        href = "/%s/sites/%s/clusters/%s/nodes" % (v, site, cluster)
        items = [self.node_item(v, site, cluster, n) for n in self.ref.nodes[site][cluster]]
        return collection(items, href, "/%s/sites/%s/clusters/%s" % (v, site, cluster), self.state.version)

    def node_item(self, v: str, site: str, cluster: str, node: str) -> dict:
        self._cluster(site, cluster)
        doc = self.ref.nodes[site][cluster].get(node)
        if doc is None:
            raise NotFound()
        href = "/%s/sites/%s/clusters/%s/nodes/%s" % (v, site, cluster, node)
        return item(doc, href, "/%s/sites/%s/clusters/%s" % (v, site, cluster), self.state.version)

    def site_subdir(self, v: str, site: str, kind: str, uid: Optional[str] = None) -> dict:
        self._site(site)
        docs = self.ref.site_subdirs[site][kind]
        href = "/%s/sites/%s/%s" % (v, site, kind)
        if uid is None:
            return collection([item(d, href + "/" + u, "/%s/sites/%s" % (v, site), self.state.version)
                               for u, d in docs.items()], href, "/%s/sites/%s" % (v, site), self.state.version)
        if uid not in docs:
            raise NotFound()
        return item(docs[uid], href + "/" + uid, "/%s/sites/%s" % (v, site), self.state.version)

    def backbone(self, v: str, uid: Optional[str] = None) -> dict:
        href = "/%s/network_equipments" % v
        if uid is None:
            return collection([item(d, href + "/" + u, "/%s/" % v, self.state.version)
                               for u, d in self.ref.backbone.items()], href, "/%s/" % v, self.state.version)
        if uid not in self.ref.backbone:
            raise NotFound()
        return item(self.ref.backbone[uid], href + "/" + uid, "/%s/" % v, self.state.version)

    # -- status ----------------------------------------------------------------------------
    def status(self, v: str, site: str, cluster: Optional[str] = None) -> dict:
        """Node states and reservations, derived from the simulated jobs (interfaces.md section 3)."""
        if cluster is None:
            self._site(site)
            href = "/%s/sites/%s/status" % (v, site)
            parent = "/%s/sites/%s" % (v, site)
        else:
            self._cluster(site, cluster)
            href = "/%s/sites/%s/clusters/%s/status" % (v, site, cluster)
            parent = "/%s/sites/%s/clusters/%s" % (v, site, cluster)
        backend = self.state.oar_sites.get(site)
        jobs = self._site_jobs(site, ACTIVE_JOB_STATES)
        oar_nodes = backend.nodes() if backend is not None else {}
        nodes = {}
        for fqdn in self.ref.node_fqdns(site, cluster):
            nodes[fqdn] = self._node_status(site, fqdn, jobs, oar_nodes.get(fqdn))
        doc = {"uid": int(time.time()), "nodes": nodes, "disks": {},
               "links": [link("self", href), link("parent", parent)]}
        if cluster is None:
            doc["vlans"] = {}
            doc["subnets"] = {}
        return doc

    def _node_status(self, site: str, fqdn: str, site_jobs: List[dict], oar_node: Optional[dict] = None) -> dict:
        hard = self.state.node_states.get(fqdn) or (oar_node or {}).get("hard", "alive")
        jobs = [j for j in site_jobs if fqdn in j.get("assigned_nodes", ())]
        reservations = [{k: val for k, val in j.items()
                         if k not in ("events", "assigned_nodes", "resources_by_type", "links")}
                        for j in jobs]
        cores = self.ref.node_cores(site, fqdn)
        if hard == "dead":
            return {"hard": "dead", "soft": "unknown", "free_slots": 0, "freeable_slots": 0,
                    "busy_slots": 0, "reservations": reservations}
        running = [j for j in jobs if j.get("state") == "running"]
        besteffort = any(j.get("queue") == "besteffort" for j in running)
        if oar_node is not None:
            return _oar_node_status(hard, fqdn, cores, oar_node["cores"], running, reservations)
        if not running:
            soft, busy, freeable = "free", 0, 0
        else:
            soft = "busy_besteffort" if besteffort else "busy"
            busy = cores
            freeable = cores if besteffort else 0
        return {"hard": hard, "soft": soft, "free_slots": cores - busy, "freeable_slots": freeable,
                "busy_slots": busy - freeable, "reservations": reservations}

    # -- jobs (simulated, or read from a real OAR server for the sites in state.oar_sites) -------
    def _site_jobs(self, site: str, states: Optional[Iterable[str]] = None) -> List[dict]:
        """The site's jobs in these API states (None: all); OAR-backed sites ask OAR now."""
        backend = self.state.oar_sites.get(site)
        if backend is not None:
            return backend.details(backend.job_ids(states))
        jobs = self.state.site_jobs(site)
        if states is not None:
            states = set(states)
            jobs = [j for j in jobs if j.get("state") in states]
        return jobs

    def jobs(self, v: str, site: str, query) -> dict:
        self._site(site)
        states = query["state"].lower().split(",") if query.get("state") else None
        offset = int(query.get("offset", 0))
        limit = min(int(query.get("limit", 50)), 500)
        backend = self.state.oar_sites.get(site)
        if backend is not None and not query.get("project"):
            # OAR's short list gives ids, owners, names and queues: only the page is detailed.
            ids = backend.job_ids(states, **{k: query[k] for k in ("user", "name", "queue") if query.get(k)})
            jobs, total = backend.details(ids[offset:offset + limit]), len(ids)
        else:
            jobs = self._site_jobs(site, states)
            for key in ("user", "name", "queue", "project"):
                if query.get(key):
                    jobs = [j for j in jobs if j.get(key) == query[key]]
            jobs = sorted(jobs, key=lambda j: -int(j["uid"]))
            jobs, total = jobs[offset:offset + limit], len(jobs)
        with_resources = query.get("resources") == "yes"
        page = [self._job(v, site, j, with_resources) for j in jobs]
        href = "/%s/sites/%s/jobs" % (v, site)
        return collection(page, href, "/%s/sites/%s" % (v, site), None, offset, total)

    def job(self, v: str, site: str, uid: str) -> dict:
        self._site(site)
        backend = self.state.oar_sites.get(site)
        if backend is not None:
            found = backend.job(uid)
            if found is None:
                raise NotFound()
            return self._job(v, site, found, True)
        for j in self.state.site_jobs(site):
            if str(j["uid"]) == uid:
                return self._job(v, site, j, True)
        raise NotFound()

    def _job(self, v: str, site: str, job: dict, with_resources: bool) -> dict:
        out = {k: val for k, val in job.items() if val is not None}
        if not with_resources:
            out.pop("assigned_nodes", None)
            out.pop("resources_by_type", None)
        else:
            out.setdefault("assigned_nodes", [])
            out.setdefault("resources_by_type", {})
        out["links"] = [link("self", "/%s/sites/%s/jobs/%s" % (v, site, job["uid"])),
                        link("parent", "/%s/sites/%s" % (v, site))]
        return out

    # -- metrics (old metrology API shape) ---------------------------------------------------
    def timeseries(self, v: str, site: str, metric: str, query) -> dict:
        """Deterministic values so that a test can recompute them: value = node number + t / 100."""
        self._site(site)
        only = [n for n in query.get("only", "").split(",") if n]
        now = int(time.time())
        start = int(query.get("from", now - 60))
        end = int(query.get("to", now))
        resolution = int(query.get("resolution", 15))
        known = {uid for nodes in self.ref.nodes[site].values() for uid in nodes}
        items = []
        for uid in only:
            if uid not in known:
                raise NotFound()
            number = int(uid.rsplit("-", 1)[1])
            stamps = list(range(start, end, resolution))
            items.append({"uid": uid, "type": "timeseries", "from": start, "to": end,
                          "resolution": resolution, "values": [number + t / 100.0 for t in stamps]})
        href = "/%s/sites/%s/metrics/%s/timeseries" % (v, site, metric)
        return collection(items, href, "/%s/sites/%s/metrics/%s" % (v, site, metric))

    # -- helpers ---------------------------------------------------------------------------
    def _site(self, site: str) -> dict:
        doc = self.ref.sites.get(site)
        if doc is None:
            raise NotFound()
        return doc

    def _cluster(self, site: str, cluster: str) -> dict:
        self._site(site)
        doc = self.ref.clusters[site].get(cluster)
        if doc is None:
            raise NotFound()
        return doc


def _oar_node_status(hard: str, fqdn: str, cores: int, oar_cores: int, running: List[dict],
                     reservations: List[dict]) -> dict:
    """Status of a node backed by OAR: its busy share is the share of its OAR cores that running
    jobs hold (``resources_by_type.cores``), scaled to the reference's core count."""
    if hard == "dead":
        return {"hard": "dead", "soft": "unknown", "free_slots": 0, "freeable_slots": 0,
                "busy_slots": 0, "reservations": reservations}
    prefix = fqdn + "/"

    def held(jobs):
        return len({c for j in jobs for c in (j.get("resources_by_type") or {}).get("cores", ())
                    if c.startswith(prefix)})

    share = min(1.0, held(running) / float(max(oar_cores, 1)))
    busy = cores if share >= 1.0 else int(round(cores * share))
    besteffort_jobs = [j for j in running if j.get("queue") == "besteffort"]
    freeable = min(busy, int(round(cores * min(1.0, held(besteffort_jobs) / float(max(oar_cores, 1))))))
    if busy == 0:
        soft = "free"
    elif busy == cores:
        soft = "busy"
    else:
        soft = "free_busy" if busy * 2 <= cores else "busy_free"
    if freeable:
        soft += "_besteffort"
    return {"hard": hard, "soft": soft, "free_slots": cores - busy, "freeable_slots": freeable,
            "busy_slots": busy - freeable, "reservations": reservations}


def _truthy(value: Optional[str]) -> bool:
    return value is not None and value.lower() in ("1", "true", "yes")
