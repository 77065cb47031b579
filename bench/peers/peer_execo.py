"""Peer: this repository's execo through its facade (``from execo import Remote``): by default the pooled
paramiko backend, in connection worker processes (one per core). A new Remote per round, as a script would."""

import gc
import os

import harness
import procinfo


def setup(job):
    if job.get("tweaks"):  # the bench's "execo+tweaks" peer: same facade, workers with paramiko tweaks
        os.environ["EXECO_BENCH_TWEAKS"] = job["tweaks"]
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [os.path.dirname(os.path.abspath(__file__)),
                                                                 os.environ.get("PYTHONPATH")]))
        import execo_actors.worker_pool

        execo_actors.worker_pool.WORKER_MODULE = "tweaked_conn_worker"
    from execo import Process, Remote

    Process("true").run()  # the runtime (I/O actor, sentinel) starts outside the clock; the workers do not
    gc.collect()
    rss_runtime = harness.rss_bytes()
    import execo_actors.remote_process  # noqa: F401  what the first SshProcess imports: a fixed cost, not per host

    gc.collect()
    return {"Remote": Remote, "job": job, "rss_runtime": rss_runtime, "rss_before": harness.rss_bytes(),
            "cpu_before": procinfo.cpu_seconds(os.getpid()), "last": None}


def run_round(state):
    job = state["job"]
    action = state["Remote"]("true", job["hosts"], connection_params=job["execo_params"]).run(job["timeout"])
    state["last"] = action  # the handles of the last round stay alive, as in a script that reads them
    return ["%s: %s" % (p.host.address, p.error_reason or "exit %s" % p.exit_code)
            for p in action.processes if not p.finished_ok]


def memory(state):
    job = state["job"]
    gc.collect()
    workers = [pid for pid, cmdline in procinfo.children(os.getpid()) if "conn_worker" in cmdline]
    return {
        "controller_rss_runtime": state["rss_runtime"],
        "controller_rss_before": state["rss_before"],
        "controller_cpu": procinfo.cpu_seconds(os.getpid()) - state["cpu_before"],
        "workers_cpu": sum(procinfo.cpu_seconds(pid) for pid in workers),
        "controller_rss_after": harness.rss_bytes(),
        "workers": len(workers),
        "workers_rss": sum(harness.rss_bytes(pid) for pid in workers),
        "connected": procinfo.connections_to(workers, job["port"]),
    }


def teardown(state):
    from execo_actors import runtime

    state["last"] = None
    runtime._shutdown()  # the workers kill, close and exit; the harness then leaves with os._exit


if __name__ == "__main__":
    harness.main(setup, run_round, teardown, extra=memory)
