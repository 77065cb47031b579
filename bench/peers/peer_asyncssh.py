"""Peer: asyncssh, one event loop: gather(connect) then gather(conn.run('true')) on the same connections."""

import asyncio

import harness


def setup(job):
    import asyncssh

    return {"asyncssh": asyncssh, "job": job, "loop": asyncio.new_event_loop(), "conns": None}


async def _connect(state, host):
    job = state["job"]
    return await state["asyncssh"].connect(host, port=job["port"], username=job["user"], client_keys=[job["key"]],
                                           known_hosts=None, agent_path=None, config=[],
                                           connect_timeout=job["connect_timeout"])


async def _round(state):
    hosts = state["job"]["hosts"]
    if state["conns"] is None:
        connected = await asyncio.gather(*[_connect(state, host) for host in hosts], return_exceptions=True)
        state["conns"] = connected
    conns = state["conns"]

    async def run(conn):
        if isinstance(conn, BaseException):
            return conn
        return await conn.run("true", check=False)

    results = await asyncio.gather(*[run(conn) for conn in conns], return_exceptions=True)
    failures = []
    for host, result in zip(hosts, results):
        if isinstance(result, BaseException):
            failures.append("%s: %r" % (host, result))
        elif result.exit_status != 0:
            failures.append("%s: exit %s" % (host, result.exit_status))
    return failures


def run_round(state):
    return state["loop"].run_until_complete(_round(state))


def teardown(state):
    async def close():
        for conn in state["conns"] or []:
            if not isinstance(conn, BaseException):
                conn.close()
                await conn.wait_closed()

    state["loop"].run_until_complete(close())
    state["loop"].close()


if __name__ == "__main__":
    harness.main(setup, run_round, teardown)
