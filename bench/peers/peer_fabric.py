"""Peer: fabric's ThreadingGroup (paramiko, one thread per host per run); warm rounds reuse its connections."""

import harness


def setup(job):
    import fabric

    group = fabric.ThreadingGroup(*job["hosts"], user=job["user"], port=job["port"],
                                  connect_timeout=job["connect_timeout"],
                                  connect_kwargs={"key_filename": [job["key"]], "look_for_keys": False,
                                                  "allow_agent": False})
    return {"fabric": fabric, "group": group}


def run_round(state):
    try:
        results = state["group"].run("true", hide=True, warn=True)
    except state["fabric"].exceptions.GroupException as error:
        results = error.result
    failures = ["%s: %r" % (conn.host, result) for conn, result in results.failed.items()]
    failures += ["%s: exit %s" % (conn.host, result.exited) for conn, result in results.succeeded.items()
                 if result.exited != 0]
    return failures


def teardown(state):
    state["group"].close()


if __name__ == "__main__":
    harness.main(setup, run_round, teardown)
