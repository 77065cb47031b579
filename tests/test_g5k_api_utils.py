"""Every api_utils helper, over HTTP from the stand-in, checked against the raw reference files.

Expected values are computed here by reading tests/data/g5k/reference directly (the files the
stand-in serves), independently of the code under test.
"""

import glob
import json
import os
import re

import pytest

from execo_g5k import api_utils as U
from execo_g5k.api_connection import APIException

RAW = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "g5k", "reference")


def natural(name):
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def raw(*parts):
    with open(os.path.join(RAW, *parts)) as f:
        return json.load(f)


def raw_sites():
    return sorted(os.listdir(os.path.join(RAW, "sites")))


def raw_clusters(site):
    return sorted(os.listdir(os.path.join(RAW, "sites", site, "clusters")))


def raw_cluster(site, cluster):
    return raw("sites", site, "clusters", cluster, cluster + ".json")


def raw_nodes(site, cluster):
    names = [os.path.basename(p)[:-5] for p in glob.glob(os.path.join(RAW, "sites", site, "clusters", cluster,
                                                                     "nodes", "*.json"))]
    return sorted(names, key=natural)


def raw_default_clusters(site):
    return [c for c in raw_clusters(site) if "default" in raw_cluster(site, c)["queues"]]


class FakeHost:
    """Duck-typed stand-in for execo.Host (an object with an ``address``)."""

    def __init__(self, address):
        self.address = address


@pytest.fixture(autouse=True)
def api(g5k_api):
    return g5k_api


def test_sites_clusters_hosts_match_the_reference_files():
    assert U.get_g5k_sites() == raw_sites()
    for site in raw_sites():
        assert U.get_site_clusters(site) == raw_default_clusters(site)
        assert U.get_site_clusters(site, queues=None) == raw_clusters(site)
        for cluster in raw_clusters(site):
            assert U.get_cluster_hosts(cluster) == raw_nodes(site, cluster)
            assert U.get_cluster_site(cluster) == site
        assert U.get_site_hosts(site) == [h for c in raw_default_clusters(site) for h in raw_nodes(site, c)]
    all_clusters = [(s, c) for s in raw_sites() for c in raw_clusters(s)]
    assert U.get_g5k_clusters(queues=None) == [c for _, c in all_clusters]
    assert U.get_g5k_clusters() == [c for s in raw_sites() for c in raw_default_clusters(s)]
    assert len(U.get_g5k_hosts(queues=None)) == sum(len(raw_nodes(s, c)) for s, c in all_clusters) == 794
    assert len(U.get_g5k_hosts()) == sum(len(raw_nodes(s, c)) for s in raw_sites()
                                         for c in raw_default_clusters(s))


def test_queue_filters():
    production = [c for c in raw_clusters("nancy") if "production" in raw_cluster("nancy", c)["queues"]]
    assert U.get_site_clusters("nancy", queues="production") == production
    assert "grvingt" in production and "grvingt" not in U.get_site_clusters("nancy")
    assert U.get_g5k_clusters(queues=["testing"]) == ["pyxis", "grappe"]
    assert U.filter_clusters(["gros", "grvingt", "pyxis"], ["default", "testing"]) == ["gros", "pyxis"]
    assert U.filter_clusters(["gros", "grvingt"], None) == ["gros", "grvingt"]
    assert U.get_cluster_queues("grvingt") == raw_cluster("nancy", "grvingt")["queues"]


def test_cluster_jobtypes_say_which_clusters_need_the_exotic_type():
    exotic = [c for s in raw_sites() for c in raw_clusters(s) if raw_cluster(s, c).get("exotic")]
    assert exotic and "pyxis" in exotic
    for cluster in U.get_g5k_clusters(queues=None):
        assert U.get_cluster_jobtypes(cluster) == (["exotic"] if cluster in exotic else [])


def test_attributes_are_the_reference_documents():
    node = raw("sites", "rennes", "clusters", "paravance", "nodes", "paravance-7.json")
    for name in ("paravance-7", "paravance-7.rennes.grid5000.fr", "paravance-7-kavlan-4.rennes.grid5000.fr",
                 FakeHost("paravance-7-eth1")):
        attrs = U.get_host_attributes(name)
        assert {k: attrs[k] for k in node} == node
    cluster = raw_cluster("lyon", "taurus")
    assert {k: U.get_cluster_attributes("taurus")[k] for k in cluster} == cluster
    site = raw("sites", "luxembourg", "luxembourg.json")
    assert {k: U.get_site_attributes("luxembourg")[k] for k in site} == site
    switch = raw("sites", "rennes", "network_equipments", "paravance-sw-1.json")
    assert {k: U.get_network_equipment_attributes("paravance-sw-1")[k] for k in switch} == switch
    backbone = raw("network_equipments", "renater-lyon.json")
    assert {k: U.get_network_equipment_attributes("renater-lyon")[k] for k in backbone} == backbone


def test_get_resource_attributes_is_not_cached(api):
    U.get_g5k_sites()
    before = len(api.state.request_paths())
    doc = U.get_resource_attributes("sites/grenoble/clusters/dahu/nodes/dahu-3")
    again = U.get_resource_attributes("/sites/grenoble/clusters/dahu/nodes/dahu-3")
    assert doc == again
    assert doc["uid"] == "dahu-3" and doc["version"] == api.state.version
    assert {"rel": "self", "href": "/3.0/sites/grenoble/clusters/dahu/nodes/dahu-3",
            "type": "application/vnd.grid5000.item+json"} in doc["links"]
    assert api.state.request_paths()[before:] == ["/3.0/sites/grenoble/clusters/dahu/nodes/dahu-3"] * 2


def test_host_name_helpers():
    forms = ["paravance-12", "paravance-12.rennes.grid5000.fr", "paravance-12-eth1.rennes.grid5000.fr",
             "paravance-12-kavlan-4.rennes.grid5000.fr", "paravance-12-eth1-kavlan-4", "paravance-12-ipv6.rennes.grid5000.fr"]
    for name in forms:
        assert U.get_host_cluster(name) == "paravance"
        assert U.get_host_site(name) == "rennes"
        assert U.get_host_shortname(name) == "paravance-12"
        assert U.get_host_longname(name) == "paravance-12.rennes.grid5000.fr"
    assert U.canonical_host_name("paravance-12-eth1-kavlan-4.rennes.grid5000.fr") == "paravance-12.rennes.grid5000.fr"
    assert U.canonical_host_name("paravance-12-kavlan-4") == "paravance-12"
    assert U.canonical_host_name("frontend.rennes.grid5000.fr") == "frontend.rennes.grid5000.fr"
    h = FakeHost("dahu-3-kavlan-5.grenoble.grid5000.fr")
    canon = U.canonical_host_name(h)
    assert isinstance(canon, FakeHost) and canon.address == "dahu-3.grenoble.grid5000.fr"
    assert h.address == "dahu-3-kavlan-5.grenoble.grid5000.fr"
    assert U.get_host_interface("paravance-12-eth1.rennes.grid5000.fr") == "eth1"
    assert U.get_host_interface("paravance-12-eth1-kavlan-4") == "eth1"
    assert U.get_host_interface("paravance-12.rennes.grid5000.fr") == "eth0"
    assert U.get_host_interface("paravance-12-ib0-kavlan-4.rennes.grid5000.fr") == "ib0"
    assert U.canonical_host_name("paravance-12-ib0-ipv6.rennes.grid5000.fr") == "paravance-12.rennes.grid5000.fr"
    assert U.get_host_interface("frontend") is None
    assert U.get_host_cluster("localhost") is None and U.get_host_site("localhost") is None
    assert U.get_host_site("nosuchcluster-1") is None
    assert U.get_host_site("nosuchcluster-1.lyon.grid5000.fr") == "lyon"


def test_group_hosts_keeps_hosts_as_given():
    hosts = ["dahu-1.grenoble.grid5000.fr", "paravance-3", FakeHost("paravance-1-kavlan-4.rennes.grid5000.fr"),
             "parasilo-2.rennes.grid5000.fr", "dahu-2"]
    grouped = U.group_hosts(hosts)
    assert grouped == {"grenoble": {"dahu": [hosts[0], hosts[4]]},
                       "rennes": {"paravance": [hosts[1], hosts[2]], "parasilo": [hosts[3]]}}


def test_network_equipments():
    site_equipments = sorted(p[:-5] for p in os.listdir(os.path.join(RAW, "sites", "rennes", "network_equipments")))
    assert sorted(U.get_site_network_equipments("rennes")) == site_equipments
    assert U.get_network_equipment_site("paravance-sw-2") == "rennes"
    assert U.get_network_equipment_site("renater-rennes") is None
    expected = set()
    for node in raw_nodes("rennes", "paravance"):
        for a in raw("sites", "rennes", "clusters", "paravance", "nodes", node + ".json")["network_adapters"]:
            if a.get("switch") and a.get("mountable") and not a.get("management") and a["interface"] == "Ethernet":
                expected.add(a["switch"])
    assert U.get_cluster_network_equipments("paravance") == sorted(expected) == ["paravance-sw-1", "paravance-sw-2"]
    assert U.get_host_network_equipments("paravance-1.rennes.grid5000.fr") == ["paravance-sw-1"]


def test_unknown_elements_are_named():
    with pytest.raises(U.UnknownElement, match=r"unknown Grid'5000 site 'atlantis' \(known sites: grenoble, lille"):
        U.get_site_clusters("atlantis")
    with pytest.raises(ValueError, match="unknown Grid'5000 cluster 'nocluster'"):
        U.get_cluster_hosts("nocluster")
    with pytest.raises(KeyError, match="unknown Grid'5000 host 'paravance-999'"):
        U.get_host_attributes("paravance-999")
    with pytest.raises(KeyError, match="unknown Grid'5000 cluster 'nocluster'"):
        U.get_cluster_attributes("nocluster")
    with pytest.raises(ValueError, match="unknown Grid'5000 site 'atlantis'"):
        U.get_site_attributes("atlantis")
    with pytest.raises(ValueError, match="unknown Grid'5000 network equipment 'sw-0'"):
        U.get_network_equipment_attributes("sw-0")
    assert U.get_host_longname("nosuchcluster-1") is None
    with pytest.raises(TypeError, match="host name must be a string"):
        U.get_host_site(42)
    assert U.get_cluster_site("nocluster") is None


def test_get_hosts_metric_one_request_per_site(api):
    hosts = ["paravance-2.rennes.grid5000.fr", FakeHost("parasilo-5"), "dahu-7"]
    res = U.get_hosts_metric(hosts, "power", from_ts=1_600_000_000, to_ts=1_600_000_030, resolution=10)
    assert set(res) == set(hosts)
    assert res["dahu-7"]["values"] == [(t, 7 + t / 100.0) for t in (1_600_000_000, 1_600_000_010, 1_600_000_020)]
    assert res[hosts[1]]["resolution"] == 10 and res[hosts[1]]["values"][0] == (1_600_000_000, 5 + 16_000_000.0)
    metric_requests = [r for r in api.state.requests if "/metrics/" in r["path"]]
    assert sorted(r["path"] for r in metric_requests) == ["/3.0/sites/grenoble/metrics/power/timeseries",
                                                          "/3.0/sites/rennes/metrics/power/timeseries"]
    rennes = [r for r in metric_requests if "rennes" in r["path"]][0]
    assert rennes["query"]["only"] == "paravance-2,parasilo-5"
    with pytest.raises(APIException, match="404"):
        U.get_hosts_metric(["paravance-999"], "power")


def test_set_nodes_vlan_posts_interface_names(api):
    response = U.set_nodes_vlan("rennes", ["paravance-1", FakeHost("paravance-2.rennes.grid5000.fr")], "eth1", 4)
    expected = ["paravance-1-eth1.rennes.grid5000.fr", "paravance-2-eth1.rennes.grid5000.fr"]
    assert api.state.posts == [{"path": "/sites/rennes/vlans/4", "json": {"nodes": expected}, "user": "execo"}]
    assert response.status_code == 200 and set(response.json()) == set(expected)
    api.state.default_user = None
    with pytest.raises(APIException, match="403.*not authorized"):
        U.set_nodes_vlan("rennes", ["paravance-1"], "eth1", 4)
