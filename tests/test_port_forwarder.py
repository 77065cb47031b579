"""PortForwarder through real sshd hosts, with the pooled backend and with the ssh command line."""

import errno
import socket
import threading
import time

import pytest

from execo import ProcessesFailed
from execo.port_forwarder import PortForwarder
from execo.utils import get_port

BACKENDS = ["pool", "command"]


@pytest.fixture(params=BACKENDS)
def params(request, ssh_connection_params):
    return dict(ssh_connection_params, ssh_backend=request.param, forwarding_timeout=15)


@pytest.fixture
def host(sshd_hosts):
    return sshd_hosts(1)[0].address


@pytest.fixture
def echo_port():
    """A TCP echo server on 127.0.0.1 (its own thread, one thread per client); stopped after the test."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    stop = threading.Event()

    def serve_one(conn):
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                conn.sendall(data)

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=serve_one, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    server.shutdown(socket.SHUT_RDWR)
    server.close()
    thread.join(5)


def echo_through(port, payload):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while True:
            data = sock.recv(65536)
            if not data:
                return received
            received += data


def closed_without_answer(port):
    """The forwarder accepts, then closes (EOF or reset: unread data makes the close a reset)."""
    try:
        return echo_through(port, b"nobody there") == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except OSError as error:
        if error.errno == errno.ENOTCONN:  # closed before our shutdown(SHUT_WR)
            return True
        raise


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_forward_reaches_an_echo_server(params, host, echo_port):
    forwarder = PortForwarder(host, "127.0.0.1", echo_port, connection_params=params)
    assert not forwarder.forwarding.is_set()
    with forwarder:
        assert forwarder.forwarding.is_set() and forwarder.running
        assert echo_through(forwarder.local_port, b"hello through the tunnel") == b"hello through the tunnel"
        big = bytes(range(256)) * 4096  # 1 MiB, both ways at once
        assert echo_through(forwarder.local_port, big) == big
        results = []
        threads = [threading.Thread(target=lambda i=i: results.append(echo_through(forwarder.local_port, b"%d" % i)))
                   for i in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(results) == [b"%d" % i for i in range(5)]
    forwarder.wait(30)
    assert forwarder.ended and forwarder.killed and forwarder.ok, forwarder.dump()
    with pytest.raises(OSError):  # nothing listens any more
        socket.create_connection(("127.0.0.1", forwarder.local_port), timeout=5).close()


def test_forward_to_a_closed_port_stays_up(params, host, echo_port):
    local_port = get_port()
    with PortForwarder(host, "127.0.0.1", free_port(), local_port=local_port, connection_params=params) as forwarder:
        assert forwarder.local_port == local_port
        for _ in range(2):
            assert closed_without_answer(local_port)
        time.sleep(0.2)
        assert forwarder.running, forwarder.dump()
        assert "open failed" in forwarder.stderr or "failed" in forwarder.stderr, forwarder.stderr
    forwarder.wait(30)
    assert forwarder.ok


def test_bind_address_that_is_not_ours_fails_clearly(params, host, echo_port):
    forwarder = PortForwarder(host, "127.0.0.1", echo_port, bind_address="192.0.2.1", connection_params=params)
    started = time.monotonic()
    with pytest.raises(ProcessesFailed) as raised:
        with forwarder:
            pass
    assert time.monotonic() - started < 10  # not forwarding_timeout: the failure is seen at once
    assert forwarder.ended and not forwarder.forwarding.is_set()
    text = str(raised.value)
    assert "192.0.2.1" in text and ("Cannot assign requested address" in text), text


def test_bad_arguments_are_refused_at_construction(host):
    with pytest.raises(ValueError, match="bind_address"):
        PortForwarder(host, "127.0.0.1", 80, bind_address="127.0.0.1 -o ProxyCommand=x")
    with pytest.raises(ValueError, match="remote_port"):
        PortForwarder(host, "127.0.0.1", 70000)
    with pytest.raises(ValueError, match="local_port"):
        PortForwarder(host, "127.0.0.1", 80, local_port="80")


def test_unreachable_host_fails_without_waiting(params, sshd_fresh_host, echo_port):
    down = sshd_fresh_host()
    down.kill()
    forwarder = PortForwarder(down.address, "127.0.0.1", echo_port, connection_params=params, nolog_error=True,
                              nolog_exit_code=True)
    started = time.monotonic()
    with pytest.raises(ProcessesFailed):
        forwarder.__enter__()
    assert time.monotonic() - started < 10
    assert forwarder.ended and not forwarder.ok


def test_repr_and_str(host, ssh_connection_params):
    forwarder = PortForwarder(host, "127.0.0.1", 8080, local_port=25999)
    assert repr(forwarder) == "PortForwarder(%r, '127.0.0.1', 8080, 25999, '127.0.0.1')" % (forwarder.host,)
    assert "forwarding=False" in str(forwarder)
    assert forwarder.cmd[-2:] == (host, "sleep 31536000")
    assert "127.0.0.1:25999:127.0.0.1:8080" in forwarder.cmd
