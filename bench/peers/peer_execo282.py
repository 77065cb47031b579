"""Peer: the original execo 2.8.2 (its Remote runs one `ssh` process per host), from the bench venv."""

import harness


def setup(job):
    import execo

    execo.Process("true").run()  # its conductor thread starts outside the clock, as for ours
    params = dict(job["execo_params"])
    params.pop("ssh_config_file", None)  # not a 2.8.2 parameter
    params["ssh_options"] = tuple(params["ssh_options"])
    return {"execo": execo, "job": job, "params": params}


def run_round(state):
    job = state["job"]
    action = state["execo"].Remote("true", job["hosts"], connection_params=state["params"]).run(job["timeout"])
    return ["%s: %s" % (p.host.address, p.error_reason or "exit %s" % p.exit_code)
            for p in action.processes if not p.finished_ok]


if __name__ == "__main__":
    harness.main(setup, run_round, lambda state: None)
