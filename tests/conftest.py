"""Pytest set-up shared by the whole suite: each plugin module holds the fixtures of one kind of real server."""

import os
import sys

pytest_plugins = ["sshd_servers", "g5k_standins", "g5k_deploy_fixtures", "oar_testbed"]

# Console scripts (execo-run, funk, ...) are found next to the interpreter that runs the
# tests, as in a venv that is not activated (CI runs .venv/bin/python -m pytest).
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
