"""Peer: parallel-ssh (pssh.clients.ParallelSSHClient, libssh2 under gevent); warm rounds reuse its sessions."""

import harness


def setup(job):
    from pssh.clients import ParallelSSHClient

    hosts = job["hosts"]
    client = ParallelSSHClient(hosts, user=job["user"], port=job["port"], pkey=job["key"], pool_size=len(hosts),
                               timeout=job["connect_timeout"], num_retries=1, allow_agent=False,
                               identity_auth=False)
    return client


def run_round(client):
    output = client.run_command("true", stop_on_errors=False)
    client.join(output)
    failures = []
    for host_output in output:
        if host_output.exception is not None:
            failures.append("%s: %r" % (host_output.host, host_output.exception))
        elif host_output.exit_code != 0:
            failures.append("%s: exit %s" % (host_output.host, host_output.exit_code))
    return failures


def teardown(client):
    for host_client in client._host_clients.values():
        if host_client is not None:
            host_client.disconnect()


if __name__ == "__main__":
    harness.main(setup, run_round, teardown)
