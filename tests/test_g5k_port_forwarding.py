"""G5kAutoPortForwarder through a real sshd standing for a site frontend."""

import socket
import threading

from execo_g5k import G5kAutoPortForwarder


def echo_server():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def serve():
        connection, _ = server.accept()
        with connection:
            connection.sendall(connection.recv(100).upper())
        server.close()

    threading.Thread(target=serve, daemon=True).start()
    return server.getsockname()[1]


def test_outside_grid5000_the_port_is_forwarded_through_the_frontend(sshd_hosts, ssh_connection_params):
    frontend = sshd_hosts(1)[0].address
    port = echo_server()
    params = dict(ssh_connection_params, host_rewrite_func=None)
    with G5kAutoPortForwarder(frontend, "127.0.0.1", port, connection_params=params) as (host, local_port):
        assert (host, local_port) != ("127.0.0.1", port)
        with socket.create_connection((host, local_port), timeout=10) as client:
            client.sendall(b"ping")
            assert client.recv(100) == b"PING"


def test_without_a_frontend_the_node_is_reached_directly():
    with G5kAutoPortForwarder("", "node-1", 8080) as (host, port):
        assert (host, port) == ("node-1", 8080)
