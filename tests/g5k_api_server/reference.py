"""The Grid'5000 reference documents, read once from the raw reference-repository files.

The real API server reads the same raw files and adds the envelope, links and version on top;
keeping the raw documents untouched here lets the envelope code stay the same as the real one's.
"""

import copy
import hashlib
import json
import os
import re
from typing import Dict, List

DEFAULT_DATA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "data", "g5k", "reference")

SITE_SUBDIRS = ("network_equipments", "pdus", "servers")
"""Sub-collections of a site stored as flat directories of documents (clusters are handled apart)."""


def natural_key(uid: str):
    """Sort paravance-2 before paravance-10, as a human reading a node list expects."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", uid)]


def _load(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise ValueError("cannot read reference document %s: %s" % (path, e)) from e


def _load_dir(path: str) -> Dict[str, dict]:
    """Every <uid>.json of a directory, keyed by file name (some are symlinks to a twin), in natural order."""
    if not os.path.isdir(path):
        return {}
    uids = sorted((name[:-len(".json")] for name in os.listdir(path) if name.endswith(".json")), key=natural_key)
    return {uid: _load(os.path.join(path, uid + ".json")) for uid in uids}


class ReferenceData:
    """All reference documents of the grid, with the git-like version sha of their content."""

    def __init__(self, root: str = DEFAULT_DATA_DIR):
        if not os.path.isfile(os.path.join(root, "grid5000.json")):
            raise ValueError("%s is not a reference-repository data directory (no grid5000.json)" % root)
        self.root = root
        self.grid = _load(os.path.join(root, "grid5000.json"))
        self.backbone = _load_dir(os.path.join(root, "network_equipments"))
        self.sites: Dict[str, dict] = {}
        self.clusters: Dict[str, Dict[str, dict]] = {}
        self.nodes: Dict[str, Dict[str, Dict[str, dict]]] = {}
        self.site_subdirs: Dict[str, Dict[str, Dict[str, dict]]] = {}
        sites_dir = os.path.join(root, "sites")
        for site in sorted(os.listdir(sites_dir)):
            site_dir = os.path.join(sites_dir, site)
            self.sites[site] = _load(os.path.join(site_dir, site + ".json"))
            self.site_subdirs[site] = {kind: _load_dir(os.path.join(site_dir, kind)) for kind in SITE_SUBDIRS}
            self.clusters[site] = {}
            self.nodes[site] = {}
            clusters_dir = os.path.join(site_dir, "clusters")
            for cluster in sorted(os.listdir(clusters_dir)) if os.path.isdir(clusters_dir) else []:
                cluster_dir = os.path.join(clusters_dir, cluster)
                self.clusters[site][cluster] = _load(os.path.join(cluster_dir, cluster + ".json"))
                self.nodes[site][cluster] = _load_dir(os.path.join(cluster_dir, "nodes"))
        self.version = self.content_sha()

    def content_sha(self) -> str:
        """A 40-hex digest of the documents, standing in for the reference-repository commit."""
        digest = hashlib.sha1()
        digest.update(json.dumps([self.grid, self.backbone, self.sites, self.clusters, self.nodes,
                                  self.site_subdirs], sort_keys=True).encode())
        return digest.hexdigest()

    def copy(self) -> "ReferenceData":
        return copy.deepcopy(self)

    def cluster_site(self, cluster: str):
        for site, clusters in self.clusters.items():
            if cluster in clusters:
                return site
        return None

    def node_fqdns(self, site: str, cluster: str = None) -> List[str]:
        clusters = [cluster] if cluster else list(self.nodes[site])
        return ["%s.%s.grid5000.fr" % (uid, site) for c in clusters for uid in self.nodes[site][c]]

    def node_cores(self, site: str, fqdn: str) -> int:
        uid = fqdn.split(".")[0]
        for nodes in self.nodes[site].values():
            if uid in nodes:
                return int(nodes[uid].get("architecture", {}).get("nb_cores", 1))
        return 1
