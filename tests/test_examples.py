"""The local examples run as users would run them, and do what they say."""

import os
import subprocess
import sys

import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def run_example(name, *args):
    return subprocess.run([sys.executable, os.path.join(EXAMPLES, name)] + list(args),
                          capture_output=True, text=True, timeout=120)


def test_local_workflow_main_job_reports_every_transfer():
    result = run_example("local_workflow.py", "--hosts", "3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("sent to 127.0.0.") == 3
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
