"""Planning on a known set of jobs: busy/free intervals and slots, all computed by hand below."""

import pytest

from execo_g5k.planning import (compute_slots, find_first_slot, find_free_slot, find_max_slot, job_interval,
                                max_resources, planning_from_jobs)
from execo_g5k.slots import complete_planning, free_intervals, merge_intervals, truncate_intervals

T0 = 1_700_000_000          # planning window start
END = T0 + 10 * 3600        # planning window end
M = 121                     # margin execo adds to each job's end

P1, P2, P3 = ("paravance-%d.rennes.grid5000.fr" % i for i in (1, 2, 3))
S1 = "parasilo-1.rennes.grid5000.fr"
N1, N2 = ("nova-%d.lyon.grid5000.fr" % i for i in (1, 2))
HOSTS = {"rennes": {"paravance": [P1, P2, P3], "parasilo": [S1]}, "lyon": {"nova": [N1, N2]}}

JOBS = [
    # running since an hour before the window, 2 h walltime: busy until T0 + 3600 + 121
    {"uid": 1, "state": "running", "queue": "default", "started_at": T0 - 3600, "walltime": 7200,
     "assigned_nodes": [P1, P2]},
    # waiting, scheduled at T0 + 2 h for 1 h: started_at absent, scheduled_at used
    {"uid": 2, "state": "waiting", "queue": "default", "scheduled_at": T0 + 7200, "walltime": 3600,
     "assigned_nodes": [P3]},
    # started_at 0 also means "use scheduled_at"
    {"uid": 3, "state": "running", "queue": "default", "started_at": 0, "scheduled_at": T0, "walltime": 1800,
     "assigned_nodes": [N1]},
    # besteffort: ignored by default
    {"uid": 4, "state": "running", "queue": "besteffort", "started_at": T0, "walltime": 36000,
     "assigned_nodes": [S1]},
    # not scheduled yet: no start date, ignored
    {"uid": 5, "state": "waiting", "queue": "default", "walltime": 3600, "assigned_nodes": [N2]},
    # a node outside the planning: ignored
    {"uid": 6, "state": "running", "queue": "default", "started_at": T0, "walltime": 60,
     "assigned_nodes": ["dahu-1.grenoble.grid5000.fr"]},
]


@pytest.fixture
def planning():
    return planning_from_jobs(HOSTS, JOBS, T0, END)


def test_busy_and_free_intervals(planning):
    rennes, lyon = planning["rennes"], planning["lyon"]
    assert rennes["paravance"][P1] == {"busy": [(T0, T0 + 3600 + M)], "free": [(T0 + 3600 + M, END)]}
    assert rennes["paravance"][P2] == rennes["paravance"][P1]
    assert rennes["paravance"][P3] == {"busy": [(T0 + 7200, T0 + 10800 + M)],
                                       "free": [(T0, T0 + 7200), (T0 + 10800 + M, END)]}
    assert rennes["parasilo"][S1] == {"busy": [], "free": [(T0, END)]}
    assert lyon["nova"][N1] == {"busy": [(T0, T0 + 1800 + M)], "free": [(T0 + 1800 + M, END)]}
    assert lyon["nova"][N2] == {"busy": [], "free": [(T0, END)]}
    assert max_resources(planning) == {"grid5000": 6, "rennes": 4, "paravance": 3, "parasilo": 1,
                                       "lyon": 2, "nova": 2}


def test_besteffort_counts_when_asked():
    planning = planning_from_jobs(HOSTS, JOBS, T0, END, ignore_besteffort=False)
    assert planning["rennes"]["parasilo"][S1] == {"busy": [(T0, END)], "free": []}


def test_slots_for_one_hour(planning):
    h = 3600
    slots = compute_slots(planning, "1:00:00")
    expected = [
        # at T0: free for 1 h are P3 (free until T0+2h), S1, N2
        [T0, T0 + h, {"grid5000": 3, "rennes": 2, "paravance": 1, "parasilo": 1, "lyon": 1, "nova": 1}],
        # N1 is back at T0+1921; P1, P2 still busy
        [T0 + 1921, T0 + 1921 + h, {"grid5000": 4, "rennes": 2, "paravance": 1, "parasilo": 1, "lyon": 2,
                                    "nova": 2}],
        # P1, P2 back at T0+3721; P3 no longer free for a whole hour (its job starts at T0+7200)
        [T0 + 3721, T0 + 3721 + h, {"grid5000": 5, "rennes": 3, "paravance": 2, "parasilo": 1, "lyon": 2,
                                    "nova": 2}],
        [T0 + 7200, T0 + 7200 + h, {"grid5000": 5, "rennes": 3, "paravance": 2, "parasilo": 1, "lyon": 2,
                                    "nova": 2}],
        # P3's job is over at T0+10921: everything free
        [T0 + 10921, T0 + 10921 + h, {"grid5000": 6, "rennes": 4, "paravance": 3, "parasilo": 1, "lyon": 2,
                                      "nova": 2}],
    ]
    assert slots == expected


def test_slots_for_five_hours_and_walltime_forms(planning):
    from datetime import timedelta
    slots = compute_slots(planning, 5 * 3600)
    assert compute_slots(planning, timedelta(hours=5)) == slots
    # 5 h from T0: P3 is busy at T0+2h, N1 busy until T0+1921 -> S1, N2
    assert slots[0][2] == {"grid5000": 2, "rennes": 1, "paravance": 0, "parasilo": 1, "lyon": 1, "nova": 1}
    # 5 h from T0+7200 would end after P3's job starts: P3 not counted even though its job ends before
    assert slots[3][0] == T0 + 7200 and slots[3][2]["paravance"] == 2
    with pytest.raises(ValueError, match="positive walltime"):
        compute_slots(planning, 0)


def test_excluded_elements_and_hosts(planning):
    slots = compute_slots(planning, 3600, excluded_elements=["parasilo", N2])
    assert slots[0][2] == {"grid5000": 1, "rennes": 1, "paravance": 1, "lyon": 0, "nova": 0}
    assert planning["rennes"]["parasilo"]  # the input is not modified
    with_hosts = compute_slots(planning, 3600, include_hosts=True)
    assert {h: with_hosts[0][2][h] for h in (P1, P2, P3, S1, N1, N2)} == {P1: 0, P2: 0, P3: 1, S1: 1, N1: 0, N2: 1}
    assert compute_slots(planning, 3600, excluded_elements=["lyon"])[0][2] == {
        "grid5000": 2, "rennes": 2, "paravance": 1, "parasilo": 1}


def test_find_slots(g5k_api, planning):
    slots = compute_slots(planning, 3600)
    assert find_first_slot(slots, {"nova": 0})[0] == T0
    assert find_first_slot(slots, {"paravance": 0, "nova": 0})[0] == T0
    assert find_free_slot(slots, {"paravance": 2})[0] == T0 + 3721
    assert find_free_slot(slots, {"grid5000": 6})[0] == T0 + 10921
    assert find_free_slot(slots, {"lyon": 2})[0] == T0 + 1921
    # a cluster's nodes come on top of its site's: rennes needs 1 + 2 = 3 free nodes
    assert find_free_slot(slots, {"rennes": 1, "paravance": 2})[0] == T0 + 3721
    assert find_free_slot(slots, {"rennes": 3, "paravance": 2}) == (None, None, None)
    assert find_max_slot(slots, {"grid5000": 0})[0] == T0 + 10921
    assert find_max_slot(slots, {"lyon": 0})[0] == T0 + 1921
    assert find_max_slot(slots, {"paravance": 0, "nova": 0})[0] == T0 + 10921
    with pytest.raises(ValueError, match="absent from the slots.*lyonn"):
        find_free_slot(slots, {"lyonn": 1})
    assert find_first_slot([], {"lyon": 1}) == (None, None, None)


def test_vlans_one_site_and_global(g5k_api):
    jobs = [{"uid": 7, "queue": "default", "started_at": T0, "walltime": 3600 - M,
             "assigned_nodes": [P1], "resources_by_type": {"vlans": ["4"]}},
            {"uid": 8, "queue": "default", "started_at": T0, "walltime": 7200 - M,
             "assigned_nodes": [N1], "resources_by_type": {"vlans": ["16"]}}]
    one_site = planning_from_jobs({"rennes": HOSTS["rennes"]}, jobs, T0, END,
                                  vlans={"rennes": ["kavlan-4", "kavlan-5"]})
    assert one_site["rennes"]["vlans"]["kavlan-4"]["busy"] == [(T0, T0 + 3600)]
    slots = compute_slots(one_site, 3600)
    assert [(s[0] - T0, s[2]["kavlan"]) for s in slots] == [(0, 1), (3600, 2)]
    wanted = {"paravance": 3, "kavlan": True}
    assert find_free_slot(slots, wanted)[0] == T0 + 3600 and wanted["kavlan"] == 2

    both = planning_from_jobs(HOSTS, jobs, T0, END, vlans={"rennes": ["kavlan-14"], "lyon": ["kavlan-16"]})
    slots = compute_slots(both, 3600)
    assert [(s[0] - T0, s[2]["kavlan"]) for s in slots] == [(0, ["rennes"]), (3600, ["rennes"]),
                                                            (7200, ["rennes", "lyon"])]
    none_free = planning_from_jobs({"rennes": HOSTS["rennes"]}, [dict(jobs[0], walltime=36000)], T0, END,
                                   vlans={"rennes": ["kavlan-4"]})
    assert find_first_slot(compute_slots(none_free, 3600), {"rennes": 0, "kavlan": 1}) == (None, None, None)


def test_interval_helpers():
    assert merge_intervals([(5, 7), (1, 3), (2, 4), (4, 5), (9, 10)]) == [(1, 7), (9, 10)]
    assert merge_intervals([(1, 10), (2, 3)]) == [(1, 10)]
    assert truncate_intervals([(0, 5), (6, 8), (9, 20), (25, 30)], 4, 12) == [(4, 5), (6, 8), (9, 12)]
    assert free_intervals([(4, 5), (6, 8)], 4, 12) == [(5, 6), (8, 12)]
    assert free_intervals([], 4, 12) == [(4, 12)]
    assert job_interval({"started_at": 100, "walltime": 10}) == (100, 100 + 10 + M)
    assert job_interval({"started_at": 0, "scheduled_at": 0, "walltime": 10}) is None
    with pytest.raises(ValueError, match="ends .* before it starts"):
        planning_from_jobs(HOSTS, [], END, T0)


def test_out_of_chart_marks_charter_periods_busy():
    # Monday 2024-05-13: charter period 09:00-19:00 Paris = 07:00-17:00 UTC
    monday_7h_utc = 1_715_583_600
    start, end = monday_7h_utc - 3600, monday_7h_utc + 12 * 3600
    planning = complete_planning({"lyon": {"nova": {N2: {"busy": []}}}}, start, end, out_of_chart=True)
    assert planning["lyon"]["nova"][N2] == {"busy": [(monday_7h_utc, monday_7h_utc + 10 * 3600)],
                                           "free": [(start, monday_7h_utc), (monday_7h_utc + 10 * 3600, end)]}
