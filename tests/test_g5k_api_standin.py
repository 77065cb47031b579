"""The API stand-in itself: envelopes, links, filters, status, jobs, and starting it by hand."""

import os
import signal
import subprocess
import sys

import requests

TESTS = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(os.path.dirname(TESTS), "examples")


def get(api, path, **params):
    r = requests.get(api.base_uri + path, params=params, headers={"Accept": "application/json"}, timeout=10)
    return r


def test_collection_envelope_links_and_version_prefixes(g5k_api):
    doc = get(g5k_api, "sites/rennes/clusters").json()
    assert doc["total"] == len(doc["items"]) == 5 and doc["offset"] == 0
    assert doc["version"] == g5k_api.state.version
    assert {"rel": "self", "href": "/3.0/sites/rennes/clusters",
            "type": "application/vnd.grid5000.collection+json"} in doc["links"]
    stable = requests.get(g5k_api.base_uri.replace("/3.0/", "/stable/") + "sites/rennes", timeout=10).json()
    assert {"rel": "self", "href": "/stable/sites/rennes", "type": "application/vnd.grid5000.item+json"} \
        in stable["links"]
    assert requests.get(g5k_api.base_uri.replace("/3.0/", "/2.0/"), timeout=10).status_code == 404


def test_queue_filter_and_deep(g5k_api):
    assert [c["uid"] for c in get(g5k_api, "sites/nancy/clusters").json()["items"]] == \
        ["graphite", "grimoire", "grisou", "gros"]
    assert get(g5k_api, "sites/nancy/clusters", queues="all").json()["total"] == 13
    assert get(g5k_api, "sites/nancy/clusters/grvingt").status_code == 404
    assert get(g5k_api, "sites/nancy/clusters/grvingt", queues="production").json()["uid"] == "grvingt"
    deep = get(g5k_api, "", deep="true").json()
    assert sorted(deep["items"]["sites"]) == ["grenoble", "lille", "luxembourg", "lyon", "nancy", "nantes",
                                              "rennes", "sophia"]
    assert len(deep["items"]["sites"]["lyon"]["clusters"]["nova"]["nodes"]) == 23


def test_errors_are_plain_text(g5k_api):
    r = get(g5k_api, "sites/rennes/clusters/nope/nodes")
    assert r.status_code == 404 and r.headers["Content-Type"].startswith("text/plain")
    assert r.text == "Cannot find resource /sites/rennes/clusters/nope/nodes"


def test_status_and_simulated_jobs(g5k_api):
    node = "troll-2.grenoble.grid5000.fr"
    g5k_api.state.jobs["grenoble"] = [
        {"uid": 42, "state": "running", "queue": "default", "user": "alice", "walltime": 3600,
         "started_at": 1_700_000_000, "assigned_nodes": [node], "resources_by_type": {"cores": []}}]
    g5k_api.state.node_states["troll-4.grenoble.grid5000.fr"] = "dead"
    status = get(g5k_api, "sites/grenoble/clusters/troll/status").json()
    assert sorted(status["nodes"]) == ["troll-%d.grenoble.grid5000.fr" % i for i in range(1, 5)]
    assert status["nodes"][node]["soft"] == "busy" and status["nodes"][node]["free_slots"] == 0
    assert status["nodes"][node]["reservations"][0]["uid"] == 42
    assert status["nodes"]["troll-1.grenoble.grid5000.fr"]["free_slots"] == 32
    assert status["nodes"]["troll-4.grenoble.grid5000.fr"]["soft"] == "unknown"
    jobs = get(g5k_api, "sites/grenoble/jobs", state="running,waiting").json()
    assert [j["uid"] for j in jobs["items"]] == [42] and "assigned_nodes" not in jobs["items"][0]
    job = get(g5k_api, "sites/grenoble/jobs/42").json()
    assert job["assigned_nodes"] == [node]
    assert {"rel": "self", "href": "/3.0/sites/grenoble/jobs/42",
            "type": "application/vnd.grid5000.item+json"} in job["links"]


def test_started_by_hand_and_stopped_by_sigterm():
    proc = subprocess.Popen([sys.executable, os.path.join(EXAMPLES, "g5k_api_standin.py")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "serving the Grid'5000 API stand-in at http://127.0.0.1:" in line
        uri = line.split(" at ")[1].split()[0]
        assert requests.get(uri + "sites/lyon", timeout=10).json()["uid"] == "lyon"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
