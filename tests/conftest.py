"""Pytest set-up shared by the whole suite: each plugin module holds the fixtures of one kind of real server."""

pytest_plugins = ["sshd_servers", "g5k_standins"]
