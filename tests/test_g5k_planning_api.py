"""get_planning from the API stand-in's status and jobs endpoints, on a known set of jobs
(busy and free periods computed by hand), get_hosts_jobs, get_api_job_by_name, and the pictures."""

import time

import pytest

from execo_g5k import APIException
from execo_g5k.api_utils import UnknownElement
from execo_g5k.planning import (compute_slots, draw_gantt, draw_slots, find_free_slot, get_api_job_by_name,
                                get_hosts_jobs, get_planning, get_site_jobs)

T0 = 1_700_000_000
END = T0 + 10 * 3600
M = 121
TROLL = ["troll-%d.grenoble.grid5000.fr" % i for i in range(1, 5)]
YETI = ["yeti-%d.grenoble.grid5000.fr" % i for i in range(1, 5)]
GEMINI = ["gemini-%d.lyon.grid5000.fr" % i for i in range(1, 3)]


def job(uid, nodes, start, walltime, state="running", queue="default", scheduled=False, **more):
    doc = {"uid": uid, "user": "alice", "user_uid": "alice", "state": state, "queue": queue, "walltime": walltime,
           "types": [], "mode": "PASSIVE", "command": "sleep 1", "submitted_at": start - 10,
           "assigned_nodes": list(nodes), "resources_by_type": {"cores": ["%s/0" % n for n in nodes]}}
    doc["scheduled_at" if scheduled else "started_at"] = start
    doc.update(more)
    return doc


@pytest.fixture
def jobs(g5k_api):
    state = g5k_api.state
    state.jobs["grenoble"] = [
        job(1, TROLL[:2], T0 - 1800, 3600),                                   # busy T0 .. T0+1800+M
        job(2, [TROLL[2]], T0 + 7200, 3600, state="waiting", scheduled=True),  # busy T0+2h .. T0+3h+M
        job(3, YETI, T0, 36000, queue="besteffort"),                          # ignored
        job(4, [YETI[0]], T0 + 3600, 1800, resources_by_type={"vlans": ["4"], "cores": []}),
        job(5, [TROLL[3]], T0 - 99999, 60, state="terminated"),               # not active: not listed
    ]
    state.jobs["lyon"] = [job(7, GEMINI, T0 + 600, 600, name="myxp")]
    state.node_states[YETI[3]] = "dead"
    return state


def test_planning_of_clusters_on_known_jobs(jobs):
    planning = get_planning(["troll", "yeti"], starttime=T0, endtime=END)
    assert list(planning) == ["grenoble"] and sorted(planning["grenoble"]) == ["troll", "yeti"]
    troll, yeti = planning["grenoble"]["troll"], planning["grenoble"]["yeti"]
    assert troll[TROLL[0]] == {"busy": [(T0, T0 + 1800 + M)], "free": [(T0 + 1800 + M, END)]}
    assert troll[TROLL[1]] == troll[TROLL[0]]
    assert troll[TROLL[2]] == {"busy": [(T0 + 7200, T0 + 10800 + M)],
                               "free": [(T0, T0 + 7200), (T0 + 10800 + M, END)]}
    assert troll[TROLL[3]] == {"busy": [], "free": [(T0, END)]}
    assert yeti[YETI[0]] == {"busy": [(T0 + 3600, T0 + 5400 + M)], "free": [(T0, T0 + 3600), (T0 + 5400 + M, END)]}
    assert yeti[YETI[1]] == {"busy": [], "free": [(T0, END)]}  # besteffort ignored
    assert YETI[3] not in yeti  # dead
    requests = jobs.request_paths()
    assert "/3.0/sites/grenoble/status" in requests and "/3.0/sites/grenoble/jobs" in requests
    assert "/3.0/sites/lyon/status" not in requests
    jobs_query = [r["query"] for r in jobs.requests if r["path"] == "/3.0/sites/grenoble/jobs"][0]
    assert jobs_query["state"] == "waiting,launching,running" and jobs_query["resources"] == "yes"


def test_slots_of_that_planning(jobs):
    planning = get_planning(["troll", "yeti"], starttime=T0, endtime=END)
    slots = compute_slots(planning, 3600)
    by_start = {s[0]: s[2] for s in slots}
    # at T0: troll-3 (until T0+2h), troll-4, yeti-1 (free up to T0+1h exactly), yeti-2, yeti-3
    assert by_start[T0] == {"grid5000": 5, "grenoble": 5, "troll": 2, "yeti": 3}
    # after job 1 ends (T0+1921, an hour until T0+5521): every troll (troll-3 is taken at T0+2h
    # only), yeti-2 and yeti-3 (yeti-1 is taken at T0+1h)
    assert by_start[T0 + 1800 + M] == {"grid5000": 6, "grenoble": 6, "troll": 4, "yeti": 2}
    start, end, free = find_free_slot(slots, {"troll": 3, "yeti": 3})
    assert (start, end) == (T0 + 5400 + M, T0 + 9000 + M)  # yeti-1 free again; troll-3 taken at T0+2h
    assert free["troll"] == 3 and free["yeti"] == 3


def test_planning_of_a_site_a_host_and_besteffort(jobs):
    planning = get_planning(["grenoble"], starttime=T0, endtime=END)
    assert sorted(planning["grenoble"]) == ["dahu", "troll", "yeti"] and len(planning["grenoble"]["dahu"]) == 32
    planning = get_planning([TROLL[2], "gemini-1"], starttime=T0, endtime=END)
    assert planning == {"grenoble": {"troll": {TROLL[2]: {"busy": [(T0 + 7200, T0 + 10800 + M)],
                                                          "free": [(T0, T0 + 7200), (T0 + 10800 + M, END)]}}},
                        "lyon": {"gemini": {GEMINI[0]: {"busy": [(T0 + 600, T0 + 1200 + M)],
                                                        "free": [(T0, T0 + 600), (T0 + 1200 + M, END)]}}}}
    planning = get_planning(["yeti"], starttime=T0, endtime=END, ignore_besteffort=False)
    assert planning["grenoble"]["yeti"][YETI[1]] == {"busy": [(T0, END)], "free": []}


def test_vlans_are_planned_from_the_jobs_vlans(jobs):
    planning = get_planning(["troll"], vlan=True, starttime=T0, endtime=END)
    vlans = planning["grenoble"]["vlans"]
    assert sorted(vlans, key=lambda v: int(v.split("-")[1])) == ["kavlan-%d" % i for i in range(4, 10)] + ["kavlan-11"]
    assert vlans["kavlan-4"]["busy"] == [(T0 + 3600, T0 + 5400 + M)]
    assert vlans["kavlan-5"] == {"busy": [], "free": [(T0, END)]}
    by_start = {slot[0]: slot[2] for slot in compute_slots(planning, 3600)}
    assert by_start[T0]["kavlan"] == 6  # the local routed vlans 4..9 (4 is taken at T0+1h exactly)
    assert by_start[T0 + 1800 + M]["kavlan"] == 5  # 4 is taken within that hour


def test_unknown_elements_and_api_errors(jobs, g5k_api):
    with pytest.raises(UnknownElement, match="'atlantis'"):
        get_planning(["atlantis"])
    with pytest.raises(UnknownElement, match="'troll-99'"):
        get_planning(["troll-99"])
    g5k_api.state.add_fault(r"/sites/grenoble/status$", "status", status=500, times=None)
    with pytest.raises(APIException, match="sites/grenoble/status"):
        get_planning(["troll"], starttime=T0, endtime=END)


def test_jobs_are_read_page_by_page(g5k_api):
    g5k_api.state.jobs["lille"] = [job(i, ["chetemi-1.lille.grid5000.fr"], T0 + 10 * i, 5) for i in range(1, 1201)]
    assert sorted(j["uid"] for j in get_site_jobs("lille")) == list(range(1, 1201))
    offsets = [r["query"]["offset"] for r in g5k_api.state.requests if r["path"] == "/3.0/sites/lille/jobs"]
    assert offsets == ["0", "500", "1000"]


def test_get_hosts_jobs_reserves_when_all_hosts_are_free(g5k_api):
    now = int(time.time())
    g5k_api.state.jobs["grenoble"] = [job(1, [TROLL[0]], now - 600, 4 * 3600),        # until now+3h20+M
                                      job(2, [TROLL[1]], now + 3600, 3600)]           # from now+1h
    specs = get_hosts_jobs([TROLL[0], TROLL[1], "gemini-2"], "1:00:00")
    by_site = {site: spec for spec, site in specs}
    assert sorted(by_site) == ["grenoble", "lyon"]
    expected_start = now - 600 + 4 * 3600 + M
    assert by_site["grenoble"].resources == "{host IN ('%s', '%s')}/nodes=2" % (TROLL[0], TROLL[1])
    assert by_site["lyon"].resources == "{host IN ('gemini-2.lyon.grid5000.fr')}/nodes=1"
    assert all(abs(spec.reservation_date - expected_start) <= 1 and spec.walltime == 3600 for spec, _ in specs)
    g5k_api.state.jobs["grenoble"].append(job(3, [TROLL[2]], now, 60 * 86400))
    with pytest.raises(ValueError, match="never all free"):
        get_hosts_jobs([TROLL[2]], 3600)


def test_get_api_job_by_name(jobs):
    assert get_api_job_by_name("myxp") == (7, "lyon")
    assert get_api_job_by_name("myxp", sites=["grenoble"]) == (None, None)
    assert get_api_job_by_name("myxp", user="bob") == (None, None)
    assert [r["query"].get("name") for r in jobs.requests if r["path"] == "/3.0/sites/lyon/jobs"] == ["myxp", "myxp"]


def test_gantt_and_slots_pictures_are_pngs(jobs, tmp_path):
    image = pytest.importorskip("matplotlib.image")
    planning = get_planning(["grenoble", "gemini"], starttime=T0, endtime=END)
    gantt = draw_gantt(planning, outfile=str(tmp_path / "gantt.png"))
    assert gantt == str(tmp_path / "gantt.png")
    with open(gantt, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    height, width = image.imread(gantt).shape[:2]
    assert width == 1400 and height > 400  # one line per host: 41 hosts
    slots_png = draw_slots(compute_slots(planning, 3600), outfile=str(tmp_path / "slots.png"))
    assert image.imread(slots_png).shape[:2] == (600, 1400)
    assert draw_gantt(planning, save=False) is None
