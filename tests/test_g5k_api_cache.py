"""The on-disk reference cache: first fetch (in parallel), reuse, version change, offline use."""

import json
import logging
import os

import pytest

from execo_g5k import api_cache
from execo_g5k import api_utils as U
from execo_g5k.api_connection import APIException
from execo_g5k.config import g5k_configuration
from g5k_api_server import G5kAPIStandin

RAW = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "g5k", "reference")


def expected_fetch_requests():
    """root + /sites + backbone + 3 per site + 2 per cluster, counted from the reference files."""
    sites = os.listdir(os.path.join(RAW, "sites"))
    clusters = sum(len(os.listdir(os.path.join(RAW, "sites", s, "clusters"))) for s in sites)
    return 3 + 3 * len(sites) + 2 * clusters


@pytest.fixture
def cache_dir(g5k_api, tmp_path):
    g5k_configuration["api_cache_dir"] = str(tmp_path)
    return tmp_path


def cache_content(cache_dir):
    files = [f for f in os.listdir(cache_dir) if f.endswith(".json")]
    assert len(files) == 1, files
    with open(os.path.join(cache_dir, files[0])) as f:
        return json.load(f)


def test_first_use_fetches_in_parallel_and_writes_the_cache(g5k_api, cache_dir):
    g5k_api.state.add_fault(r"/nodes$", "delay", times=None, delay=0.05)
    assert len(U.get_g5k_hosts(queues=None)) == 794
    assert len(g5k_api.state.requests) == expected_fetch_requests() == 99
    assert g5k_api.state.max_in_flight >= 4
    assert all(r["query"].get("queues") == "all" for r in g5k_api.state.requests
               if r["path"].endswith("/clusters"))
    content = cache_content(cache_dir)
    assert content["version"] == g5k_api.state.version
    assert content["api_uri"] == g5k_api.base_uri.rstrip("/")
    assert len(content["data"]["hosts"]) == 794
    U.get_site_clusters("lyon")
    assert len(g5k_api.state.requests) == 99  # answered from memory


def test_same_version_reads_the_file_after_one_request(g5k_api, cache_dir):
    U.get_g5k_sites()
    api_cache.reset()
    g5k_api.state.requests.clear()
    assert U.get_cluster_hosts("troll") == ["troll-1", "troll-2", "troll-3", "troll-4"]
    assert g5k_api.state.request_paths() == ["/3.0/"]


def test_version_change_fetches_again(g5k_api, cache_dir, caplog):
    old_version = g5k_api.state.version
    assert U.get_cluster_attributes("paravance")["model"] != "Renamed model"
    with g5k_api.state.edit_reference() as ref:
        ref.clusters["rennes"]["paravance"]["model"] = "Renamed model"
    g5k_api.state.version = "f" * 40
    api_cache.reset()
    with caplog.at_level(logging.INFO, logger="execo"):
        assert U.get_cluster_attributes("paravance")["model"] == "Renamed model"
    assert "Grid'5000 reference changed (%s -> %s)" % (old_version, "f" * 40) in caplog.text
    assert cache_content(cache_dir)["version"] == "f" * 40


def test_offline_use_of_the_cache_when_the_api_is_gone(g5k_api_server, g5k_api, cache_dir, caplog):
    # A private server, so that it can really go away (connection refused), same reference data.
    private = G5kAPIStandin(reference=g5k_api_server.state.reference).start()
    try:
        g5k_configuration["api_uri"] = private.base_uri
        assert "sagittaire" in U.get_site_clusters("lyon")
    finally:
        private.stop()
    api_cache.reset()
    with caplog.at_level(logging.WARNING, logger="execo"):
        assert "sagittaire" in U.get_site_clusters("lyon")
        assert U.get_host_site("nova-3") == "lyon"
    assert "Grid'5000 API unreachable" in caplog.text and "ConnectionError" in caplog.text
    assert str(cache_dir) in caplog.text


def test_no_api_and_no_cache_is_an_error_naming_the_request(g5k_api, cache_dir):
    g5k_api.state.add_fault(r"^/3.0/$", "status", times=None, status=503, body="Service Unavailable")
    with pytest.raises(APIException) as info:
        U.get_g5k_sites()
    assert info.value.uri == g5k_api.base_uri and info.value.status_code == 503
    assert os.listdir(cache_dir) == []


@pytest.mark.parametrize("fault", [{"kind": "html"}, {"kind": "status", "status": 500},
                                   {"kind": "timeout", "delay": 2}])
def test_maintenance_page_error_or_timeout_fall_back_to_the_cache(g5k_api, cache_dir, fault):
    U.get_g5k_sites()
    api_cache.reset()
    g5k_configuration["api_timeout"] = 0.3
    g5k_api.state.add_fault(r"^/3.0/$", times=None, **fault)
    assert U.get_site_hosts("luxembourg")[0] == "petitprince-1"


def test_authentication_error_is_not_hidden_by_the_cache(g5k_api, cache_dir):
    U.get_g5k_sites()
    api_cache.reset()
    g5k_api.state.add_fault(r"^/3.0/$", "status", times=None, status=401, body="Bad credentials")
    with pytest.raises(APIException, match="401.*Bad credentials"):
        U.get_g5k_sites()


def test_failed_refresh_keeps_the_older_cache(g5k_api, cache_dir, caplog):
    U.get_g5k_sites()
    api_cache.reset()
    g5k_api.state.version = "e" * 40
    g5k_api.state.add_fault(r"/clusters/gros/nodes$", "status", times=None, status=500)
    with caplog.at_level(logging.WARNING, logger="execo"):
        assert len(U.get_cluster_hosts("gros")) == 124
    assert "fetching the Grid'5000 reference failed" in caplog.text and "clusters/gros/nodes" in caplog.text
    assert cache_content(cache_dir)["version"] != "e" * 40


def test_failed_first_fetch_names_the_failing_request(g5k_api, cache_dir):
    g5k_api.state.add_fault(r"/clusters/gros/nodes$", "status", times=None, status=404, body="gone")
    with pytest.raises(APIException, match=r"GET .*/sites/nancy/clusters/gros/nodes failed: HTTP 404"):
        U.get_g5k_sites()


def test_broken_cache_file_is_replaced(g5k_api, cache_dir, caplog):
    U.get_g5k_sites()
    name = os.listdir(cache_dir)[0]
    with open(os.path.join(cache_dir, name), "w") as f:
        f.write('{"format": 1, "version": "x", "data": {"sites"')
    api_cache.reset()
    with caplog.at_level(logging.WARNING, logger="execo"):
        assert "rennes" in U.get_g5k_sites()
    assert "ignoring the unusable Grid'5000 reference cache" in caplog.text and name in caplog.text
    assert cache_content(cache_dir)["version"] == g5k_api.state.version


def test_another_api_gets_another_cache_file(g5k_api, cache_dir):
    U.get_g5k_sites()
    g5k_configuration["api_additional_args"] = {"branch": "testing"}
    U.get_g5k_sites()
    assert len([f for f in os.listdir(cache_dir) if f.endswith(".json")]) == 2
    assert g5k_api.state.requests[-1]["query"]["branch"] == "testing"


def test_no_cache_dir_means_no_file(g5k_api, tmp_path):
    data = api_cache.get_api_data(cache_dir=None)
    assert len(data["hosts"]) == 794
    assert os.listdir(tmp_path) == []
