"""Per-process marks files: done marks appended without the directory lock.

Why: with one shared journal every operation takes the directory's fcntl lock, and
several processes on a busy machine spend their time handing that lock to each other.
Only *taking* combinations (and giving them back) needs mutual exclusion: two workers
must never get the same one. Ending a hold with done does not. So each process appends
its done marks to a file of its own, ``marks-<random token>.msgpack``, with one plain
``write()`` from its sweeper actor's thread and no directory lock, and other processes read those files
when they need the done marks (queries, compaction, before a record gives combinations
back), the way they read the shared journal.

Layout: a 16-byte header (magic ``EXECOM1\n``, 8 zero bytes), then records framed as in
the shared journal (``uint32 length | uint32 crc32 | msgpack``), each ``["d", combs]``.
A file is *registered* by a ``["w", name, owner]`` record in the shared journal, written
under the lock before its first mark, so readers learn every file from the journal (no
directory listing on the hot path), and *retired* by ``["x", name]`` when its process
stops, or when another process of its host finds it dead. Snapshots list the files still
followed and the offset up to which they cover each; compaction removes retired files.

Why merging needs no global order: done is final. A done mark ends whatever hold there
is, and a take of a combination already done is ignored, so a reader may apply a done
mark before or after the journal records written around it and reach the same state.

A record still being written by a live process looks like a torn tail: readers leave it
for later instead of dropping it. Once the writer is known to be finished (retired) a
torn tail is dropped with a warning, as in the shared journal; a bad record followed by
a valid one is corruption and raises JournalCorruptError naming the file and offset.
"""

from __future__ import annotations

import binascii
import errno
import logging
import os
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from execo_actors.journal import (JournalCorruptError, JournalError, _fsync_dir, encode_record,
                                  parse_records)

log = logging.getLogger("execo.actors.journal")

MARKS_MAGIC = b"EXECOM1\n"
HEADER = MARKS_MAGIC + b"\0" * 8
PREFIX = "marks-"
SUFFIX = ".msgpack"


def new_marks_name() -> str:
    return "%s%s%s" % (PREFIX, binascii.hexlify(os.urandom(8)).decode(), SUFFIX)


def is_marks_name(name: str) -> bool:
    return name.startswith(PREFIX) and name.endswith(SUFFIX)


class MarksWriter:
    """Appends this process's done marks to its own file; thread-safe, no inter-process lock.

    Durability: each record is written with one ``write()`` before the mark is
    acknowledged (it survives a SIGKILL); the file is fsync'ed at most once per
    `sync_interval` seconds and when it is closed.
    """

    def __init__(self, directory: str, sync_interval: float = 1.0):
        self.name = new_marks_name()
        self.path = os.path.join(directory, self.name)
        self.sync_interval = sync_interval
        self._lock = threading.Lock()
        self._dirty = False
        self._last_sync = time.monotonic()
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        except OSError as exc:
            raise JournalError("cannot create the marks file %s: %s" % (self.path, exc.strerror)) from exc
        self._size = 0
        try:
            self._write_all(HEADER)
            os.fsync(self._fd)
            _fsync_dir(directory)  # its name must survive a power loss as well
        except BaseException:
            os.close(self._fd)
            raise

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        written = 0
        try:
            while written < len(data):
                written += os.write(self._fd, view[written:])
        except OSError as exc:
            # Leave no half record behind (ENOSPC, EDQUOT...): the operation fails cleanly.
            os.ftruncate(self._fd, self._size)
            raise JournalError("cannot append to %s: %s" % (self.path, exc.strerror)) from exc
        self._size += len(data)

    def append(self, payload: bytes) -> None:
        """Write one record (a packed msgpack payload) before returning."""
        data = encode_record(payload)
        with self._lock:
            if self._fd < 0:
                raise JournalError("%s: the marks file is closed (the sweeper stopped)" % self.path)
            self._write_all(data)
            self._dirty = True
            if time.monotonic() - self._last_sync >= self.sync_interval:
                self._sync_locked()

    def _sync_locked(self) -> None:
        if self._dirty:
            os.fsync(self._fd)
            self._dirty = False
        self._last_sync = time.monotonic()

    def sync(self) -> None:
        with self._lock:
            if self._fd >= 0:
                self._sync_locked()

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                self._sync_locked()
                os.close(self._fd)
                self._fd = -1


class MarksReader:
    """Reads one marks file incrementally from `offset` (the part no snapshot covers)."""

    def __init__(self, directory: str, name: str, owner: Any, offset: int,
                 unpack: Callable[[bytes], Any]):
        self.name = name
        self.owner = owner
        self.path = os.path.join(directory, name)
        self.offset = offset
        self.unpack = unpack
        self.finished = False  # its writer is done with it
        self._pending: Optional[str] = None  # description of an incomplete last record
        try:
            self._fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            # Retired and removed by a compaction: the snapshot holds its marks.
            self._fd = -1

    def read_new(self) -> List[Any]:
        """The records appended since the last call; an incomplete last one is left for later."""
        if self._fd < 0:
            return []
        try:
            size = os.fstat(self._fd).st_size
        except OSError as exc:
            if exc.errno != errno.ESTALE:
                raise
            # NFS: removed by a compaction on another host; its snapshot holds these marks
            # and the seal that precedes it is read under the lock.
            self.close()
            return []
        if size <= self.offset:
            return []
        if self.offset == 0:
            header = os.pread(self._fd, len(HEADER), 0)
            if len(header) < len(HEADER):
                return []  # being created
            if header != HEADER:
                raise JournalCorruptError("%s: bad header %r (not an execo marks file)" % (self.path, header))
            self.offset = len(HEADER)
        data = os.pread(self._fd, size - self.offset, self.offset)
        payloads, consumed, torn = parse_records(data, self.offset, self.path)
        self._pending = torn
        self.offset += consumed
        records = []
        for payload in payloads:
            try:
                records.append(self.unpack(payload))
            except Exception as exc:
                raise JournalCorruptError("%s: record with a valid checksum but undecodable content "
                                          "before byte %d: %s" % (self.path, self.offset, exc)) from exc
        return records

    def finish(self) -> List[Any]:
        """Last read of a file whose writer is finished: a torn tail is dropped with a warning."""
        records = self.read_new()
        if self._pending is not None:
            log.warning("%s (it was never acknowledged)", self._pending)
            self._pending = None
        self.close()
        return records

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class MarksFiles:
    """Every marks file of a directory this process reads, and where each one is covered to."""

    def __init__(self, directory: str, unpack: Callable[[bytes], Any]):
        self.directory = directory
        self.unpack = unpack
        self.readers: Dict[str, MarksReader] = {}
        self.retired: List[str] = []  # finished files whose marks are all applied
        self.records_read = 0

    def load(self, entries: Any) -> None:
        """Start over from a snapshot's ``writers`` list of
        ``[name, owner, covered offset, finished]``."""
        self.close()
        for name, owner, offset, *finished in entries:
            reader = MarksReader(self.directory, name, owner, offset, self.unpack)
            reader.finished = bool(finished and finished[0])
            self.readers[name] = reader

    def dump(self) -> List[List[Any]]:
        return [[r.name, r.owner, r.offset, r.finished] for r in self.readers.values()]

    def register(self, name: str, owner: Any) -> None:
        if name not in self.readers and name not in self.retired:
            self.readers[name] = MarksReader(self.directory, name, owner, 0, self.unpack)

    def retire(self, name: str) -> None:
        """The writer of `name` is finished: read it to its end next time, then drop it.

        Not read at once: when many workers end together, each would read every other
        one's whole file just as it is finishing its own last combinations.
        """
        reader = self.readers.get(name)
        if reader is not None:
            reader.finished = True

    def read_new(self) -> Iterator[Tuple[Any, Any]]:
        """(owner, record) for every record appended to any file since the last call."""
        for reader in list(self.readers.values()):
            if reader.finished:
                records = reader.finish()
                del self.readers[reader.name]
                self.retired.append(reader.name)
            else:
                records = reader.read_new()
            self.records_read += len(records)
            for record in records:
                yield reader.owner, record

    def close(self) -> None:
        for reader in self.readers.values():
            reader.close()
        self.readers = {}
        self.retired = []
