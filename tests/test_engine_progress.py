"""The progress line: redrawn on a terminal (a real pty), periodic log lines otherwise."""

import os
import pty
import select
import subprocess
import sys
import textwrap

from execo_engine.progress import format_eta

SCRIPT = textwrap.dedent('''
    import sys, time
    from execo_engine import ParamSweeper, sweep, sweeper_progress
    from execo_engine.log import ensure_handler
    ensure_handler()
    s = ParamSweeper(sys.argv[1], sweep({"i": list(range(12))}), name="camp")
    with sweeper_progress(s, interval=0.2, refresh=0.05):
        while True:
            c = s.get_next()
            if c is None:
                break
            time.sleep(0.05)
            s.done(c)
''')


def test_not_a_terminal_gives_periodic_log_lines(tmp_path):
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "sw")], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = [l for l in out.stderr.splitlines() if " camp " in l]
    assert len(lines) >= 3 and "\r" not in out.stderr
    assert lines[-1].endswith("camp 12/12 (100%) " + lines[-1].split()[-3] + " ETA 0s")
    rate = float(lines[-1].split()[-3].rstrip("/s"))
    assert 5 < rate < 25  # 12 combinations at about 50 ms each


def test_terminal_gets_a_redrawn_line(tmp_path):
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path / "sw")], stderr=slave,
                                stdout=subprocess.DEVNULL)
        os.close(slave)
        slave = -1
        data = b""
        while True:
            ready, _, _ = select.select([master], [], [], 30)
            assert ready, "no output from the progress line"
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the pty
                break
            if not chunk:
                break
            data += chunk
        assert proc.wait(timeout=30) == 0
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    text = data.decode()
    redraws = text.split("\r\x1b[K")
    assert len(redraws) >= 4
    assert redraws[-1].startswith("camp 12/12 (100%)") and redraws[-1].rstrip().endswith("ETA 0s")
    assert "INFO" not in text


def test_format_eta():
    assert [format_eta(x) for x in (None, 5, 65, 3725)] == ["?", "5s", "1m05s", "1h02m05s"]
