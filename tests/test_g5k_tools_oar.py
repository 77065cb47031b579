"""funk -y and g5k-clean-all-jobs against the real OAR testbed: the planning comes from the API
stand-in, the reservations go to OAR through the "rennes" frontend (the testbed's sshd)."""

import re
import time

import pytest

from execo_bin import funk, g5k_clean_all_jobs
from execo_g5k.config import default_frontend_connection_params

from oar_testbed import ROOT_KEY


@pytest.fixture
def rennes_is_the_testbed(oar_config, g5k_api, monkeypatch):
    """The frontend 'rennes' is the testbed's sshd, reached as its test user."""
    for key, value in {"host_rewrite_func": lambda site: "127.0.0.1", "user": oar_config.user,
                       "keyfile": ROOT_KEY, "port": 22}.items():
        monkeypatch.setitem(default_frontend_connection_params, key, value)
    return oar_config


def test_funk_submits_the_reservation_and_clean_all_jobs_deletes_it(rennes_is_the_testbed, capsys):
    testbed = rennes_is_the_testbed
    name = testbed.name("funk")
    start = int(time.time()) + 3 * 3600
    code = funk.main(["-m", "free_slot", "-r", "paravance:2", "-w", "0:05:00", "-s", str(start),
                      "-e", str(start + 3600), "-n", name, "-y"])
    out = capsys.readouterr().out
    assert code == 0, out
    match = re.search(r"^rennes: job (\d+) submitted$", out, re.MULTILINE)
    assert match, out
    job_id = int(match.group(1))
    testbed.track([job_id])
    assert "{cluster='paravance'}/nodes=2" in out
    assert testbed.oarstat_state(job_id) == "Waiting"  # an advance reservation

    code = g5k_clean_all_jobs.main(["-s", "rennes", "-n", name, "--dry-run"])
    assert code == 0 and capsys.readouterr().out == "rennes: %d (would be deleted)\n" % job_id
    code = g5k_clean_all_jobs.main(["-s", "rennes", "-n", name, "-f", "--timeout", "60"])
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("rennes: %d deleted\n" % job_id) and out.endswith("no job left\n"), out
    assert testbed.wait_state(job_id, ["Error", "Terminated", ""]) in ("Error", "Terminated", "")
