"""execo's paramiko Transport against a real sshd: what it sends, and what it records beyond paramiko."""

import socket
import time

import paramiko
from paramiko.common import MSG_CHANNEL_CLOSE, MSG_CHANNEL_EOF

from execo_actors.ssh_transport import Transport


def connect(env, host):
    transport = Transport(socket.create_connection((host.address, env.port), timeout=10))
    transport.start_client(timeout=10)
    transport.auth_publickey(env.user, paramiko.Ed25519Key.from_private_key_file(env.client_key))
    return transport


def run(transport, command):
    """exec command without waiting in paramiko's blocking calls; returns the channel once closed."""
    opened = []
    transport.open_session_nowait(lambda chan, error: opened.append((chan, error)), lambda chan: None)
    deadline = time.monotonic() + 10
    while not opened and time.monotonic() < deadline:
        time.sleep(0.01)
    channel, error = opened[0]
    assert error is None
    transport.send_request(channel, "exec", command)
    while not channel.closed and time.monotonic() < deadline:
        time.sleep(0.01)
    return channel


def test_a_close_from_the_server_is_answered_with_a_close_alone(sshd_env, sshd_hosts):
    host, = sshd_hosts(1)
    transport = connect(sshd_env, host)
    sent = []
    send = transport._send_user_message
    transport._send_user_message = lambda m: (sent.append(m.asbytes()[0]), send(m))
    try:
        channel = run(transport, "exit 3")
        assert channel.closed and channel.exit_status == 3
        assert sent.count(MSG_CHANNEL_CLOSE) == 1 and MSG_CHANNEL_EOF not in sent
        assert run(transport, "true").exit_status == 0  # the connection goes on
    finally:
        transport.close()


def test_exit_signal_is_recorded(sshd_env, sshd_hosts):
    host, = sshd_hosts(1)
    transport = connect(sshd_env, host)
    try:
        channel = run(transport, "kill -s USR1 $$")
        assert channel.exit_signal == "USR1" and channel.exit_status == -1
    finally:
        transport.close()


def test_a_server_that_stops_after_its_banner_fails_the_handshake_in_time_without_a_timer_thread():
    # paramiko starts a timer thread per connection for the handshake's timeout; ours is a deadline
    import threading
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    accepted = []

    def serve():
        conn, _ = server.accept()
        accepted.append(conn)
        conn.sendall(b"SSH-2.0-OpenSSH_9.2 silent after this\r\n")  # then nothing: no KEXINIT

    threading.Thread(target=serve, daemon=True).start()
    transport = Transport(socket.create_connection(server.getsockname(), timeout=5))
    transport.handshake_timeout = 1
    try:
        started = time.monotonic()
        done = threading.Event()
        transport.start_client(event=done)  # in the background: look at the threads while it waits
        time.sleep(0.5)  # the banner is in, the key exchange waits
        assert transport.is_active() and transport.remote_version.startswith("SSH-2.0-OpenSSH_9.2")
        assert not any(isinstance(t, threading.Timer) for t in threading.enumerate())
        assert done.wait(6) and not transport.is_active()
        assert time.monotonic() - started < 6
        assert transport.host_key is None and transport.packetizer.handshake_timed_out()
        assert isinstance(transport.get_exception(), EOFError)  # what paramiko says when its handshake times out
    finally:
        transport.close()
        for conn in accepted:
            conn.close()
        server.close()
