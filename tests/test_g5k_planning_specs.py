"""get_jobs_specs and distribute_hosts on the real reference (stand-in API), and the charter dates.

Charter timestamps are written by hand in UTC: Paris is UTC+1 in winter (CET), UTC+2 in summer
(CEST); the 2024 switch to summer time was on Sunday March 31, which was also Easter Sunday.
"""

import datetime

import pytest

from execo_g5k.charter import french_holidays, g5k_charter_time, get_charter_el_planning, get_next_charter_period
from execo_g5k.oar_submission import OarSubmission
from execo_g5k.planning import distribute_hosts, get_jobs_specs


def utc(*args):
    return datetime.datetime(*args, tzinfo=datetime.timezone.utc).timestamp()


def specs_as_text(specs):
    return [(s.resources, s.name, site) for s, site in specs]


@pytest.fixture(autouse=True)
def api(g5k_api):
    return g5k_api


def test_site_cluster_and_host_requests():
    specs = get_jobs_specs({"lyon": 10, "paravance": 4, "rennes": 2,
                            "dahu-10.grenoble.grid5000.fr": 1, "dahu-3.grenoble.grid5000.fr": 1}, name="xp")
    assert all(isinstance(s, OarSubmission) for s, _ in specs)
    assert specs_as_text(specs) == [
        ("nodes=10", "xp", "lyon"),
        ("{cluster='paravance'}/nodes=4+nodes=2", "xp", "rennes"),
        ("{host IN ('dahu-3.grenoble.grid5000.fr', 'dahu-10.grenoble.grid5000.fr')}/nodes=2", "xp", "grenoble"),
    ]
    assert repr(specs[0][0]) == "OarSubmission(resources='nodes=10', name='xp')"


def test_excluded_hosts_and_clusters_become_constraints():
    specs = get_jobs_specs({"rennes": 5, "paravance": 2, "nancy": 1},
                           excluded_elements=["parasilo", "paravance-3.rennes.grid5000.fr", "nancy"])
    assert specs_as_text(specs) == [(
        "{cluster='paravance' AND host NOT IN ('paravance-3.rennes.grid5000.fr')}/nodes=2"
        "+{host NOT IN ('paravance-3.rennes.grid5000.fr') AND cluster NOT IN ('parasilo')}/nodes=5",
        None, "rennes")]


def test_kavlan_local_and_global():
    assert specs_as_text(get_jobs_specs({"rennes": 2, "kavlan": 1})) == [
        ("nodes=2+{type='kavlan'}/vlan=1", None, "rennes")]
    assert specs_as_text(get_jobs_specs({"rennes": 2, "lyon": 3, "kavlan": ["lyon"]})) == [
        ("nodes=2", None, "rennes"), ("nodes=3+{type='kavlan-global'}/vlan=1", None, "lyon")]


def test_bad_element_is_named():
    with pytest.raises(ValueError, match="'lyonn' is neither a site, a cluster"):
        get_jobs_specs({"lyonn": 2})


AVAILABLE = {"grid5000": 10, "rennes": 6, "paravance": 4, "parasilo": 2, "lyon": 4, "nova": 4, "kavlan": 3}


def test_grid5000_nodes_go_round_robin_over_sites():
    available = dict(AVAILABLE)
    assert distribute_hosts(available, {"grid5000": 5}) == {"rennes": 3, "lyon": 2}
    assert available == AVAILABLE
    # all free nodes: rennes, lyon, rennes, lyon, ... until lyon's 4 are used
    assert distribute_hosts(AVAILABLE, {"grid5000": 0}) == {"rennes": 6, "lyon": 4}
    assert distribute_hosts(AVAILABLE, {"grid5000": 0}, ratio=0.5) == {"rennes": 3, "lyon": 2}


def test_clusters_then_sites_then_grid5000():
    assert distribute_hosts(AVAILABLE, {"paravance": 2, "grid5000": 0}) == {"paravance": 2, "rennes": 4, "lyon": 4}
    assert distribute_hosts(AVAILABLE, {"lyon": 0, "rennes": 2}, excluded_elements=["parasilo"]) == \
        {"lyon": 4, "rennes": 2}
    # rennes without parasilo has 4 nodes: 2 taken by the site request leave 2 for grid5000
    assert distribute_hosts(AVAILABLE, {"rennes": 2, "grid5000": 0}, excluded_elements=["parasilo", "lyon"]) == \
        {"rennes": 4}
    assert distribute_hosts(AVAILABLE, {"rennes": 1, "kavlan": 1}) == {"rennes": 1, "kavlan": 3}


def test_not_enough_nodes_is_an_error():
    with pytest.raises(ValueError, match="11 grid5000 nodes wanted, only 10 free"):
        distribute_hosts(AVAILABLE, {"grid5000": 11})


def test_french_holidays_2024():
    d = datetime.date
    assert french_holidays(2024) == {d(2024, 1, 1), d(2024, 4, 1), d(2024, 5, 1), d(2024, 5, 8), d(2024, 5, 9),
                                     d(2024, 5, 20), d(2024, 7, 14), d(2024, 8, 15), d(2024, 11, 1),
                                     d(2024, 11, 11), d(2024, 12, 25)}
    assert d(2025, 4, 21) in french_holidays(2025)  # Easter Monday 2025


def test_charter_time():
    assert g5k_charter_time(utc(2024, 5, 7, 8, 0))            # Tuesday 10:00 CEST
    assert g5k_charter_time(utc(2024, 5, 7, 16, 59, 59))      # 18:59:59 CEST
    assert not g5k_charter_time(utc(2024, 5, 7, 17, 0))       # 19:00 CEST
    assert not g5k_charter_time(utc(2024, 5, 7, 6, 59))       # 08:59 CEST
    assert not g5k_charter_time(utc(2024, 5, 8, 8, 0))        # May 8, a holiday
    assert not g5k_charter_time(utc(2024, 5, 11, 10, 0))      # Saturday
    assert g5k_charter_time(utc(2024, 1, 16, 8, 30))          # Tuesday 09:30 CET
    assert not g5k_charter_time(utc(2024, 1, 16, 7, 30))      # 08:30 CET
    assert g5k_charter_time(datetime.datetime(2024, 1, 16, 8, 30, tzinfo=datetime.timezone.utc))


def test_next_charter_period():
    # Friday 20:00 CEST -> Monday 09:00-19:00 CEST
    assert get_next_charter_period(utc(2024, 5, 10, 18), utc(2024, 5, 15)) == (utc(2024, 5, 13, 7), utc(2024, 5, 13, 17))
    # inside a period: it starts at start
    assert get_next_charter_period(utc(2024, 5, 7, 8, 30), utc(2024, 5, 9)) == (utc(2024, 5, 7, 8, 30), utc(2024, 5, 7, 17))
    # Tuesday evening: Wednesday is May 8 and Thursday Ascension -> Friday
    assert get_next_charter_period(utc(2024, 5, 7, 18), utc(2024, 5, 31)) == (utc(2024, 5, 10, 7), utc(2024, 5, 10, 17))
    # end inside the period clips it; end before it means none
    assert get_next_charter_period(utc(2024, 5, 13, 6), utc(2024, 5, 13, 9)) == (utc(2024, 5, 13, 7), utc(2024, 5, 13, 9))
    assert get_next_charter_period(utc(2024, 5, 10, 18), utc(2024, 5, 11, 21)) == (None, None)
    assert get_next_charter_period(utc(2024, 5, 13, 9), utc(2024, 5, 13, 8)) == (None, None)
    # Friday March 29 20:00 CET, DST on Sunday, Easter Monday off -> Tuesday 09:00 CEST = 07:00 UTC
    assert get_next_charter_period(utc(2024, 3, 29, 19), utc(2024, 4, 5)) == (utc(2024, 4, 2, 7), utc(2024, 4, 2, 17))


def test_charter_periods_of_a_week():
    periods = get_charter_el_planning(utc(2024, 5, 6), utc(2024, 5, 13))
    assert periods == [(int(utc(2024, 5, day, 7)), int(utc(2024, 5, day, 17))) for day in (6, 7, 10)]
