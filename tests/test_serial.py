"""Serial, SerialSsh and RemoteSerial on a pseudo-terminal standing in for the serial device."""

import os
import select
import subprocess
import time

import pytest

from execo import Host
from execo.serial import RemoteSerial, Serial, SerialSsh, serial_command


@pytest.fixture
def pty_device():
    """(master fd, slave path): the slave is the "serial device", the master is the far end of the cable."""
    master, slave = os.openpty()
    path = os.ttyname(slave)
    yield master, path
    os.close(master)
    os.close(slave)


def read_until(fd, wanted, timeout=10.0):
    data = b""
    deadline = time.monotonic() + timeout
    while wanted not in data and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            data += os.read(fd, 4096)
    return data


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)
    return predicate()


def exchange(process, master):
    """Data written to the process reaches the device's far end, and back, in raw mode (no CR added)."""
    process.write("to the device\n")
    assert read_until(master, b"to the device\n").endswith(b"to the device\n")
    os.write(master, b"from the device\n")
    assert wait_for(lambda: "from the device\n" in process.stdout), process.dump()


def test_command_quotes_the_device_and_the_speed():
    cmd = serial_command("/dev/tty S0; rm -rf x", 115200)
    assert cmd.startswith("stty -F '/dev/tty S0; rm -rf x' 115200 rows 0 ")
    assert cmd.endswith("; cat '/dev/tty S0; rm -rf x' & cat > '/dev/tty S0; rm -rf x'")
    assert "quit '^\\'" in cmd


def test_bad_arguments_name_the_culprit():
    with pytest.raises(TypeError, match="Serial: argument speed"):
        Serial("/dev/ttyS0", "fast")
    with pytest.raises(TypeError, match="SerialSsh: argument device"):
        SerialSsh("127.0.0.1", None, 9600)


def test_serial_local_both_ways(pty_device):
    master, path = pty_device
    process = Serial(path, 115200)
    assert repr(process) == "Serial(%r, 115200)" % path
    with process.start():
        assert wait_for(lambda: _is_raw(path)), "stty did not run"
        exchange(process, master)
    process.wait(10)
    assert process.killed and process.ended


def test_serial_missing_device_fails():
    process = Serial("/nonexistent/ttyX", 9600, nolog_exit_code=True).run(10)
    assert process.ended and not process.ok
    assert "/nonexistent/ttyX" in process.stderr


@pytest.mark.parametrize("backend", ["pool", "command"])
def test_serial_ssh_both_ways(pty_device, sshd_hosts, ssh_connection_params, backend):
    master, path = pty_device
    host = sshd_hosts(1)[0].address
    params = dict(ssh_connection_params, ssh_backend=backend)
    process = SerialSsh(host, path, 9600, connection_params=params)
    assert process.host == Host(host) and process.device == path
    with process.start():
        assert wait_for(lambda: _is_raw(path)), process.dump()
        exchange(process, master)
    process.wait(30)
    assert process.ended and process.killed


def test_remote_serial_writes_to_every_host(pty_device, sshd_hosts, ssh_connection_params):
    master, path = pty_device
    hosts = [h.address for h in sshd_hosts(2)]
    action = RemoteSerial(hosts, path, 9600, connection_params=ssh_connection_params)
    assert action.name == "RemoteSerial %s on 2 hosts" % path
    assert [type(p) for p in action.processes] == [SerialSsh, SerialSsh]
    action.start()
    try:
        assert wait_for(lambda: _is_raw(path))
        time.sleep(0.3)  # both cat readers of the tty are up
        action.write("hello all\n")
        data = read_until(master, b"hello all\nhello all\n")
        assert data.count(b"hello all\n") == 2, data
    finally:
        action.kill().wait(30)
    assert action.ended


def _is_raw(path):
    # what our stty set on the device: no line editing, no echo
    text = subprocess.run(["stty", "-a", "-F", path], capture_output=True, text=True).stdout
    return "-icanon" in text and "-echo " in text
