"""The local examples run as users would run them, and do what they say."""

import os
import subprocess
import sys

import re

import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def run_example(name, *args):
    return subprocess.run([sys.executable, os.path.join(EXAMPLES, name)] + list(args),
                          capture_output=True, text=True, timeout=120)


def test_local_workflow_main_job_reports_every_transfer():
    result = run_example("local_workflow.py", "--hosts", "3")
    assert result.returncode == 0, result.stderr
    rates = [line for line in result.stdout.splitlines() if line.startswith("send to 127.0.0.")]
    assert len(rates) == 3 and all(re.search(r"[\d.,]+ [kMG]?B/s$", line) for line in rates), result.stdout
    total = [line for line in result.stdout.splitlines() if line.startswith("Report")]
    assert total and total[0].split()[-1] == "6"


def test_ls_local():
    result = run_example("ls_local.py")
    assert result.returncode == 0, result.stderr
    assert "exit_code=0, ok=True" in result.stdout
    assert "\nusr\n" in result.stdout


def test_split_merge_workflow_orders_phases():
    result = run_example("split_merge_workflow.py")
    assert result.returncode == 0, result.stderr
    moves = [line for line in result.stdout.splitlines() if line.startswith(("SPLIT", "MERGE"))]
    assert len(moves) == 14
    assert "migrations on paravance" in result.stdout


def test_netcat_bandwidth_over_ssh(sshd_hosts, sshd_env):
    hosts = [h.address for h in sshd_hosts(4)]
    result = run_example("netcat_bandwidth.py", *hosts, "--ssh-config", sshd_env.ssh_config_file,
                         "--nc-port", "26543")
    assert result.returncode == 0, result.stdout + result.stderr
    rates = [line for line in result.stdout.splitlines() if "->" in line]
    assert len(rates) == 4 and all(re.search(r"[\d.,]+ [kMG]?B/s", line) for line in rates), result.stdout


def test_local_campaign_runs_and_continues(tmp_path):
    result = subprocess.run(["execo-run", os.path.join(EXAMPLES, "local_campaign.py"), "-ML"],
                            capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    result_dirs = [d for d in tmp_path.iterdir() if d.is_dir()]
    assert len(result_dirs) == 1
    results = list((result_dirs[0] / "results").iterdir())
    assert len(results) == 12
    again = subprocess.run(["execo-run", os.path.join(EXAMPLES, "local_campaign.py"), "-c", str(result_dirs[0])],
                           capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(list((result_dirs[0] / "results").iterdir())) == 12
