"""Peer: one plain `ssh HOST true` process per host, all at once, every round (no reuse)."""

import subprocess

import harness


def setup(job):
    return job


def run_round(job):
    procs = [(host, subprocess.Popen(["ssh", "-F", job["ssh_config"], host, "true"], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
             for host in job["hosts"]]
    failures = []
    for host, proc in procs:
        _, err = proc.communicate()
        if proc.returncode != 0:
            failures.append("%s: exit %d %s" % (host, proc.returncode, err.decode(errors="replace").strip()))
    return failures


if __name__ == "__main__":
    harness.main(setup, run_round, lambda job: None)
