"""kadeploy3 deployments on the stand-in: command lines, output parsing, retries checked over ssh."""

import logging

import pytest

from execo import ProcessOutputHandler
from execo_g5k import Deployment, Kadeployer, KadeployError, deploy, enough_deployed, get_kavlan_host_name
from execo_g5k.config import g5k_configuration


DETAIL = 15
P = ["paravance-%d.rennes.grid5000.fr" % i for i in range(1, 5)]


def machines(argv):
    return [argv[i + 1] for i, a in enumerate(argv) if a == "-m"]


# -- the command line ---------------------------------------------------------------------------
def test_command_line_is_execo_2_8s(monkeypatch):
    monkeypatch.setitem(g5k_configuration, "kadeploy3", "kadeploy3")
    line = Deployment(P[:1], env_name="debian11-min", user="deploy", vlan=4,
                      other_options="--no-kexec")._get_common_kadeploy_command_line()
    assert line == "kadeploy3 -k -d -e debian11-min -u deploy --vlan 4 --no-kexec"
    assert Deployment(P[:1], env_file="/home/me/env.yaml")._get_common_kadeploy_command_line() \
        == "kadeploy3 -k -d -a /home/me/env.yaml"
    # values are quoted: a file name cannot inject a command
    assert Deployment(P[:1], env_file="my env;rm -rf x")._get_common_kadeploy_command_line() \
        == "kadeploy3 -k -d -a 'my env;rm -rf x'"


def test_environment_choice_errors(monkeypatch):
    monkeypatch.setitem(g5k_configuration, "default_env_name", None)
    monkeypatch.setitem(g5k_configuration, "default_env_file", None)
    with pytest.raises(ValueError, match="both env_file .* and env_name"):
        Deployment(P, env_file="a.yaml", env_name="b")._get_common_kadeploy_command_line()
    with pytest.raises(ValueError, match="no environment"):
        Deployment(P)._get_common_kadeploy_command_line()
    monkeypatch.setitem(g5k_configuration, "default_env_name", "debian12-min")
    assert "-e debian12-min" in Deployment(P)._get_common_kadeploy_command_line()
    monkeypatch.setitem(g5k_configuration, "default_env_file", "/x.yaml")
    with pytest.raises(ValueError, match="default_env_name .* and default_env_file"):
        Deployment(P)._get_common_kadeploy_command_line()


def test_kavlan_host_name():
    assert get_kavlan_host_name("paravance-1.rennes.grid5000.fr", 4) == "paravance-1-kavlan-4.rennes.grid5000.fr"
    assert get_kavlan_host_name("paravance-1", "12") == "paravance-1-kavlan-12"


def test_deployment_repr():
    assert repr(Deployment(["a"], env_name="e", vlan=3)) == "Deployment(hosts=['a'], env_name='e', vlan=3)"


# -- Kadeployer -----------------------------------------------------------------------------------
class Lines(ProcessOutputHandler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def read_line(self, process, stream, string, eof=False, error=False):
        self.lines.append(string)


def test_kadeployer_parses_the_node_lists(kadeploy_standin):
    kadeploy_standin.configure(fail={P[1]: 1})
    handler = Lines()
    k = Kadeployer(Deployment(P, env_name="debian11-min"), stdout_handlers=[handler]).run()
    assert k.deployed_hosts == {P[0], P[2], P[3]}
    assert k.undeployed_hosts == {P[1]}
    assert k.ok  # some undeployed nodes: only a warning, as in execo 2.8
    assert k.name == "Kadeployer on 4 hosts / 1 frontends"
    assert kadeploy_standin.runs == [["-k", "-d", "-e", "debian11-min"] + sum((["-m", h] for h in P), [])]
    assert "rennes: The deployment is successful on nodes\n" in [l.replace("\r", "") for l in handler.lines]
    assert kadeploy_standin.deployed_nodes() == [P[0], P[2], P[3]]


def test_kadeployer_not_ok_when_nothing_deployed_or_output_unreadable(kadeploy_standin):
    kadeploy_standin.configure(fail={h: 1 for h in P[:2]})
    k = Kadeployer(Deployment(P[:2], env_name="debian11-min")).run()
    assert k.deployed_hosts == set() and k.undeployed_hosts == set(P[:2]) and not k.ok
    kadeploy_standin.configure(garbled=True)
    k = Kadeployer(Deployment(P[:2], env_name="debian11-min")).run()
    assert k.deployed_hosts == set() == k.undeployed_hosts and not k.ok
    assert k.processes[0].exit_code == 0


def test_kadeployer_one_process_per_frontend(kadeploy_standin, sshd_hosts, ssh_connection_params):
    """Nodes of two sites: rennes runs locally, lyon's kadeploy3 runs on its frontend over ssh."""
    frontend = sshd_hosts(5)[4].address
    lyon = "sagittaire-1.lyon.grid5000.fr"
    kadeploy_standin.configure(nodes=dict(kadeploy_standin.config["nodes"], **{lyon: frontend}))
    params = dict(ssh_connection_params, host_rewrite_func=lambda site: {"lyon": frontend}[site])
    k = Kadeployer(Deployment(P[:2] + [lyon], env_name="debian11-min"), frontend_connection_params=params).run()
    assert k.ok, [p.dump() for p in k.processes]
    assert k.deployed_hosts == set(P[:2] + [lyon])
    by_frontend = {p.frontend: p for p in k.processes}
    assert set(by_frontend) == {"rennes", "lyon"}
    assert by_frontend["lyon"].host.address == "lyon" and by_frontend["rennes"].host is None
    assert sorted(machines(argv) for argv in kadeploy_standin.runs) == sorted([P[:2], [lyon]])


# -- deploy() -------------------------------------------------------------------------------------
def test_deploy_retries_only_the_failed_hosts(kadeploy_standin, caplog):
    kadeploy_standin.configure(fail={P[1]: 1, P[2]: 2})
    reports = []
    with caplog.at_level(DETAIL, logger="execo"):
        deployed, undeployed = deploy(Deployment(P, env_name="debian11-min"), num_tries=3,
                                      node_connection_params=kadeploy_standin.node_connection_params,
                                      report_func=reports.append)
    assert deployed == set(P) and undeployed == set()
    assert [sorted(machines(argv)) for argv in kadeploy_standin.runs] == [P, [P[1], P[2]], [P[2]]]
    assert [(r.index, r.attempted, r.deployed_by_tool, r.deployed_by_check, r.total_deployed,
             r.total_undeployed) for r in reports] == [(0, None, None, 0, 0, 4), (1, 4, 2, 2, 2, 2),
                                                       (2, 2, 1, 1, 3, 1), (3, 1, 1, 1, 4, 0)]
    assert reports[1].failed == {P[1], P[2]} and reports[2].newly_deployed == {P[1]}
    text = caplog.text
    assert "deploy finished in 3 tries" in text
    assert "deploy  duration  attempted  deployed     deployed     total     total" in text
    rows = [r.getMessage() for r in caplog.records if r.getMessage().startswith("#")]
    assert [row.split()[2:] for row in rows] == [["None", "None", "0", "0", "4"], ["4", "2", "2", "2", "2"],
                                                 ["2", "1", "1", "3", "1"], ["1", "1", "1", "4", "0"]]
    assert all(r.levelno == DETAIL for r in caplog.records if r.getMessage().startswith("#"))


def test_deploy_gives_up_after_num_tries(kadeploy_standin):
    kadeploy_standin.configure(fail={P[0]: -1})
    deployed, undeployed = deploy(Deployment(P[:2], env_name="debian11-min"), num_tries=2,
                                  node_connection_params=kadeploy_standin.node_connection_params)
    assert deployed == {P[1]} and undeployed == {P[0]}
    assert len(kadeploy_standin.runs) == 2
    assert kadeploy_standin.state["deployments"] == {P[0]: 2, P[1]: 1}


def test_already_deployed_hosts_are_not_deployed_again(kadeploy_standin):
    kadeploy_standin.mark_deployed(P[0])
    kadeploy_standin.mark_deployed(P[3])
    deployed, undeployed = deploy(Deployment(P, env_name="debian11-min"),
                                  node_connection_params=kadeploy_standin.node_connection_params)
    assert deployed == set(P) and not undeployed
    assert [sorted(machines(argv)) for argv in kadeploy_standin.runs] == [[P[1], P[2]]]


def test_a_node_kadeploy_calls_deployed_but_is_not_is_not_reported(kadeploy_standin):
    kadeploy_standin.configure(report_ok_broken={P[0]: 1})
    deployed, undeployed = deploy(Deployment(P[:2], env_name="debian11-min"),
                                  node_connection_params=kadeploy_standin.node_connection_params)
    assert deployed == {P[1]} and undeployed == {P[0]}
    assert not kadeploy_standin.is_deployed(P[0])


def test_without_check_kadeploys_report_is_trusted(kadeploy_standin):
    kadeploy_standin.mark_deployed(P[0])  # not checked: deployed again
    kadeploy_standin.configure(fail={P[1]: 1})
    reports = []
    deployed, undeployed = deploy(Deployment(P[:2], env_name="debian11-min"), check_deployed_command=False,
                                  num_tries=2, report_func=reports.append)
    assert deployed == set(P[:2]) and not undeployed
    assert [sorted(machines(argv)) for argv in kadeploy_standin.runs] == [P[:2], [P[1]]]
    assert reports[0].deployed_by_check == 0 and reports[1].deployed_by_tool == 1


def test_enough_deployed_stops_early_and_names_the_bad_hosts(kadeploy_standin):
    kadeploy_standin.configure(fail={P[2]: -1})
    enough = enough_deployed(3)
    deployed, undeployed = deploy(Deployment(P, env_name="debian11-min"), num_tries=5, check_enough_func=enough,
                                  node_connection_params=kadeploy_standin.node_connection_params)
    assert len(kadeploy_standin.runs) == 1
    assert deployed == {P[0], P[1], P[3]} and undeployed == {P[2]}
    assert enough.satisfied and enough.missing == 0 and enough.bad_hosts == {P[2]}


def test_enough_deployed_reports_what_is_missing(kadeploy_standin):
    kadeploy_standin.configure(fail={P[0]: -1, P[1]: -1})
    enough = enough_deployed(3)
    deploy(Deployment(P[:3], env_name="debian11-min"), num_tries=2, check_enough_func=enough,
           node_connection_params=kadeploy_standin.node_connection_params)
    assert not enough.satisfied and enough.missing == 2 and enough.bad_hosts == {P[0], P[1]}
    with pytest.raises(ValueError):
        enough_deployed(-1)


def test_enough_already_deployed_means_no_kadeploy(kadeploy_standin):
    for host in P[:2]:
        kadeploy_standin.mark_deployed(host)
    deployed, _ = deploy(Deployment(P, env_name="debian11-min"), num_tries=3, check_enough_func=enough_deployed(2),
                         node_connection_params=kadeploy_standin.node_connection_params)
    assert deployed == set(P[:2]) and kadeploy_standin.runs == []


def test_vlan_deployments_are_checked_on_kavlan_names(kadeploy_standin):
    seen = []
    params = dict(kadeploy_standin.node_connection_params,
                  host_rewrite_func=lambda name: seen.append(name) or kadeploy_standin.resolver(name))
    deployed, _ = deploy(Deployment(P[:2], env_name="debian11-min", vlan=4), node_connection_params=params)
    assert deployed == set(P[:2])
    assert kadeploy_standin.runs[0][4:6] == ["--vlan", "4"]
    assert set(seen) == {get_kavlan_host_name(h, 4) for h in P[:2]}


def test_unknown_environment_is_a_clear_error(kadeploy_standin):
    with pytest.raises(KadeployError) as info:
        deploy(Deployment(P[:2], env_name="debian99-nope"), num_tries=2,
               node_connection_params=kadeploy_standin.node_connection_params)
    message = str(info.value)
    assert "-e debian99-nope -m %s -m %s" % (P[0], P[1]) in message
    assert "exited with code 1" in message and "The environment 'debian99-nope' does not exist" in message
    assert info.value.deployed_hosts == set() and info.value.undeployed_hosts == set(P[:2])
    assert len(kadeploy_standin.runs) == 1


def test_unreadable_output_is_an_error_that_keeps_earlier_progress(kadeploy_standin):
    kadeploy_standin.configure(fail={P[1]: 1})
    calls = []

    def garble_after_first_try(report):
        calls.append(report.index)
        if report.index == 1:
            kadeploy_standin.configure(garbled=True)

    with pytest.raises(KadeployError, match="output not understood") as info:
        deploy(Deployment(P[:2], env_name="debian11-min"), num_tries=3, report_func=garble_after_first_try,
               node_connection_params=kadeploy_standin.node_connection_params)
    assert info.value.deployed_hosts == {P[0]} and info.value.undeployed_hosts == {P[1]}
    assert calls == [0, 1]


def test_deploy_timeout_leaves_hosts_undeployed(kadeploy_standin):
    kadeploy_standin.configure(delay=30)
    deployed, undeployed = deploy(Deployment(P[:1], env_name="debian11-min"), deploy_timeout=1,
                                  node_connection_params=kadeploy_standin.node_connection_params)
    assert deployed == set() and undeployed == {P[0]}


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_tries"):
        deploy(Deployment(P, env_name="x"), num_tries=-1)
    with pytest.raises(ValueError, match="cannot tell the frontend"):
        Kadeployer(Deployment(["a.b.c.d"], env_name="x"))


# -- KaconsoleProcess ----------------------------------------------------------------------------
def test_kaconsole_logs_in_and_runs_commands(monkeypatch, tmp_path):
    import os

    from execo_g5k import KaconsoleProcess

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(os.path.join(os.path.dirname(os.path.abspath(__file__)), "kaconsole3_standin.sh"),
               str(bin_dir / "kaconsole3"))
    monkeypatch.setenv("PATH", "%s:%s" % (bin_dir, os.environ["PATH"]))
    monkeypatch.setitem(g5k_configuration, "default_frontend", "rennes")
    monkeypatch.setitem(g5k_configuration, "no_ssh_for_local_frontend", True)
    console = KaconsoleProcess(P[0]).start()
    try:
        assert console.wait_connected(10) and console.console_connected.is_set()
        console.write("echo hello-$((6*7))\n")
        assert console.expect("hello-42", timeout=10)[0] == 0
        assert console.expect_prompt(10)[0] == 0
    finally:
        console.close()
    assert console.ended and "[console closed]" in console.stdout


def test_kaconsole_wrong_password_is_a_clear_error(monkeypatch, tmp_path):
    import os

    from execo_g5k import KaconsoleProcess

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(os.path.join(os.path.dirname(os.path.abspath(__file__)), "kaconsole3_standin.sh"),
               str(bin_dir / "kaconsole3"))
    monkeypatch.setenv("PATH", "%s:%s" % (bin_dir, os.environ["PATH"]))
    monkeypatch.setitem(g5k_configuration, "default_frontend", "rennes")
    monkeypatch.setitem(g5k_configuration, "no_ssh_for_local_frontend", True)
    console = KaconsoleProcess(P[1], password="nope").start()
    try:
        with pytest.raises(KadeployError, match="no shell prompt within 2s") as info:
            console.wait_connected(2)
        assert "Login incorrect" in str(info.value) and "kaconsole3 %s" % P[1] in str(info.value)
    finally:
        console.close()
