"""msgpack frames between the controller and its connection workers.

A frame is a msgpack map; frames follow each other on a pipe with no extra length prefix (msgpack is
self-delimiting). Bytes stay bytes (``use_bin_type``), strings stay str. Both ends read with a streaming
unpacker fed whatever ``os.read`` returned, so a reader never blocks waiting for the rest of a frame.
The protocol itself is documented in docs/ssh.md.
"""

from __future__ import annotations

import os
from collections import deque
from typing import Any, Deque, Dict, List

import msgpack

Frame = Dict[str, Any]

# a frame larger than this is a bug or a corrupt stream, not data: refuse it instead of eating memory
MAX_FRAME_BYTES = 64 * 1024 * 1024


def pack(frame: Frame) -> bytes:
    return msgpack.packb(frame, use_bin_type=True)


class FrameReader:
    """Feed it bytes as they come, get back the complete frames they finish."""

    def __init__(self) -> None:
        self._unpacker = msgpack.Unpacker(raw=False, max_buffer_size=MAX_FRAME_BYTES)

    def feed(self, data: bytes) -> List[Frame]:
        self._unpacker.feed(data)
        frames = []
        for frame in self._unpacker:
            if not isinstance(frame, dict):
                raise ValueError("corrupt frame stream: got %r instead of a map" % (type(frame).__name__,))
            frames.append(frame)
        return frames


class FrameWriter:
    """Frames waiting to go out on a non-blocking fd: push() queues, flush() writes what the pipe takes."""

    COALESCE = 256 * 1024  # join small frames so that 500 execs cost a few writes, not 500

    def __init__(self) -> None:
        self._chunks: Deque[bytes] = deque()
        self._offset = 0  # bytes of _chunks[0] already written

    def push(self, frame: Frame) -> None:
        self._chunks.append(pack(frame))

    def pending(self) -> bool:
        return bool(self._chunks)

    def flush(self, fd: int) -> None:
        """Write as much as the fd accepts now; raises OSError (e.g. EPIPE) when the reader is gone."""
        while self._chunks:
            if self._offset == 0 and len(self._chunks) > 1 and len(self._chunks[0]) < self.COALESCE:
                joined = [self._chunks.popleft()]
                size = len(joined[0])
                while self._chunks and size + len(self._chunks[0]) <= self.COALESCE:
                    size += len(self._chunks[0])
                    joined.append(self._chunks.popleft())
                self._chunks.appendleft(b"".join(joined))
            chunk = self._chunks[0]
            try:
                written = os.write(fd, memoryview(chunk)[self._offset:])
            except BlockingIOError:
                return
            self._offset += written
            if self._offset >= len(chunk):
                self._chunks.popleft()
                self._offset = 0

    def clear(self) -> None:
        self._chunks.clear()
        self._offset = 0
