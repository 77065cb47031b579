"""What every peer script of bench/remote_fanout.py shares: read the job, time the rounds, print one result.

A peer script is run as ``python bench/peers/peer_NAME.py JOB.json`` by the driver, with the interpreter of
the venv holding that peer, so that each peer's imports, threads and memory stay out of the others' way.
It defines three callables and hands them to :func:`main`:

    setup(job) -> state        imports done, nothing connected yet (not timed)
    run_round(state) -> [str]  runs `true` once on every host; returns one message per host that failed
    teardown(state)            closes connections (not timed)

The first round is the cold one (it opens the connections); the next ``job["rounds"]`` rounds are warm.
This module must stay importable by every peer's interpreter: standard library only, Python >= 3.6.
"""

import json
import os
import sys
import time
import traceback

RESULT_PREFIX = "RESULT "


def rss_bytes(pid="self"):
    """Resident set size of a process, from /proc (0 when it is gone)."""
    try:
        with open("/proc/%s/status" % pid) as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def emit(result):
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()


def main(setup, run_round, teardown, extra=None):
    """Run the job named on the command line and print ``RESULT {json}`` (also on failure)."""
    with open(sys.argv[1]) as f:
        job = json.load(f)
    result = {"hosts": len(job["hosts"]), "errors": 0, "error_samples": [], "cold": None, "warm": [],
              "crash": None}
    state = None
    try:
        state = setup(job)
        result["rss_setup"] = rss_bytes()
        cpu_start = _cpu()
        started = time.perf_counter()
        failures = run_round(state)
        result["cold"] = time.perf_counter() - started
        _count(result, failures)
        for _ in range(job["rounds"]):
            round_start = time.perf_counter()
            failures = run_round(state)
            result["warm"].append(time.perf_counter() - round_start)
            _count(result, failures)
        result["total"] = time.perf_counter() - started
        result["cpu"] = _cpu() - cpu_start
        result["rss_end"] = rss_bytes()
        if extra is not None:
            result.update(extra(state))
    except BaseException as error:  # reported, not raised: the driver prints it and goes on with the others
        result["crash"] = "%s: %s" % (type(error).__name__, error)
        traceback.print_exc()
    finally:
        if state is not None:
            try:
                teardown(state)
            except Exception as error:
                result["teardown_error"] = "%s: %s" % (type(error).__name__, error)
    emit(result)
    os._exit(0)  # do not wait for a peer's lingering non-daemon threads; the result is out


def _cpu():
    """CPU seconds of this process (every thread) and of the children it has waited for (ssh processes)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _count(result, failures):
    result["errors"] += len(failures)
    room = 3 - len(result["error_samples"])
    if room > 0:
        result["error_samples"] += [str(f)[:300] for f in failures[:room]]
