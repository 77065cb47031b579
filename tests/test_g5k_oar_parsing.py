"""execo_g5k OAR without a server: oarsub command lines, OAR dates and durations, and the readers of
OAR's outputs, fed with outputs captured from a real OAR 2.5.9 (the testbed's samples) and with the
documented formats of the Grid'5000-only tools (g5k-subnets, kavlan)."""

import shlex
import subprocess

import pytest

from execo_g5k.config import g5k_configuration
from execo_g5k.oar import OarJobResult, OarSubmission, get_oarsub_commandline
from execo_g5k.oar_dates import format_oar_date, format_oar_duration, oar_date_to_unixts, oar_duration_to_seconds
from execo_g5k.oar_parsing import (OarOutputError, job_info_from_fields, parse_kavlan_ids, parse_node_list,
                                   parse_oarstat_full, parse_oarstat_ids, parse_oarsub_job_ids,
                                   parse_oarwalltime_request, parse_oarwalltime_status, parse_subnets_addresses,
                                   parse_subnets_parameters)


@pytest.fixture
def config():
    saved = dict(g5k_configuration)
    yield g5k_configuration
    g5k_configuration.clear()
    g5k_configuration.update(saved)


# -- oarsub command lines ---------------------------------------------------------------------

def test_commandline_order_and_quoting_of_execo_2_8(config, monkeypatch):
    monkeypatch.delenv("OAR_JOB_KEY_FILE", raising=False)
    config["oar_timezone"] = "Europe/Paris"
    spec = OarSubmission(resources=["{cluster='paravance'}/nodes=2", "{type='kavlan'}/vlan=1"], walltime=3600 + 61,
                         job_type=["deploy", "allow_classic_ssh"], sql_properties="cluster='paravance'",
                         queue="production", reservation_date="2026-07-01 10:00:00Z", directory="/home/u/xp",
                         project="myproj", name="myexp", additional_options="-O /dev/null", command="./run.sh 3")
    assert get_oarsub_commandline(spec) == (
        'oarsub -O /dev/null -l "{cluster=\'paravance\'}/nodes=2+{type=\'kavlan\'}/vlan=1,walltime=1:1:1"'
        ' -t "deploy" -t "allow_classic_ssh" -t "origin=execo" -p "cluster=\'paravance\'" -q "production"'
        ' -r "2026-07-01 12:00:00" -d "/home/u/xp" --project "myproj" -n "myexp" "./run.sh 3"')


def test_commandline_defaults_and_walltime_alone(config, monkeypatch):
    monkeypatch.delenv("OAR_JOB_KEY_FILE", raising=False)
    assert get_oarsub_commandline(OarSubmission()) == 'oarsub -t "origin=execo" "sleep 31536000"'
    assert get_oarsub_commandline(OarSubmission(walltime="0:30:00")) == \
        'oarsub -l "walltime=0:30:0" -t "origin=execo" "sleep 31536000"'
    assert get_oarsub_commandline(OarSubmission("nodes=1", job_type=("deploy", "origin=execo"))) == \
        'oarsub -l "nodes=1" -t "deploy" -t "origin=execo" "sleep 31536000"'


def test_commandline_job_key_from_configuration_then_environment(config, monkeypatch):
    monkeypatch.setenv("OAR_JOB_KEY_FILE", "/home/u/env key")
    assert ' -k -i "/home/u/env key" ' in get_oarsub_commandline(OarSubmission("nodes=1"))
    config["oar_job_key_file"] = "/home/u/.jobkey"
    assert ' -k -i "/home/u/.jobkey" ' in get_oarsub_commandline(OarSubmission("nodes=1"))


@pytest.mark.parametrize("hostile", ['x"; touch /tmp/pwned; echo "', "$(touch /tmp/pwned)", "`id`", "a'b\"c\\d",
                                     "line\nbreak", "!event", ""])
def test_commandline_values_never_leave_their_argument(config, hostile):
    spec = OarSubmission("nodes=1", directory=hostile, sql_properties=hostile, queue=hostile, command=hostile)
    if "'" not in hostile:
        spec.name = spec.project = hostile
    words = shlex.split(get_oarsub_commandline(spec))
    for option in ("-d", "-p", "-q") + (("-n", "--project") if "'" not in hostile else ()):
        assert words[words.index(option) + 1] == hostile
    assert words[-1] == hostile
    # and a real shell agrees with shlex
    echoed = subprocess.run(["sh", "-c", "printf '%s\\0' " + get_oarsub_commandline(spec)[len("oarsub "):]],
                            stdout=subprocess.PIPE, check=True).stdout.decode().split("\0")[:-1]
    assert echoed == words[1:]


@pytest.mark.parametrize("field, value, message", [
    ("walltime", "abc", "OarSubmission.walltime 'abc'"),
    ("walltime", -5, "OarSubmission.walltime -5"),
    ("reservation_date", "tomorrow", "OarSubmission.reservation_date 'tomorrow'"),
    ("resources", "", "OarSubmission.resources"),
    ("resources", ["nodes=1", 3], "OarSubmission.resources"),
    ("job_type", [""], "OarSubmission.job_type"),
    ("name", "it's", "OarSubmission.name \"it's\": OAR cannot store a single quote"),
    ("project", "a'b", "OarSubmission.project \"a'b\": OAR cannot store a single quote"),
])
def test_commandline_bad_input_names_the_field(field, value, message):
    spec = OarSubmission("nodes=1")
    setattr(spec, field, value)
    with pytest.raises(ValueError) as info:
        get_oarsub_commandline(spec)
    assert message in str(info.value)


def test_commandline_non_string_fields_are_type_errors():
    with pytest.raises(TypeError, match="OarSubmission.name"):
        get_oarsub_commandline(OarSubmission("nodes=1", name=42))


def test_job_result_is_the_2_8_tuple_with_an_error():
    ok, failed = OarJobResult(12, "rennes"), OarJobResult(None, None, "refused")
    assert ok == (12, "rennes") and repr(ok) == "(12, 'rennes')" and ok.error is None
    job_id, frontend = failed
    assert (job_id, frontend, failed.error, failed.job_id, failed.frontend) == (None, None, "refused", None, None)


# -- dates and durations ---------------------------------------------------------------------

def _gnu_date(zone, args):
    return subprocess.run(["date"] + args, env={"TZ": zone, "PATH": "/usr/bin:/bin"}, stdout=subprocess.PIPE,
                          universal_newlines=True, check=True).stdout.strip()


@pytest.mark.parametrize("ts", [0, 1711846799, 1711846800, 1729990799, 1729990800, 1795551159, 2000000000.9])
def test_oar_dates_agree_with_gnu_date_in_europe_paris(config, ts):
    """Around both 2024 clock changes too: the zone rules come from tzdata, as date's do."""
    config["oar_timezone"] = None  # the default: Europe/Paris
    formatted = format_oar_date(ts)
    assert formatted == _gnu_date("Europe/Paris", ["-d", "@%d" % int(ts), "+%Y-%m-%d %H:%M:%S"])
    assert oar_date_to_unixts(formatted) == int(ts) or formatted.startswith("2024-10-27 02:")  # repeated hour


def test_oar_date_to_unixts_takes_the_first_of_a_repeated_hour_and_any_zone(config):
    assert oar_date_to_unixts("2024-10-27 02:30:00") == 1729989000  # 02:30 CEST, before the change
    config["oar_timezone"] = "UTC"
    assert oar_date_to_unixts("2026-11-24 19:14:38") == 1795547678
    assert format_oar_date(1795547678) == "2026-11-24 19:14:38"
    assert oar_date_to_unixts("1795547678") == 1795547678.0


@pytest.mark.parametrize("bad", ["2026-11-24", "tomorrow", "2026-13-01 00:00:00", "no prediction"])
def test_oar_date_errors_quote_the_date(bad):
    with pytest.raises(ValueError, match=repr(bad).replace("[", r"\[")):
        oar_date_to_unixts(bad)


def test_unknown_time_zone_is_a_clear_error(config):
    config["oar_timezone"] = "Mars/Olympus"
    with pytest.raises(ValueError, match="oar_timezone.*Mars/Olympus"):
        format_oar_date(0)


def test_oar_durations():
    assert [format_oar_duration(d) for d in (0, 59.9, 60, 300, 3600, 3661, 9540, "1:99:00")] == \
        ["0:0:0", "0:0:59", "0:1:0", "0:5:0", "1:0:0", "1:1:1", "2:39:0", "2:39:0"]
    assert oar_duration_to_seconds("2:39:0") == 9540
    assert oar_duration_to_seconds("0:5:0") == 300
    with pytest.raises(ValueError, match="'abc'"):
        oar_duration_to_seconds("abc")
    with pytest.raises(ValueError, match="negative"):
        format_oar_duration(-1)


# -- OAR outputs (captured from the real OAR 2.5.9 testbed) ------------------------------------

OARSUB_OK = "[ADMISSION RULE] Modify resource description with type constraints\r\nOAR_JOB_ID=4\r\n"
OARSUB_REFUSED = "[ADMISSION RULE] Modify resource description with type constraints\nOAR_JOB_ID=-5\n"
OARSUB_ARRAY = ("[ADMISSION RULE] Modify resource description with type constraints\n"
                "OAR_JOB_ID=5\nOAR_JOB_ID=6\nOAR_ARRAY_ID=5\n")

OARSTAT_TABLE = """Job id    S User     Duration   System message
--------- - -------- ---------- ------------------------------------------------
4         R g5kuser     0:00:21 R=4,W=0:10:0,J=B (Karma=0.000,quota_ok)
5         W g5kuser     0:00:00 R=2,W=0:30:0,J=R
7         W g5kuser     0:00:00 R=2,W=0:10:0,J=B,N=myexp,T=allow_classic_ssh (Karma=0.000,quota_ok)
"""

OARSTAT_RUNNING = """Job_Id: 4
    job_array_id = 4
    job_array_index = 1
    name = 
    project = default
    owner = g5kuser
    state = Running
    wanted_resources = -l "{type = 'default'}/network_address=2,walltime=0:10:0" 
    types = 
    dependencies = 
    assigned_resources = 1+2+3+4
    assigned_hostnames = node-1+node-2
    queue = default
    command = sleep 300
    launchingDirectory = /home/g5kuser
    stdout_file = OAR.4.stdout
    stderr_file = OAR.4.stderr
    jobType = PASSIVE
    properties = (desktop_computing = 'NO') AND drain='NO'
    reservation = None
    walltime = 0:10:0
    submissionTime = 2026-11-24 19:14:37
    startTime = 2026-11-24 19:14:38
    initial_request = oarsub -l nodes=2,walltime=0:10:00 sleep 300
    message = R=4,W=0:10:0,J=B (Karma=0.000,quota_ok)
    scheduledStart = 2026-11-24 19:14:38
    resubmit_job_id = 0
    events = 

"""

OARSTAT_WAITING_NAMED = OARSTAT_RUNNING.replace("Job_Id: 4", "Job_Id: 7").replace(
    "name = \n", "name = myexp\n").replace("state = Running", "state = Waiting").replace(
    "types = \n", "types = allow_classic_ssh\n").replace("assigned_hostnames = node-1+node-2", "assigned_hostnames = ").replace(
    "    startTime = 2026-11-24 19:14:38\n", "").replace("scheduledStart = 2026-11-24 19:14:38",
                                                          "scheduledStart = 2026-11-24 19:25:39")

OARSTAT_DELETED = """Job_Id: 3
    job_array_id = 3
    job_array_index = 1
    name = 
    project = default
    owner = g5kuser
    state = Terminated
    types = 
    assigned_hostnames = node-4
    queue = default
    command = sleep 60
    exit_code = 768 (3,0,0)
    reservation = None
    walltime = 2:39:0
    submissionTime = 2026-11-24 19:12:44
    startTime = 2026-11-24 19:12:45
    stopTime = 2026-11-24 19:13:46
    message = R=2,W=2:39:0,J=B (Karma=0.000,quota_ok)
    scheduledStart = no prediction
    resubmit_job_id = 0
    events = 
2026-11-24 19:13:46> SWITCH_INTO_TERMINATE_STATE:[bipbip 3] Ask to change the job state
2026-11-24 19:14:28> FRAG_JOB_REQUEST:User g5kuser requested to frag the job 3

"""


def test_oarsub_ids():
    assert parse_oarsub_job_ids(OARSUB_OK) == [4]
    assert parse_oarsub_job_ids(OARSUB_REFUSED) == [-5]
    assert parse_oarsub_job_ids(OARSUB_ARRAY) == [5, 6]
    assert parse_oarsub_job_ids("") == []


def test_oarstat_table_ids():
    assert parse_oarstat_ids(OARSTAT_TABLE) == [4, 5, 7]
    assert parse_oarstat_ids("") == []


def test_running_job_info(config):
    config["oar_timezone"] = "UTC"
    [info] = [job_info_from_fields(f) for f in parse_oarstat_full(OARSTAT_RUNNING.replace("\n", "\r\n"))]
    assert {k: info[k] for k in ("start_date", "walltime", "scheduled_start", "state", "name")} == {
        "start_date": 1795547678.0, "walltime": 600.0, "scheduled_start": 1795547678.0, "state": "Running",
        "name": ""}
    assert info["nodes"] == ["node-1", "node-2"] and info["types"] == [] and info["job_id"] == 4
    assert info["owner"] == "g5kuser" and info["command"] == "sleep 300" and "exit_code" not in info


def test_waiting_job_has_a_prediction_but_no_start(config):
    config["oar_timezone"] = "Europe/Paris"
    [info] = [job_info_from_fields(f) for f in parse_oarstat_full(OARSTAT_WAITING_NAMED)]
    assert "start_date" not in info and info["nodes"] == []
    assert info["scheduled_start"] == 1795548339.0 - 3600  # 19:25:39 in Paris (UTC+1 in November)
    assert (info["state"], info["name"], info["types"]) == ("Waiting", "myexp", ["allow_classic_ssh"])


def test_finished_job_events_exit_code_and_no_prediction(config):
    config["oar_timezone"] = "UTC"
    [info] = [job_info_from_fields(f) for f in parse_oarstat_full(OARSTAT_DELETED)]
    assert "scheduled_start" not in info
    assert info["exit_code"] >> 8 == 3 and info["stop_date"] - info["start_date"] == 61
    assert [e[1] for e in info["events"]] == ["SWITCH_INTO_TERMINATE_STATE", "FRAG_JOB_REQUEST"]
    assert info["events"][1][2] == "User g5kuser requested to frag the job 3"


def test_several_jobs_of_oarstat_f():
    jobs = parse_oarstat_full(OARSTAT_RUNNING + OARSTAT_WAITING_NAMED)
    assert [(j["Job_Id"], j["name"]) for j in jobs] == [("4", ""), ("7", "myexp")]
    assert parse_oarstat_full("") == []


@pytest.mark.parametrize("text", ["garbage before\nJob_Id: 4\n", "Job_Id: four\n", "Job_Id: 4\nnot a field\n"])
def test_unreadable_oarstat_output(text):
    with pytest.raises(OarOutputError):
        parse_oarstat_full(text)


def test_unreadable_field_values():
    fields = parse_oarstat_full("Job_Id: 4\n    walltime = ten minutes\n")[0]
    with pytest.raises(OarOutputError, match="walltime 'ten minutes'"):
        job_info_from_fields(fields)


def test_nodes_and_walltime_status():
    assert parse_node_list("node-1\r\nnode-2\r\n") == ["node-1", "node-2"]
    status = parse_oarwalltime_status("Walltime change status for job 6 (job is running):\n"
                                      "  Current walltime:      0:15:0\n  Possible increase:  UNLIMITED\n"
                                      "  Already granted:       +0:5:0\n  Pending/unsatisfied:    0:0:0\n")
    assert status == {"walltime": 900.0, "possible_increase": None, "granted": 300.0, "pending": 0.0}
    with pytest.raises(OarOutputError, match="disabled"):
        parse_oarwalltime_status("FUNCTIONALITY IS DISABLED\n")
    parse_oarwalltime_request("Accepted: walltime change request accepted for job 6, it will be handled shortly.\n")
    with pytest.raises(OarOutputError):
        parse_oarwalltime_request("Not available: functionality is disabled.\n")


# -- Grid'5000-only tools: their documented output formats --------------------------------------

def test_g5k_subnets_outputs():
    addresses = "10.158.0.1\t00:16:3e:9e:00:01\r\n10.158.0.2\t00:16:3e:9e:00:02\r\n"
    assert parse_subnets_addresses(addresses) == [("10.158.0.1", "00:16:3e:9e:00:01"),
                                                  ("10.158.0.2", "00:16:3e:9e:00:02")]
    params = "10.158.0.0/22\t10.159.255.255\t255.252.0.0\t10.159.255.254\t10.158.0.0\tdns.rennes.grid5000.fr\t172.16.111.106\r\n"
    assert parse_subnets_parameters(params) == {
        "ip_prefix": "10.158.0.0/22", "broadcast": "10.159.255.255", "netmask": "255.252.0.0",
        "gateway": "10.159.255.254", "network": "10.158.0.0", "dns_hostname": "dns.rennes.grid5000.fr",
        "dns_ip": "172.16.111.106"}
    assert parse_subnets_parameters("") == {}
    with pytest.raises(OarOutputError, match="ip mac"):
        parse_subnets_addresses("10.158.0.1\n")


def test_kavlan_output():
    assert parse_kavlan_ids("4\r\n") == [4]
    assert parse_kavlan_ids("4\n16\n") == [4, 16]
    assert parse_kavlan_ids("[ERROR] : no vlan found for this job\n") == []
