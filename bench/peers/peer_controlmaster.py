"""Peer: OpenSSH ControlMaster. The cold round opens one persistent master per host (ControlMaster=auto,
ControlPersist) while running `true`; warm rounds run `ssh -S SOCKET HOST true` through the masters."""

import os
import shutil
import subprocess
import tempfile

import harness


def setup(job):
    # unix socket paths are short (108 bytes): a directory of its own right under /tmp
    job["control_dir"] = tempfile.mkdtemp(prefix="cm-", dir="/tmp")
    job["cold_done"] = False
    return job


def _socket(job, host):
    return os.path.join(job["control_dir"], host)


def _command(job, host):
    base = ["ssh", "-F", job["ssh_config"]]
    if not job["cold_done"]:
        return base + ["-o", "ControlMaster=auto", "-o", "ControlPersist=600", "-o",
                       "ControlPath=" + _socket(job, host), host, "true"]
    return base + ["-o", "ControlMaster=no", "-S", _socket(job, host), host, "true"]


def run_round(job):
    procs = [(host, subprocess.Popen(_command(job, host), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE))
             for host in job["hosts"]]
    failures = []
    for host, proc in procs:
        # a master started by ControlPersist keeps our stderr pipe open: do not read it to end of file
        proc.wait()
        if proc.returncode != 0:
            failures.append("%s: exit %d" % (host, proc.returncode))
    job["cold_done"] = True
    return failures


def teardown(job):
    procs = [subprocess.Popen(["ssh", "-F", job["ssh_config"], "-S", _socket(job, host), "-O", "exit", host],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for host in job["hosts"] if os.path.exists(_socket(job, host))]
    for proc in procs:
        proc.wait()
    shutil.rmtree(job["control_dir"], ignore_errors=True)


if __name__ == "__main__":
    harness.main(setup, run_round, teardown)
