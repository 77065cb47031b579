"""Fixtures that bring up the real OAR 2.5 testbed (``oar-up``) and clean the jobs the tests submit.

The testbed (``$EXECO_OAR_TESTBED``, default ``<repo>/../shared/testbed``) runs a real OAR server
on this machine: the frontend is sshd on 127.0.0.1:22 where the test user ``oaruser`` logs in
with root's key, and the nodes node-1..node-4 are 127.0.0.2..5 (see its README). ``oar-up`` is
idempotent (about 4 s when already up), so the session fixture always runs it; it is left
running afterwards (``oar-down`` is for humans).

Every job a test submits gets a name starting with the session's ``job_prefix`` and is
recorded with ``track``; at the end of the session all of them, and any other job whose name
has that prefix, are deleted. The tests set OAR's time zone in g5k_configuration to the
machine's own zone, since OAR prints local dates and this machine is not in Europe/Paris.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from typing import Any, Dict, Iterable, List

import pytest

from execo.host import Host
from execo_g5k.config import g5k_configuration

__all__ = ["oar_testbed", "oar_config", "OarTestbed"]

TESTBED_ENV = "EXECO_OAR_TESTBED"
OAR_UP_TIMEOUT = 600
ROOT_KEY = "/root/.ssh/id_ed25519"
TEST_USER = "oaruser"
NODES = ["node-1", "node-2", "node-3", "node-4"]
NODE_ADDRESSES = {"node-%d" % i: "127.0.0.%d" % (i + 1) for i in range(1, 5)}
JOB_KEY = "/home/%s/.execo-test-jobkey" % TEST_USER


def oar_testbed_dir() -> str:
    """Where oar-up and oar-down live: $EXECO_OAR_TESTBED, else ../shared/testbed, else the copy in .ci/testbed."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if os.environ.get(TESTBED_ENV):
        return os.path.abspath(os.environ[TESTBED_ENV])
    shared = os.path.join(repo, "..", "shared", "testbed")
    if os.path.exists(os.path.join(shared, "oar-up")):
        return os.path.abspath(shared)
    return os.path.join(repo, ".ci", "testbed")


def local_zone_name() -> str:
    """This machine's zone name (what OAR's commands print their dates in)."""
    try:
        target = os.readlink("/etc/localtime")
        match = re.search(r"zoneinfo/(.+)$", target)
        if match:
            return match.group(1)
    except OSError:
        pass
    try:
        with open("/etc/timezone") as f:
            name = f.read().strip()
            if name:
                return name
    except OSError:
        pass
    return "UTC"


def _run(argv: List[str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=timeout, universal_newlines=True)


class OarTestbed:
    """What the tests need to reach the testbed, and the jobs to delete at the end."""

    def __init__(self, directory: str, oar_up_seconds: float) -> None:
        self.directory = directory
        self.oar_up_seconds = oar_up_seconds
        self.user = TEST_USER
        self.frontend = Host("127.0.0.1", user=TEST_USER, keyfile=ROOT_KEY, port=22)
        # the frontend is an address: no "<site>.grid5000.fr" rewriting
        self.frontend_connection_params: Dict[str, Any] = {"host_rewrite_func": None}
        self.node_connection_params: Dict[str, Any] = {"user": TEST_USER, "keyfile": ROOT_KEY, "port": 22}
        self.nodes = list(NODES)
        self.node_addresses = dict(NODE_ADDRESSES)
        self.timezone = local_zone_name()
        self.job_prefix = "execo-test-%d-" % (os.getpid(),)
        self.job_key = JOB_KEY
        self._tracked: List[int] = []

    def name(self, suffix: str) -> str:
        """A job name this session will clean up."""
        return self.job_prefix + suffix

    def track(self, jobs: Iterable[Any]) -> None:
        """Remember (job_id, frontend) results (or bare ids) for deletion at the end."""
        for job in jobs:
            job_id = job[0] if isinstance(job, tuple) else job
            if job_id is not None:
                self._tracked.append(int(job_id))

    def notify_scheduler(self) -> None:
        """Make Almighty schedule now (it otherwise waits up to 60 s when nothing happens)."""
        _run(["oarnotify", "Scheduling"], timeout=30)

    def oarstat_state(self, job_id: int) -> str:
        """The job's state as ``oarstat -s`` prints it (read as root, independently of the code under test)."""
        out = _run(["oarstat", "-s", "-j", str(job_id)], timeout=30).stdout
        match = re.search(r"^%d: (\w+)" % job_id, out, re.MULTILINE)
        return match.group(1) if match else ""

    def wait_state(self, job_id: int, states: Iterable[str], timeout: float = 60) -> str:
        """Poll (as root) until the job reaches one of ``states``; returns it."""
        states = tuple(states)
        deadline = time.time() + timeout
        state = ""
        while time.time() < deadline:
            state = self.oarstat_state(job_id)
            if state in states:
                return state
            time.sleep(0.5)
        raise AssertionError("job %d still %r after %ss, expected one of %s" % (job_id, state, timeout, states))

    def session_jobs(self) -> List[int]:
        """Unfinished jobs named with this session's prefix (as root, from oarstat -f)."""
        out = _run(["oarstat", "-f"], timeout=60).stdout
        ids, current = [], None
        for line in out.splitlines():
            match = re.match(r"^Job_Id: (\d+)", line)
            if match:
                current = int(match.group(1))
            match = re.match(r"^\s+name = (.*)$", line)
            if match and current is not None and match.group(1).strip().startswith(self.job_prefix):
                ids.append(current)
        return ids

    def delete_all(self) -> None:
        """oardel (as root) every tracked or prefixed job that may still be alive."""
        ids = sorted(set(self._tracked) | set(self.session_jobs()))
        if ids:
            _run(["oardel"] + [str(i) for i in ids], timeout=120)
        self._tracked = []


def _ensure_job_key() -> None:
    """An RSA job key for oarsub -k -i (OAR 2.5 only takes rsa/dss), owned by the test user."""
    if os.path.exists(JOB_KEY):
        return
    result = _run(["runuser", "-u", TEST_USER, "--", "ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "",
                   "-C", "execo-test-jobkey", "-f", JOB_KEY])
    if result.returncode != 0:
        raise RuntimeError("cannot create the job key %s: %s" % (JOB_KEY, result.stdout))


@pytest.fixture(scope="session")
def oar_testbed():
    """The running OAR testbed (oar-up is run once per session); deletes the session's jobs at the end."""
    directory = oar_testbed_dir()
    oar_up = os.path.join(directory, "oar-up")
    if not os.path.exists(oar_up):
        pytest.skip("no OAR testbed: %s does not exist (set %s to the directory holding oar-up)"
                    % (oar_up, TESTBED_ENV))
    start = time.time()
    try:
        result = _run([oar_up], timeout=OAR_UP_TIMEOUT)
    except subprocess.TimeoutExpired as error:
        pytest.fail("%s did not finish within %ss; its output:\n%s" % (oar_up, OAR_UP_TIMEOUT, error.output))
    if result.returncode != 0:
        pytest.fail("%s failed (exit %d); its output:\n%s" % (oar_up, result.returncode, result.stdout))
    _ensure_job_key()
    testbed = OarTestbed(directory, time.time() - start)
    try:
        yield testbed
    finally:
        testbed.delete_all()


@pytest.fixture
def oar_config(oar_testbed):
    """g5k_configuration for the testbed: its time zone and fast polling; restored afterwards."""
    saved = dict(g5k_configuration)
    g5k_configuration.update(oar_timezone=oar_testbed.timezone, polling_interval=2, tiny_polling_interval=0.5,
                             default_timeout=60)
    try:
        yield oar_testbed
    finally:
        g5k_configuration.clear()
        g5k_configuration.update(saved)
