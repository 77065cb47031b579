"""msgpack framing over real pipes: partial reads, coalesced writes, a full non-blocking pipe."""

import os

import pytest

from execo_actors.frames import FrameReader, FrameWriter, pack


def test_frames_survive_any_split():
    frames = [{"op": "exec", "id": 17, "host": {"address": "h", "port": 22}, "cmd": "echo é", "pty": False},
              {"op": "write", "id": 17, "data": bytes(range(256)) * 10},
              {"ev": "ended", "id": 17, "status": None, "signal": "TERM", "error": None, "t": 1.5}]
    stream = b"".join(pack(f) for f in frames)
    for step in (1, 3, 7, 1000, len(stream)):
        reader = FrameReader()
        got = []
        for i in range(0, len(stream), step):
            got += reader.feed(stream[i:i + step])
        assert got == frames
        assert isinstance(got[1]["data"], bytes) and isinstance(got[0]["cmd"], str)


def test_garbage_is_refused():
    with pytest.raises(ValueError, match="corrupt frame stream"):
        FrameReader().feed(pack([1, 2]))


def test_writer_on_a_full_nonblocking_pipe():
    r, w = os.pipe()
    try:
        os.set_blocking(w, False)
        writer = FrameWriter()
        big = {"op": "write", "id": 1, "data": os.urandom(300000)}
        small = [{"op": "kill", "id": i, "sig": 15} for i in range(1000)]
        writer.push(big)
        for frame in small:
            writer.push(frame)
        writer.flush(w)
        assert writer.pending()  # the pipe (64 KiB) could not take it all, and flush did not block
        reader = FrameReader()
        got = []
        while writer.pending() or len(got) < 1001:
            got += reader.feed(os.read(r, 1 << 20))
            writer.flush(w)
        assert got == [big] + small
    finally:
        os.close(r)
        os.close(w)


def test_writer_reports_a_gone_reader():
    r, w = os.pipe()
    os.close(r)
    writer = FrameWriter()
    writer.push({"op": "shutdown"})
    try:
        with pytest.raises(BrokenPipeError):
            writer.flush(w)
    finally:
        os.close(w)
