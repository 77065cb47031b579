"""Planning from the API stand-in whose rennes jobs come from the real OAR testbed.

Real jobs are submitted as oaruser on the testbed's frontend (execo_g5k.oar.oarsub over ssh):
two advance reservations in the future, whose dates and walltimes the test chooses, and one
batch job running now. The stand-in (``g5k_api_oar``) reads them from OAR's REST API and
serves them as Grid'5000 job documents, OAR's node-i being paravance-i.rennes.grid5000.fr.
Then get_planning, compute_slots and the find_*_slot helpers run through APIConnection
against it, and the busy periods and slots are checked against values computed here by hand
from the submissions; root's ``oarstat -fj ID -J`` is the independent witness of which nodes
OAR gave each job and when the batch job started. The jobs are deleted at the end.
"""

import json
import subprocess
import time

import pytest
import requests

from execo.time_utils import format_date, format_seconds
from execo_bin import g5k_show_all_jobs
from execo_g5k.api_cache import get_connection
from execo_g5k.oar import OarSubmission, oardel, oarsub
from execo_g5k.planning import (JOB_END_MARGIN, compute_slots, find_first_slot, find_free_slot, find_max_slot,
                                get_planning)
from g5k_api_server import G5kAPIStandin
from g5k_api_server.oar_jobs import DEFAULT_OAR_API, OarJobs

pytestmark = pytest.mark.timeout(180)

M = JOB_END_MARGIN
HOSTS = ["paravance-%d.rennes.grid5000.fr" % i for i in range(1, 5)]


def fqdn(oar_node):
    """The documented mapping of the OAR-backed stand-in: node-i is paravance-i of rennes."""
    return "paravance-%s.rennes.grid5000.fr" % oar_node.rsplit("-", 1)[1]


def witness(job_id):
    """Root's view of a job (oarstat -fj ID -J): its state, start time and nodes."""
    out = subprocess.run(["oarstat", "-fj", str(job_id), "-J"], stdout=subprocess.PIPE, check=True,
                         universal_newlines=True, timeout=60).stdout
    job = json.loads(out)[str(job_id)]
    nodes = set(job.get("assigned_network_address") or ())
    nodes |= {r["network_address"] for r in (job.get("reserved_resources") or {}).values()}
    return {"state": job["state"], "start": job.get("startTime"), "walltime": job.get("walltime"),
            "nodes": sorted(fqdn(n) for n in nodes)}


@pytest.fixture(scope="module")
def real_jobs(oar_testbed):
    """Reservation A (2 nodes, 30 min) in about an hour, reservation B (4 nodes, 1 h) an hour
    later, and batch job C (1 node, 10 min) running now; all deleted afterwards. So 4 nodes are
    free for 30 min once C ends, and for 1 h only after B (A starts less than 1 h after C ends)."""
    from execo_g5k.config import g5k_configuration

    tb = oar_testbed
    saved = dict(g5k_configuration)
    g5k_configuration.update(oar_timezone=tb.timezone)
    r_a = (int(time.time()) // 60 + 62) * 60  # 61 to 62 min from now
    r_b = r_a + 3600
    specs = [OarSubmission("nodes=2", walltime="0:30:00", reservation_date=r_a, name=tb.name("plan-a")),
             OarSubmission("nodes=4", walltime="1:00:00", reservation_date=r_b, name=tb.name("plan-b")),
             OarSubmission("nodes=1", walltime="0:10:00", name=tb.name("plan-c"), job_type="allow_classic_ssh")]
    jobs = oarsub([(spec, tb.frontend) for spec in specs], tb.frontend_connection_params)
    tb.track(jobs)
    try:
        assert all(job_id for job_id, _ in jobs), [getattr(j, "error", None) for j in jobs]
        (a, _), (b, _), (c, _) = jobs
        tb.notify_scheduler()
        tb.wait_state(c, ("Running",), timeout=60)
        yield {"tb": tb, "a": a, "b": b, "c": c, "r_a": r_a, "r_b": r_b,
               "names": {a: specs[0].name, b: specs[1].name, c: specs[2].name},
               "seen": {a: witness(a), b: witness(b), c: witness(c)}}
    finally:
        oardel(jobs, tb.frontend_connection_params)
        g5k_configuration.clear()
        g5k_configuration.update(saved)


def test_job_documents_are_the_real_jobs(real_jobs, g5k_api_oar):
    j, api = real_jobs, get_connection()
    a, b, c, seen = j["a"], j["b"], j["c"], j["seen"]
    assert seen[a]["nodes"] and len(seen[a]["nodes"]) == 2 and seen[b]["nodes"] == HOSTS
    assert len(seen[c]["nodes"]) == 1 and seen[c]["state"] == "Running"

    doc = api.get_json("sites/rennes/jobs/%d" % a)
    assert {k: doc[k] for k in ("uid", "user", "user_uid", "state", "queue", "walltime", "name", "mode",
                                "started_at", "scheduled_at", "assigned_nodes")} == {
        "uid": a, "user": "oaruser", "user_uid": "oaruser", "state": "waiting", "queue": "default",
        "walltime": 1800, "name": j["names"][a], "mode": "PASSIVE",
        "started_at": j["r_a"], "scheduled_at": j["r_a"], "assigned_nodes": seen[a]["nodes"]}
    assert sorted(doc["resources_by_type"]["cores"]) == sorted("%s/%d" % (h, cpu) for h in seen[a]["nodes"]
                                                               for cpu in (0, 1))
    assert "stopped_at" not in doc and "exit_code" not in doc and isinstance(doc["events"], list)
    assert "origin=execo" in doc["types"] and doc["directory"] == "/home/oaruser"
    assert doc["links"] == [
        {"rel": "self", "href": "/3.0/sites/rennes/jobs/%d" % a, "type": "application/vnd.grid5000.item+json"},
        {"rel": "parent", "href": "/3.0/sites/rennes", "type": "application/vnd.grid5000.item+json"}]

    doc = api.get_json("sites/rennes/jobs/%d" % c)
    assert (doc["state"], doc["started_at"], doc["walltime"], doc["assigned_nodes"]) == \
        ("running", seen[c]["start"], 600, seen[c]["nodes"])
    assert "allow_classic_ssh" in doc["types"] and doc["mode"] == "PASSIVE"

    # the list: filters on state and user, newest first, paging with a total
    listed = api.get_json("sites/rennes/jobs", {"state": "waiting,running", "user": "oaruser"})
    ids = [item["uid"] for item in listed["items"]]
    assert {a, b, c} <= set(ids) and ids == sorted(ids, reverse=True) and listed["total"] == len(ids)
    assert "assigned_nodes" not in listed["items"][0]  # only with resources=yes, as the API does
    assert [i["uid"] for i in api.get_json("sites/rennes/jobs", {"state": "running", "name": j["names"][c]})
            ["items"]] == [c]
    assert api.get_json("sites/rennes/jobs", {"state": "waiting", "user": "nobody"})["total"] == 0
    pages = [api.get_json("sites/rennes/jobs", {"state": "waiting,running", "user": "oaruser", "limit": "1",
                                                "offset": str(k)}) for k in range(len(ids))]
    assert [p["items"][0]["uid"] for p in pages] == ids and {p["total"] for p in pages} == {len(ids)}
    assert [p["offset"] for p in pages] == list(range(len(ids)))
    # without a state: every job OAR knows, finished ones too, a page at a time
    everything = api.get_json("sites/rennes/jobs", {"limit": "3", "offset": "0"})
    assert len(everything["items"]) == 3 and everything["total"] >= len(ids)
    newest = [i["uid"] for i in everything["items"]]
    assert newest == sorted(newest, reverse=True) and newest[0] >= max(a, b, c)
    missing = requests.get(g5k_api_oar.base_uri + "sites/rennes/jobs/999999", timeout=30)
    assert missing.status_code == 404 and missing.text == "Cannot find resource /sites/rennes/jobs/999999"
    # other sites keep their simulated (here: no) jobs
    assert api.get_json("sites/lille/jobs", {"state": "running"})["total"] == 0


def test_status_follows_the_oar_jobs(real_jobs, g5k_api_oar):
    j = real_jobs
    a, b, c, seen = j["a"], j["b"], j["c"], j["seen"]
    status = get_connection().get_json("sites/rennes/clusters/paravance/status")
    busy_node = seen[c]["nodes"][0]
    for host in HOSTS:
        node = status["nodes"][host]
        expected = {b} | ({a} if host in seen[a]["nodes"] else set()) | ({c} if host == busy_node else set())
        assert {r["uid"] for r in node["reservations"]} >= expected
        assert all("events" not in r and "assigned_nodes" not in r for r in node["reservations"])
        assert node["hard"] == "alive"
        if host == busy_node:  # C holds both OAR cores of its node: all 16 reference cores busy
            assert (node["soft"], node["busy_slots"], node["free_slots"]) == ("busy", 16, 0)
    assert status["nodes"]["paravance-5.rennes.grid5000.fr"] == {
        "hard": "alive", "soft": "free", "free_slots": 16, "freeable_slots": 0, "busy_slots": 0,
        "reservations": []}


def test_planning_and_slots_match_the_real_jobs(real_jobs, g5k_api_oar):
    j = real_jobs
    a, c, r_a, r_b, seen = j["a"], j["c"], j["r_a"], j["r_b"], j["seen"]
    start = int(time.time())
    end = r_b + 3600 + M + 7200
    planning = get_planning(HOSTS, starttime=start, endtime=end)
    assert list(planning) == ["rennes"] and list(planning["rennes"]) == ["paravance"]
    c_end = seen[c]["start"] + 600 + M
    assert seen[c]["start"] <= start < c_end and 1800 <= r_a - c_end < 3600  # the premises of the slots below
    expected = {}
    for host in HOSTS:  # by hand: C now (clipped to the window), A on its two nodes, B everywhere
        busy = [(start, c_end)] if host in seen[c]["nodes"] else []
        busy += [(r_a, r_a + 1800 + M)] if host in seen[a]["nodes"] else []
        busy += [(r_b, r_b + 3600 + M)]
        free, t = [], start
        for s, e in busy:
            if s > t:
                free.append((t, s))
            t = e
        free.append((t, end))
        expected[host] = busy
        assert planning["rennes"]["paravance"][host] == {"busy": busy, "free": free}, host

    def free_hosts(t, walltime):
        """Hosts with no busy period meeting [t, t + walltime], counted by hand."""
        return sum(1 for busy in expected.values() if all(e <= t or s >= t + walltime for s, e in busy))

    # 4 nodes for 30 min: once C is over (A starts about 48 min later)
    slots = compute_slots(planning, "0:30:00")
    assert find_free_slot(slots, {"paravance": 4})[0] == c_end
    assert [slot[2]["paravance"] for slot in slots] == [free_hosts(slot[0], 1800) for slot in slots]
    # 4 nodes for 1 h: not between C and A, nor between A and B (28 min): only after B
    slots = compute_slots(planning, "1:00:00")
    assert [slot[2]["paravance"] for slot in slots] == [free_hosts(slot[0], 3600) for slot in slots]
    assert [slot[0] for slot in slots] == sorted({start, c_end, r_a, r_a + 1800 + M, r_b, r_b + 3600 + M})
    first_start, first_end, first_free = find_free_slot(slots, {"paravance": 4})
    assert (first_start, first_end) == (r_b + 3600 + M, r_b + 3600 + M + 3600)
    assert first_free["paravance"] == first_free["rennes"] == first_free["grid5000"] == 4
    # 1 node for 1 h: right now (the nodes neither C nor A holds are free until B)
    assert find_first_slot(slots, {"paravance": 1})[0] == start
    assert find_max_slot(slots, {"paravance": 0})[0] == first_start


def test_show_all_jobs_lists_the_real_jobs(real_jobs, g5k_api_oar, capsys):
    j = real_jobs
    code = g5k_show_all_jobs.main(["-s", "rennes", "-u", "oaruser"])
    out = capsys.readouterr().out
    assert code == 0
    rows = {line.split()[1]: line for line in out.splitlines()[1:]}
    for job_id, state, walltime, start, nodes in (
            (j["a"], "waiting", 1800, j["r_a"], 2), (j["b"], "waiting", 3600, j["r_b"], 4),
            (j["c"], "running", 600, j["seen"][j["c"]]["start"], 1)):
        line = rows[str(job_id)]
        assert line.startswith("rennes ") and " oaruser " in line and " %s " % state in line
        assert format_date(start) in line and format_seconds(walltime) in line
        assert line.split()[-2:] == [j["names"][job_id], str(nodes)]


def test_oar_backend_errors_name_the_culprit(oar_testbed):
    # the testbed's nodes are paravance nodes: they are no hosts of grenoble
    with pytest.raises(ValueError, match="OAR node node-1 maps to paravance-1.grenoble.grid5000.fr, which is "
                                         "not a host of the reference site grenoble"):
        G5kAPIStandin(oar_api=DEFAULT_OAR_API, oar_site="grenoble", oar_cluster="dahu").start()
    with pytest.raises(ValueError, match="OAR-backed cluster 'nowhere' is not a cluster of rennes"):
        G5kAPIStandin(oar_api=DEFAULT_OAR_API, oar_cluster="nowhere")
    # no OAR there: the start fails naming the URL
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ValueError, match=r"cannot serve rennes's jobs from OAR: GET http://127.0.0.1:%d/oarapi/"
                                         r"resources/full.json\S* failed" % port):
        G5kAPIStandin(oar_api="http://127.0.0.1:%d/oarapi" % port).start()
    # OAR going away later: 502 naming OAR's URL, for the jobs and for the status
    with G5kAPIStandin() as server:
        server.state.oar_sites["rennes"] = OarJobs(server.state.reference, oar_api="http://127.0.0.1:%d/oarapi" % port)
        for path in ("sites/rennes/jobs?state=running", "sites/rennes/status", "sites/rennes/jobs/3"):
            answer = requests.get(server.base_uri + path, timeout=30)
            assert answer.status_code == 502 and answer.headers["Content-Type"].startswith("text/plain")
            assert answer.text.startswith("OAR backend failed: GET http://127.0.0.1:%d/oarapi/" % port), answer.text
        assert requests.get(server.base_uri + "sites/lille/jobs", timeout=30).json()["total"] == 0


def test_a_job_that_never_had_resources(oar_config, g5k_api_oar):
    """A held job deleted before it ran ends in Error without resources: OAR's lists leave it
    out, but its document is still served, as g5k-api serves it from the database."""
    tb = oar_config
    name = tb.name("held")
    jobs = oarsub([(OarSubmission("nodes=1", walltime="0:05:00", name=name, additional_options="--hold"),
                    tb.frontend)], tb.frontend_connection_params)
    tb.track(jobs)
    [(job_id, _)] = jobs
    assert job_id, getattr(jobs[0], "error", None)
    api = get_connection()
    assert api.get_json("sites/rennes/jobs/%d" % job_id)["state"] == "hold"
    oardel(jobs, tb.frontend_connection_params)
    tb.wait_state(job_id, ("Error",), timeout=60)
    doc = api.get_json("sites/rennes/jobs/%d" % job_id)
    assert (doc["uid"], doc["state"], doc["name"], doc["walltime"], doc["assigned_nodes"]) == \
        (job_id, "error", name, 300, [])
    assert any(e["type"] == "FRAG_JOB_REQUEST" for e in doc["events"])

