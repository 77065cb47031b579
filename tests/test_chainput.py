"""ChainPut against the real taktuk, netcat-traditional and sshd: one file along a chain of hosts."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess

import pytest

from execo import Report
from execo.chainput import ChainPut
from execo_actors.chainput_forwarder import SCRIPT

pytestmark = [pytest.mark.skipif(shutil.which("taktuk") is None or not os.path.exists("/bin/nc.traditional"),
                                 reason="taktuk or netcat-traditional is not installed"),
              pytest.mark.timeout(240)]

WAIT = 150
UNREACHABLE = "127.0.0.9"


@pytest.fixture(scope="module")
def cp(taktuk_connection_params):
    return dict(taktuk_connection_params, nc="/bin/nc.traditional", chainput_host_retry=3, chainput_try_delay=0.3)


def _sha256(path) -> str:
    digest = hashlib.sha256()
    with open(str(path), "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _leftovers(token_prefix="execo-chainput-"):
    return sorted(name for name in os.listdir("/tmp") if name.startswith(token_prefix))


def test_hop_script_is_valid_posix_sh():
    subprocess.run(["sh", "-n"], input=SCRIPT.encode(), check=True)
    usage = subprocess.run(["sh", "-c", SCRIPT, "hop"], capture_output=True)
    assert usage.returncode == 2 and b"usage" in usage.stderr


def test_chainput_of_20_mb_to_4_hosts(sshd_hosts, cp, tmp_path):
    hosts = [host.address for host in sshd_hosts(4)]
    source = tmp_path / "big.bin"
    with open(str(source), "wb") as f:
        for _ in range(20):
            f.write(os.urandom(1 << 20))
    for address in hosts:  # every host is this machine: one destination directory each
        (tmp_path / address).mkdir()
    before = _leftovers()
    put = ChainPut(hosts, [str(source)], str(tmp_path / "{{{host}}}"), connection_params=cp)
    assert put.name == "ChainPut to 4 hosts"
    put.run(timeout=WAIT)
    assert put.ended
    assert put.ok, "\n".join(p.dump() for p in put.processes if not p.ok)
    expected = _sha256(source)
    for address in hosts:
        copy = tmp_path / address / "big.bin"
        assert copy.stat().st_size == 20 << 20
        assert _sha256(copy) == expected
    stats = Report([put]).stats()
    # TaktukPut (4) + forwarders (4) + local sender (1) + remote clean-up (4)
    assert (stats["num_processes"], stats["num_ended"], stats["num_ok"], stats["num_errors"]) == (13, 13, 13, 0)
    assert put.stats()["sub_stats"] == []  # hide_subactions, as in 2.8
    assert _leftovers() == before  # local private dir and the hosts' helper files are gone


def test_chain_skips_an_unreachable_host(sshd_hosts, cp, tmp_path):
    good = [host.address for host in sshd_hosts(3)]
    hosts = [good[0], UNREACHABLE, good[1], good[2]]
    source = tmp_path / "data.bin"
    source.write_bytes(os.urandom(3 << 20))
    for address in good:
        (tmp_path / address).mkdir()
    put = ChainPut(hosts, str(source), str(tmp_path / "{{{host}}}"), connection_params=cp)
    put.run(timeout=WAIT)
    assert put.ended
    bad = [p for p in put.processes if not p.ok]
    assert bad and all(p.host is not None and p.host.address == UNREACHABLE for p in bad)
    assert any("connection" in str(p.error_reason) for p in bad)
    for address in good:  # the hop before the dead host went on to the next one
        assert _sha256(tmp_path / address / "data.bin") == _sha256(source)


def test_missing_local_file_is_named(cp, tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.bin"):
        ChainPut(["127.0.0.11"], [str(tmp_path / "nothere.bin")], "/tmp", connection_params=cp)


def test_no_hosts_ends_at_once(cp, tmp_path):
    source = tmp_path / "f"
    source.write_text("x")
    put = ChainPut([], [str(source)], connection_params=cp).run(timeout=10)
    assert put.ended and put.ok and put.processes == []
