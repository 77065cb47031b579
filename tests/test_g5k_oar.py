"""execo_g5k.oar against a real OAR 2.5.9 server (the testbed of ../shared/testbed, see oar_testbed.py).

Jobs are real: oarsub runs over ssh on the testbed's frontend (oaruser@127.0.0.1), OAR schedules
them on node-1..node-4 (127.0.0.2..5), and commands reach the nodes through ssh or oarsh. Each
test deletes its jobs; the session fixture deletes whatever is left. Root's ``oarstat`` is used
as an independent witness of job states.
"""

import os
import re
import socket
import subprocess
import sys
import threading
import time

import pytest

from execo import Get, Process, Put, Remote
from execo.config import make_default_connection_params
from execo.host import Host
from execo_g5k.config import default_oarsh_oarcp_params, g5k_configuration
from execo_g5k.frontend import FrontendCommandError
from execo_g5k.oar import (OarJobNotFound, OarSubmission, extend_oar_job_walltime, get_current_oar_jobs,
                           get_job_by_name, get_oar_job_info, get_oar_job_kavlan, get_oar_job_nodes,
                           get_oar_job_subnets, get_oar_job_walltime_status, oardel, oarsub, oarsubgrid,
                           wait_oar_job_start)
from execo_g5k.oar_dates import format_oar_date


pytestmark = pytest.mark.timeout(240)

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "g5k_netcat_oar.py")


def _closed_port() -> int:
    """A port of 127.0.0.1 where nothing listens (an unreachable frontend)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _submit(tb, *specs, **kwargs):
    """oarsub on the testbed frontend; every job is tracked for the final cleanup."""
    jobs = oarsub([(spec, tb.frontend) for spec in specs], tb.frontend_connection_params, **kwargs)
    tb.track(jobs)
    return jobs


def _until(predicate, timeout, what, interval=0.5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("not within %ss: %s" % (timeout, what))


def _deletion_requested(tb, name):
    """The job called ``name`` is gone, or OAR registered its deletion (the FRAG_JOB_REQUEST event).

    Waiting for the Error state would cost up to 10 s per job (Finishing) for nothing more."""
    job_id = get_job_by_name(name, tb.frontend, tb.frontend_connection_params)
    if job_id is None:
        return True
    events = get_oar_job_info(job_id, tb.frontend, tb.frontend_connection_params)["events"]
    return any(kind == "FRAG_JOB_REQUEST" for _, kind, _ in events)


def test_whole_cycle_ssh_and_oarsh_on_the_nodes(oar_config, tmp_path):
    """oarsub (with a job key), wait, nodes, Remote over ssh and over oarsh, Put/Get over oarcp,
    the Grid'5000-only tools missing, walltime extension, deletion of the running job."""
    tb = oar_config
    fe, params = tb.frontend, tb.frontend_connection_params
    g5k_configuration["oar_job_key_file"] = tb.job_key
    name = tb.name("cycle")
    [(job_id, frontend)] = _submit(tb, OarSubmission("nodes=2", walltime="0:10:00", job_type="allow_classic_ssh",
                                                     name=name))
    assert isinstance(job_id, int) and frontend is fe
    assert get_job_by_name(name, fe, params) == job_id

    predictions = []
    assert wait_oar_job_start(job_id, fe, params, timeout=60, prediction_callback=predictions.append) is True
    assert predictions and abs(predictions[-1] - time.time()) < 60
    nodes = get_oar_job_nodes(job_id, fe, params)
    assert len(nodes) == 2 and all(isinstance(n, Host) for n in nodes)
    assert sorted(n.address for n in nodes) == [n.address for n in nodes]
    assert set(n.address for n in nodes) <= set(tb.nodes)
    info = get_oar_job_info(job_id, fe, params)
    assert (info["state"], info["name"], info["walltime"]) == ("Running", name, 600)
    assert sorted(info["nodes"]) == [n.address for n in nodes]
    assert set(info["types"]) == {"allow_classic_ssh", "origin=execo"}
    assert info["start_date"] <= time.time() + 1

    # classic ssh: each process lands on its node's address
    classic = Remote("echo $SSH_CONNECTION", nodes, connection_params=tb.node_connection_params).run()
    assert classic.ok
    for process in classic.processes:
        assert process.stdout.split()[2] == tb.node_addresses[process.host.address]

    # oarsh with the job key: the commands run inside the job's cpuset
    oarsh_params = dict(default_oarsh_oarcp_params, keyfile=tb.job_key)
    # OpenSSH >= 9 scp speaks SFTP unless -O, and OAR's node sshd (port 6667) has no sftp subsystem
    oarsh_params["scp_options"] = tuple(make_default_connection_params()["scp_options"]) + ("-O",)
    confined = Remote("cat /proc/self/cpuset", nodes, connection_params=oarsh_params).run()
    assert confined.ok, [p.dump() for p in confined.processes]
    assert [p.stdout.strip() for p in confined.processes] == ["/oar/%s_%d" % (tb.user, job_id)] * 2
    payload = tmp_path / "payload.txt"
    payload.write_text("execo via oarcp\n")
    remote_name = tb.name("put-{{{host}}}")
    assert Put(nodes, [str(payload)], remote_name, connection_params=oarsh_params).run().ok
    back = tmp_path / "back"
    back.mkdir()
    got = Get(nodes, [remote_name], str(back), connection_params=oarsh_params).run()
    assert got.ok, [p.dump() for p in got.processes]
    assert sorted(p.name for p in back.iterdir()) == sorted(tb.name("put-%s" % n.address) for n in nodes)
    assert all(p.read_text() == "execo via oarcp\n" for p in back.iterdir())
    Remote("rm -f " + remote_name, nodes, connection_params=tb.node_connection_params).run()

    # g5k-subnets and kavlan exist only on Grid'5000: a clear error, not an empty answer
    with pytest.raises(FrontendCommandError) as error:
        get_oar_job_kavlan(job_id, fe, params)
    assert "kavlan -j %d -V" % job_id in str(error.value) and "not installed" in str(error.value)
    with pytest.raises(FrontendCommandError) as error:
        get_oar_job_subnets(job_id, fe, params)
    assert "g5k-subnets" in str(error.value) and "exited with code 127" in str(error.value)

    # walltime extension, granted by OAR a moment later
    assert get_oar_job_walltime_status(job_id, fe, params)["walltime"] == 600
    extend_oar_job_walltime(job_id, "0:01:00", fe, params)

    def extended():
        tb.notify_scheduler()
        return get_oar_job_walltime_status(job_id, fe, params)["walltime"] == 660
    _until(extended, 40, "walltime extended to 0:11:0", interval=1)
    assert get_oar_job_info(job_id, fe, params)["walltime"] == 660

    # deletion of the running job
    oardel([(job_id, fe)], params)
    assert tb.wait_state(job_id, ["Error"], timeout=60) == "Error"
    assert wait_oar_job_start(job_id, fe, params, timeout=30) is False
    assert get_oar_job_info(job_id, fe, params)["state"] == "Error"
    assert job_id not in [j for j, _ in get_current_oar_jobs([fe], frontend_connection_params=params)]
    assert get_job_by_name(name, fe, params) is None


def test_several_jobs_at_once(oar_config):
    tb = oar_config
    fe, params = tb.frontend, tb.frontend_connection_params
    names = [tb.name("many-%d" % i) for i in range(3)]
    jobs = _submit(tb, *[OarSubmission("nodes=1", walltime=300, name=n) for n in names])
    ids = [job_id for job_id, _ in jobs]
    assert all(isinstance(i, int) for i in ids) and len(set(ids)) == 3 and all(j.error is None for j in jobs)
    current = get_current_oar_jobs([fe], frontend_connection_params=params)
    assert set((i, fe) for i in ids) <= set(current)
    assert [get_job_by_name(n, fe, params) for n in names] == ids
    assert all(wait_oar_job_start(i, fe, params, timeout=60) for i in ids)
    node_sets = [get_oar_job_nodes(i, fe, params) for i in ids]
    assert all(len(nodes) == 1 for nodes in node_sets)
    assert len(set(nodes[0].address for nodes in node_sets)) == 3
    # the date filters read each job's info: all three started within the last minutes
    now = time.time()
    assert set(ids) <= set(j for j, _ in get_current_oar_jobs([fe], start_between=(now - 300, now + 1),
                                                              frontend_connection_params=params))
    assert not set(ids) & set(j for j, _ in get_current_oar_jobs([fe], start_between=(now + 3600, None),
                                                                 frontend_connection_params=params))
    oardel(jobs, params)
    for i in ids:
        tb.wait_state(i, ["Error"], timeout=60)


def test_prediction_callback_follows_the_queue(oar_config):
    """A job queued behind another one on the same node is predicted to start at the blocker's
    end; deleting the blocker moves the prediction to now, and the wait returns True."""
    tb = oar_config
    fe, params = tb.frontend, tb.frontend_connection_params
    on_node_4 = "host='node-4'"
    [blocker] = _submit(tb, OarSubmission("nodes=1", walltime=600, sql_properties=on_node_4, name=tb.name("blocker")))
    assert wait_oar_job_start(blocker[0], fe, params, timeout=60)
    blocker_end = get_oar_job_info(blocker[0], fe, params)["start_date"] + 600
    [waiter] = _submit(tb, OarSubmission("nodes=1", walltime=300, sql_properties=on_node_4, name=tb.name("waiter")))
    tb.notify_scheduler()  # a first prediction sooner
    predictions = []

    def free_the_nodes():
        oardel([blocker], params)
        tb.wait_state(blocker[0], ["Error"], timeout=60)
        tb.notify_scheduler()  # else the waiter starts at OAR's next periodic scheduling, up to 60 s later

    freeing = threading.Thread(target=free_the_nodes)

    def on_prediction(ts):
        predictions.append((ts, time.time()))
        if len(predictions) == 1:
            freeing.start()

    try:
        assert wait_oar_job_start(waiter[0], fe, params, timeout=90, prediction_callback=on_prediction) is True
    finally:
        if freeing.ident is not None:
            freeing.join()
    assert len(predictions) >= 2
    # OAR keeps a security margin (SCHEDULER_JOB_SECURITY_TIME, 60 s) after the blocker's end
    assert blocker_end <= predictions[0][0] <= blocker_end + 120
    assert predictions[-1][0] < blocker_end - 400 and predictions[-1][0] <= time.time()
    assert len(set(ts for ts, _ in predictions)) == len(predictions)  # called only on changes
    oardel([waiter], params)


def test_reservation_in_the_future(oar_config):
    tb = oar_config
    fe, params = tb.frontend, tb.frontend_connection_params
    start = int(time.time()) + 10
    [job] = _submit(tb, OarSubmission("nodes=1", walltime=120, reservation_date=start, name=tb.name("resa")))
    info = get_oar_job_info(job[0], fe, params)
    assert (info["state"], info["reservation"]) == ("Waiting", "Scheduled")
    assert info["start_date"] == start
    # on a loaded machine the start may already be past when OAR schedules it: then it is moved to "now"
    assert start <= info["scheduled_start"] <= start + 30
    # OAR's scheduler only wakes every 60 s when nothing happens: nudge it at the start time
    nudges = [threading.Timer(start - time.time() + d, tb.notify_scheduler) for d in (0.5, 5, 10)]
    for nudge in nudges:
        nudge.start()
    try:
        predictions = []
        assert wait_oar_job_start(job[0], fe, params, timeout=75, prediction_callback=predictions.append) is True
        assert time.time() >= start and predictions[0] == start
    finally:
        for nudge in nudges:
            nudge.cancel()
    assert len(get_oar_job_nodes(job[0], fe, params)) == 1
    oardel([job], params)


def test_deploy_job_quoted_values_and_dates_in_any_zone(oar_config):
    """A hostile job name and an SQL property reach OAR intact; the dates OAR prints in
    Europe/Paris (TZ set for oarstat) and in the machine's zone give the same timestamps."""
    tb = oar_config
    fe, params = tb.frontend, tb.frontend_connection_params
    name = tb.name("\"$(touch /tmp/execo-pwned)\" `id` \\ ; $HOME")
    [job] = _submit(tb, OarSubmission("nodes=1", walltime=300, job_type=["deploy"], name=name,
                                      sql_properties="cluster='paravance' AND deploy='YES'"))
    assert job[0] is not None, job.error
    info = get_oar_job_info(job[0], fe, params)
    assert info["name"] == name and info["types"] == ["deploy", "origin=execo"]
    assert not os.path.exists("/tmp/execo-pwned")
    paris = Process("oarstat -fj %d" % job[0], env=dict(os.environ, TZ="Europe/Paris")).run()
    local = Process("oarstat -fj %d" % job[0]).run()
    assert paris.ok and local.ok
    submitted = re.search(r"submissionTime = (.*)", local.stdout).group(1).strip()
    submitted_paris = re.search(r"submissionTime = (.*)", paris.stdout).group(1).strip()
    from execo_g5k.oar_dates import oar_date_to_unixts
    g5k_configuration["oar_timezone"] = "Europe/Paris"
    in_paris = oar_date_to_unixts(submitted_paris)
    g5k_configuration["oar_timezone"] = tb.timezone
    assert oar_date_to_unixts(submitted) == in_paris == info["submission_date"]
    oardel([job], params)


def test_local_frontend_runs_oar_commands_here(oar_config, monkeypatch):
    """Without a frontend (the script runs on the frontend) the commands run locally: here as root,
    who may read and delete any job but not submit."""
    tb = oar_config
    monkeypatch.setitem(g5k_configuration, "default_frontend", None)
    [job] = _submit(tb, OarSubmission("nodes=1", walltime=300, name=tb.name("local")))
    monkeypatch.setenv("OAR_JOB_ID", str(job[0]))
    assert get_oar_job_info()["name"] == tb.name("local")  # job id from $OAR_JOB_ID, frontend None: local
    [refused] = oarsub([(OarSubmission("nodes=1", name=tb.name("as-root")), None)])
    assert refused.job_id is None and "root and oar users are not allowed" in refused.error
    assert "locally" in refused.error
    oardel([(job[0], None)])
    assert _deletion_requested(tb, tb.name("local"))


def test_refused_submissions_give_a_clear_result_per_site(oar_config):
    tb = oar_config
    fe, params = tb.frontend, tb.frontend_connection_params
    unreachable = Host("127.0.0.1", user=tb.user, keyfile=tb.frontend.keyfile, port=_closed_port())
    specs = [(OarSubmission("nodes=1", walltime=300, name=tb.name("good")), fe),
             (OarSubmission("nodes=10", walltime=300, name=tb.name("too-many")), fe),
             (OarSubmission("nodes=abc", walltime=300, name=tb.name("malformed")), fe),
             (OarSubmission("nodes=1", walltime=300, queue="nosuchqueue", name=tb.name("queue")), fe),
             (OarSubmission("nodes=1", walltime=300, job_type="nosuchtype", name=tb.name("type")), fe),
             (OarSubmission("nodes=1", walltime=300, name=tb.name("unreachable")), unreachable)]
    started = time.time()
    jobs = oarsub(specs, params, timeout=30)
    tb.track(jobs)
    assert time.time() - started < 20
    assert [frontend for _, frontend in jobs] == [f for _, f in specs]
    good, too_many, malformed, queue, job_type, lost = jobs
    assert isinstance(good.job_id, int) and good.error is None
    assert too_many.job_id is None and "exited with code 8" in too_many.error
    assert "There are not enough resources for your request" in too_many.error
    assert 'oarsub -l "nodes=10,walltime=0:5:0"' in too_many.error
    assert malformed.job_id is None and "Cannot recognize" in malformed.error
    assert queue.job_id is None and "The queue nosuchqueue does not exist" in queue.error
    assert job_type.job_id is None and "unknown job type: nosuchtype" in job_type.error
    assert lost.job_id is None and "could not be reached" in lost.error and "refused" in lost.error.lower()
    oardel([good], params)


def test_a_silent_frontend_times_out_alone(oar_config):
    """A frontend that accepts the connection and never answers costs the timeout, not more,
    and the other submissions succeed meanwhile."""
    tb = oar_config
    fe, params = tb.frontend, tb.frontend_connection_params
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        frozen = Host("127.0.0.1", user=tb.user, keyfile=tb.frontend.keyfile, port=silent.getsockname()[1])
        started = time.time()
        # the pooled ssh backend lets a connection run to its ConnectTimeout before applying the
        # process timeout (reported to the runtime's owner): keep that one short too
        options = [o.replace("ConnectTimeout=20", "ConnectTimeout=6")
                   for o in make_default_connection_params()["ssh_options"]]
        good, lost = oarsub(
            [(OarSubmission("nodes=1", walltime=300, name=tb.name("beside-frozen")), fe),
             (OarSubmission("nodes=1", walltime=300, name=tb.name("frozen")), frozen)],
            dict(params, ssh_options=tuple(options)), timeout=4)
        tb.track([good])
        elapsed = time.time() - started
    assert 3.5 <= elapsed < 12
    assert isinstance(good.job_id, int) and good.error is None
    assert lost.job_id is None and "timed out after 4" in lost.error
    oardel([good], params)


def test_abort_on_error_deletes_the_jobs_already_submitted(oar_config):
    tb = oar_config
    fe, params = tb.frontend, tb.frontend_connection_params
    name = tb.name("aborted")
    with pytest.raises(FrontendCommandError) as error:
        oarsub([(OarSubmission("nodes=1", walltime=300, name=name), fe),
                (OarSubmission("nodes=99", walltime=300, name=tb.name("refused")), fe)],
               params, abort_on_error=True)
    assert "nodes=99" in str(error.value) and "nodes=1," not in str(error.value)
    assert _deletion_requested(tb, name)


def test_oarsubgrid_is_all_or_nothing(oar_config):
    tb = oar_config
    fe, params = tb.frontend, tb.frontend_connection_params
    names = [tb.name("grid-a"), tb.name("grid-b")]
    jobs = oarsubgrid([(OarSubmission("nodes=1", name=names[0]), fe), (OarSubmission("nodes=1", name=names[1]), fe)],
                      walltime=300, job_type="allow_classic_ssh", frontend_connection_params=params)
    tb.track(jobs)
    assert len(jobs) == 2 and all(isinstance(j, int) for j, _ in jobs)
    info = get_oar_job_info(jobs[0][0], fe, params)
    assert "W=0:5:0" in info["message"] and info["types"] == ["allow_classic_ssh", "origin=execo"]
    oardel(jobs, params)
    failed_name = tb.name("grid-ok-then-deleted")
    assert oarsubgrid([(OarSubmission("nodes=1", name=failed_name), fe),
                       (OarSubmission("nodes=50", name=tb.name("grid-refused")), fe)],
                      walltime=300, frontend_connection_params=params) == []
    assert _deletion_requested(tb, failed_name)


def test_bad_input_submits_nothing(oar_config):
    tb = oar_config
    fe, params = tb.frontend, tb.frontend_connection_params
    name = tb.name("never")
    with pytest.raises(ValueError, match="OarSubmission.walltime 'abc'"):
        oarsub([(OarSubmission("nodes=1", walltime=300, name=name), fe),
                (OarSubmission("nodes=1", walltime="abc"), fe)], params)
    with pytest.raises(ValueError, match="OarSubmission.reservation_date 'next monday'"):
        oarsub([(OarSubmission("nodes=1", walltime=300, name=name), fe),
                (OarSubmission("nodes=1", reservation_date="next monday"), fe)], params)
    assert get_job_by_name(name, fe, params) is None
    with pytest.raises(ValueError, match="invalid OAR job id '12; oardel 1'"):
        oardel([("12; oardel 1", fe)], params)
    with pytest.raises(ValueError, match="invalid OAR job id"):
        get_oar_job_info("abc", fe, params)
    with pytest.raises(ValueError, match="extra"):
        extend_oar_job_walltime(1, "soon", fe, params)


def test_reservation_in_the_past_leaves_no_job(oar_config):
    tb = oar_config
    fe, params = tb.frontend, tb.frontend_connection_params
    [job] = _submit(tb, OarSubmission("nodes=1", walltime=300, reservation_date=time.time() - 3600,
                                      name=tb.name("past")))
    assert job.job_id is None
    assert "exited with code 10" in job.error and "Reservation too old" in job.error
    assert '-r "%s' % format_oar_date(int(time.time() - 3600))[:13] in job.error
    created = int(re.search(r"OAR_JOB_ID=(\d+)", job.error).group(1))
    assert tb.oarstat_state(created) == "Error"
    assert get_job_by_name(tb.name("past"), fe, params) is None


def test_unknown_job_ids(oar_config):
    tb = oar_config
    fe, params = tb.frontend, tb.frontend_connection_params
    with pytest.raises(OarJobNotFound) as error:
        get_oar_job_info(99999999, fe, params)
    assert "`oarstat -fj 99999999` on frontend 127.0.0.1" in str(error.value)
    assert "OAR knows no job 99999999" in str(error.value)
    with pytest.raises(OarJobNotFound):
        wait_oar_job_start(99999999, fe, params, timeout=10)
    with pytest.raises(OarJobNotFound):
        get_oar_job_nodes(99999999, fe, params, timeout=10)
    oardel([(99999999, fe)], params)  # OAR refuses; ignored as in execo 2.8
    assert get_job_by_name(tb.name("nobody has this name"), fe, params) is None


def test_unreachable_frontend(oar_config):
    tb = oar_config
    fe, params = tb.frontend, tb.frontend_connection_params
    unreachable = Host("127.0.0.1", user=tb.user, keyfile=tb.frontend.keyfile, port=_closed_port())
    with pytest.raises(FrontendCommandError) as error:
        get_oar_job_info(1, unreachable, params)
    text = str(error.value)
    assert "`oarstat -fj 1` on frontend 127.0.0.1: " in text
    assert "could not be reached" in text and "connection refused" in text.lower()
    started = time.time()
    with pytest.raises(FrontendCommandError):
        wait_oar_job_start(1, unreachable, params, timeout=60)
    assert time.time() - started < 20  # three failed polls, not the whole timeout
    assert get_current_oar_jobs([fe, unreachable], frontend_connection_params=params) is not None
    with pytest.raises(FrontendCommandError, match="oarstat -u"):
        get_current_oar_jobs([fe, unreachable], frontend_connection_params=params, abort_on_error=True)


def test_example_netcat_on_oar_nodes_reattaches_to_its_job(oar_config):
    """examples/g5k_netcat_oar.py finds the job of an "earlier run" by name, measures, and deletes it."""
    tb = oar_config
    name = tb.name("netcat")
    [job] = _submit(tb, OarSubmission("nodes=2", walltime=300, name=name, job_type="allow_classic_ssh"))
    result = subprocess.run([sys.executable, EXAMPLE, "--frontend", "127.0.0.1", "--user", tb.user,
                             "--keyfile", tb.frontend.keyfile, "--oar-timezone", tb.timezone,
                             "--polling-interval", "1", "--job-name", name],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True, timeout=150)
    assert result.returncode == 0, result.stdout
    assert "reusing job %d" % job[0] in result.stdout
    rates = re.findall(r"^(node-\d)\s+-> (node-\d)\s+([\d.,]+ [kMG]?B/s)$", result.stdout, re.MULTILINE)
    assert len(rates) == 2 and set(a for a, _, _ in rates) == set(b for _, b, _ in rates), result.stdout
    assert "job %d deleted" % job[0] in result.stdout
    assert _deletion_requested(tb, name)
