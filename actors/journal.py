"""A crash-safe, multi-process msgpack journal with an atomically rewritten snapshot.

Why a journal: the state of a campaign (which combinations are done, skipped, in
progress) must survive a SIGKILL at any instant and be shared by processes on several
machines over NFS. Appending one small record per operation under an fcntl lock costs a
lock, a tail read and one write, whatever the size of the campaign; rewriting a whole
file per operation (what execo 2.8 did) does not scale and loses data when killed
half-way through the rewrite.

Files in the directory::

    lock                 never replaced: the fcntl (lockf) lock every process takes
    journal-<gen>.msgpack  16-byte header (magic, generation), then records
    snapshot.msgpack     the compacted state of generation <gen>, replaced atomically
    marks-<token>.msgpack  one per process: its done marks, appended without the lock
                         (see :mod:`execo_actors.marks`; this module only frames them)

A record is ``uint32 length | uint32 crc32 | msgpack payload``. A record cut off by a
kill (it reaches past the end of the file, or it is the last thing in the file and its
checksum fails, or only zero bytes follow it) is a *torn tail*: it was never
acknowledged, so it is dropped with a warning and truncated away. A bad record followed
by more data is *corruption*: :class:`JournalCorruptError` names the file and offset and
nothing is overwritten.

Compaction (generation G to G+1), done under the lock:

1. create ``journal-<G+1>`` holding only its header, fsync it;
2. write the snapshot of the state to a temporary file, fsync, rename it over
   ``snapshot.msgpack``, fsync the directory. The snapshot says which offset of
   ``journal-<G>`` it covers;
3. append a *seal* record to ``journal-<G>`` naming G+1, then unlink ``journal-<G>``.

A process still reading ``journal-<G>`` sees the seal on its next operation and switches
to the snapshot and the new journal. If a compactor dies between steps 2 and 3, the next
process that opens the directory copies whatever was appended to ``journal-<G>`` after the
covered offset into ``journal-<G+1>`` and seals the old one: nothing acknowledged is lost.

Durability (fsync policy): a record is written with ``write()`` before the operation is
acknowledged, so it is in the kernel (and, over NFS, flushed to the server when the lock
is released) and survives the death of the process. Records are fsync'ed at most once per
``sync_interval`` seconds and when the journal is closed; snapshots are always fsync'ed.
A power loss of the machine holding the files can therefore drop only the last moments.

Locking and NFS: ``fcntl.lockf`` locks are POSIX record locks. Linux NFS clients forward
them to the server (NLM for NFSv3, built into NFSv4), revalidate their cache of the file
when a lock is taken and flush written data when it is released, which is exactly the
read-tail/append pattern used here. :meth:`Journal.peek` reads without the lock (to
shorten the critical section): it only takes complete records and leaves anything
doubtful to the locked read, so a stale NFS cache only makes it see less. Locks belong
to a *process*, not a thread or a file
object, and closing *any* descriptor of the lock file drops them: so exactly one
:class:`Journal` per directory must exist in a process (the sweeper actor registry makes
sure of it), and threads must be serialised above it.
"""

from __future__ import annotations

import errno
import logging
import os
import struct
import time
import zlib
from contextlib import contextmanager
from typing import Any, Callable, Iterator, List, Optional, Tuple

import fcntl
import msgpack

log = logging.getLogger("execo.actors.journal")

JOURNAL_MAGIC = b"EXECOJ1\n"
SNAPSHOT_MAGIC = b"EXECOS1\n"
_HEADER = struct.Struct(">8sQ")  # magic, generation
_RECORD = struct.Struct(">II")  # payload length, crc32 of payload
SEAL = "~seal"
MAX_RECORD = 256 * 1024 * 1024


class JournalError(Exception):
    """A journal file cannot be used (not writable, wrong type...)."""


class JournalCorruptError(JournalError):
    """A journal or snapshot file holds data that cannot be read back.

    Raised instead of guessing, so that no acknowledged mark is ever silently lost.
    """


def pack(obj: Any) -> bytes:
    """Serialise with msgpack (tuples become arrays, dict subclasses become maps)."""
    return msgpack.packb(obj, use_bin_type=True)


def make_unpacker(map_type: Callable[[Any], Any] = dict) -> Callable[[bytes], Any]:
    """Return a function decoding msgpack with maps built by `map_type` and arrays as tuples.

    Tuples keep decoded values hashable, so combinations read back compare equal to the
    ones the user built (a HashableDict holding tuples).
    """

    def unpack(data: bytes) -> Any:
        return msgpack.unpackb(data, raw=False, use_list=False, object_hook=map_type,
                               strict_map_key=False)

    return unpack


def encode_record(payload: bytes) -> bytes:
    return _RECORD.pack(len(payload), zlib.crc32(payload)) + payload


def parse_records(data: bytes, base: int, path: str) -> Tuple[List[bytes], int, Optional[str]]:
    """Split `data` (the file content from offset `base`) into record payloads.

    Returns (payloads, consumed bytes, torn-tail message or None). Raises
    JournalCorruptError when a bad record is followed by real data.
    """
    payloads = []
    pos = 0
    end = len(data)
    while pos < end:
        problem = None
        if end - pos < _RECORD.size:
            problem = "truncated record header"
        else:
            length, crc = _RECORD.unpack_from(data, pos)
            start = pos + _RECORD.size
            if length == 0 or length > MAX_RECORD:
                problem = "invalid record length %d" % length
            elif start + length > end:
                problem = "record of %d bytes cut off after %d" % (length, end - start)
            else:
                payload = data[start:start + length]
                if zlib.crc32(payload) != crc:
                    problem = "checksum mismatch"
        if problem is not None:
            following = _next_valid_record(data, pos + 1)
            if following is not None:
                raise JournalCorruptError(
                    "%s: corrupt record at byte %d (%s) followed by a valid record at byte %d; "
                    "refusing to go on, so that no mark is lost: move the file away or repair it"
                    % (path, base + pos, problem, base + following))
            return payloads, pos, "%s: dropped a torn last record at byte %d (%s)" % (
                path, base + pos, problem)
        payloads.append(payload)
        pos = start + length
    return payloads, pos, None


def _next_valid_record(data: bytes, pos: int, limit: int = 1 << 20) -> Optional[int]:
    """Offset of the first complete, checksummed record at or after `pos`, or None.

    A torn tail is the last thing ever written, so finding a good record after a bad one
    proves corruption rather than a kill mid-write.
    """
    end = min(len(data), pos + limit)
    for i in range(pos, end - _RECORD.size):
        length, crc = _RECORD.unpack_from(data, i)
        if 0 < length <= len(data) - i - _RECORD.size:
            if zlib.crc32(data[i + _RECORD.size:i + _RECORD.size + length]) == crc:
                return i
    return None


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: str, data: bytes) -> None:
    """Replace `path` by `data` so that a reader sees the old or the new content, never a mix."""
    tmp = "%s.tmp.%d" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(os.path.dirname(os.path.abspath(path)))


def write_blob(path: str, magic: bytes, obj: Any) -> None:
    """Write one checksummed msgpack object atomically (snapshots, saved sweeps)."""
    payload = pack(obj)
    write_atomically(path, magic + encode_record(payload))


def read_blob(path: str, magic: bytes, unpack: Callable[[bytes], Any]) -> Any:
    """Read a file written by :func:`write_blob`; a damaged file raises JournalCorruptError."""
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(magic):
        raise JournalCorruptError("%s: not an execo msgpack file (bad magic %r)" % (path, data[:8]))
    body = data[len(magic):]
    if len(body) < _RECORD.size:
        raise JournalCorruptError("%s: truncated (%d bytes)" % (path, len(data)))
    length, crc = _RECORD.unpack_from(body, 0)
    payload = body[_RECORD.size:_RECORD.size + length]
    if len(payload) != length or zlib.crc32(payload) != crc:
        raise JournalCorruptError("%s: checksum mismatch or truncated content" % path)
    try:
        return unpack(payload)
    except Exception as exc:
        raise JournalCorruptError("%s: undecodable msgpack content: %s" % (path, exc)) from exc


class Journal:
    """The journal and snapshot of one directory, used by one object per process.

    Not thread-safe: its owner (the sweeper actor) serialises calls. Every method that
    reads or writes records must be called inside :meth:`locked`.
    """

    def __init__(self, directory: str, map_type: Callable[[Any], Any] = dict,
                 sync_interval: float = 1.0):
        self.directory = os.path.abspath(directory)
        self.map_type = map_type
        self.unpack = make_unpacker(map_type)
        self.sync_interval = sync_interval
        self.lock_path = os.path.join(self.directory, "lock")
        self.snapshot_path = os.path.join(self.directory, "snapshot.msgpack")
        self.generation = -1  # nothing loaded yet
        self.offset = 0
        self.records_since_snapshot = 0
        self._journal_fd = -1
        self._lock_fd = -1
        self._dirty = False
        self._last_sync = time.monotonic()
        self._locked = False
        try:
            self._lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise JournalError("cannot create the lock file %s: %s" % (self.lock_path, exc.strerror)) from exc

    def journal_path(self, generation: int) -> str:
        return os.path.join(self.directory, "journal-%d.msgpack" % generation)

    # -- locking -------------------------------------------------------------------------

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the directory's exclusive lock (blocks until other processes release it)."""
        while True:
            try:
                fcntl.lockf(self._lock_fd, fcntl.LOCK_EX)
                break
            except InterruptedError:
                continue
        self._locked = True
        try:
            yield
        finally:
            self._locked = False
            fcntl.lockf(self._lock_fd, fcntl.LOCK_UN)
        if self._dirty and time.monotonic() - self._last_sync >= self.sync_interval:
            self.sync()

    # -- reading -------------------------------------------------------------------------

    @property
    def position(self) -> Tuple[int, int]:
        """(generation, offset) up to which this object has read or written the journal."""
        return (self.generation, self.offset)

    def read_new(self) -> Tuple[Optional[Any], List[Tuple[Tuple[int, int], Any]]]:
        """Catch up with the files: return (snapshot state or None, new records).

        Each record comes as ``((generation, offset), record)``: its position, which orders
        it against the marks files (see :mod:`execo_actors.marks`). When a snapshot is
        returned the caller must drop its state and rebuild it from the snapshot, then
        apply the records. Otherwise the records follow what it already has.
        """
        assert self._locked, "read_new() outside locked()"
        snapshot = None
        if self.generation < 0:
            snapshot = self._open_current()
        records: List[Tuple[Tuple[int, int], Any]] = []
        while True:
            sealed_to = None
            for offset, payload in self._read_tail():
                record = self._decode(payload)
                if isinstance(record, (tuple, list)) and record and record[0] == SEAL:
                    sealed_to = record[1]
                    break
                records.append(((self.generation, offset), record))
            if sealed_to is None:
                return snapshot, records
            # Another process compacted: start again from its snapshot.
            snapshot = self._load_snapshot_at_least(sealed_to)
            records = []

    def peek(self) -> List[Tuple[Tuple[int, int], Any]]:
        """Without the lock: the complete records appended since the last read, up to a seal.

        Lets a process apply the bulk of the others' records outside the lock, so that the
        locked read that must follow finds little left. Anything doubtful (a record being
        written, a torn tail, a seal) is left for read_new() under the lock.
        """
        if self.generation < 0:
            return []
        size = os.fstat(self._journal_fd).st_size
        if size <= self.offset:
            return []
        data = os.pread(self._journal_fd, size - self.offset, self.offset)
        try:
            payloads, _, _ = parse_records(data, self.offset, self.journal_path(self.generation))
        except JournalCorruptError:
            return []
        records = []
        for payload in payloads:
            record = self._decode(payload)
            if isinstance(record, (tuple, list)) and record and record[0] == SEAL:
                break
            records.append(((self.generation, self.offset), record))
            self.offset += _RECORD.size + len(payload)
            self.records_since_snapshot += 1
        return records

    def _decode(self, payload: bytes) -> Any:
        try:
            return self.unpack(payload)
        except Exception as exc:
            raise JournalCorruptError("%s: record with a valid checksum but undecodable content "
                                      "near byte %d: %s" % (self.journal_path(self.generation),
                                                            self.offset, exc)) from exc

    def _read_tail(self) -> List[Tuple[int, bytes]]:
        """(offset, payload) of the records appended since the last read."""
        size = os.fstat(self._journal_fd).st_size
        if size <= self.offset:
            return []
        data = os.pread(self._journal_fd, size - self.offset, self.offset)
        path = self.journal_path(self.generation)
        payloads, consumed, torn = parse_records(data, self.offset, path)
        if torn is not None:
            log.warning("%s (it was never acknowledged)", torn)
            os.ftruncate(self._journal_fd, self.offset + consumed)
        located = []
        offset = self.offset
        for payload in payloads:
            located.append((offset, payload))
            offset += _RECORD.size + len(payload)
        self.offset += consumed
        self.records_since_snapshot += len(payloads)
        return located

    def _read_snapshot(self) -> Optional[Any]:
        if not os.path.exists(self.snapshot_path):
            return None
        state = read_blob(self.snapshot_path, SNAPSHOT_MAGIC, self.unpack)
        if not isinstance(state, dict) or "generation" not in state:
            raise JournalCorruptError("%s: not a journal snapshot" % self.snapshot_path)
        return state

    def _load_snapshot_at_least(self, generation: int) -> Any:
        # Over NFS a freshly renamed file may take a moment to become visible by name.
        deadline = time.monotonic() + 60
        while True:
            snapshot = self._read_snapshot()
            if snapshot is not None and snapshot["generation"] >= generation:
                break
            if time.monotonic() > deadline:
                raise JournalCorruptError(
                    "%s: the journal was sealed for generation %d but the snapshot holds %s"
                    % (self.snapshot_path, generation,
                       None if snapshot is None else snapshot["generation"]))
            time.sleep(0.05)
        self._switch_to(snapshot["generation"])
        return snapshot

    def _open_current(self) -> Optional[Any]:
        """First open: load the snapshot, repair an interrupted compaction, open the journal."""
        snapshot = self._read_snapshot()
        generation = 0 if snapshot is None else snapshot["generation"]
        self._switch_to(generation)
        if snapshot is not None:
            self._recover_unsealed(snapshot)
        return snapshot

    def _recover_unsealed(self, snapshot: Any) -> None:
        covered = snapshot.get("covers")
        if not covered:
            return
        old_generation, old_offset = covered
        old_path = self.journal_path(old_generation)
        try:
            fd = os.open(old_path, os.O_RDWR)
        except FileNotFoundError:
            return
        try:
            size = os.fstat(fd).st_size
            data = os.pread(fd, max(0, size - old_offset), old_offset)
            payloads, consumed, torn = parse_records(data, old_offset, old_path)
            carried = []
            for payload in payloads:
                record = self._decode(payload)
                if isinstance(record, (tuple, list)) and record and record[0] == SEAL:
                    break
                carried.append(payload)
            else:
                if torn is not None:
                    log.warning("%s (it was never acknowledged)", torn)
                if carried:
                    log.warning("%s: carrying %d records written after an interrupted compaction "
                                "into %s", old_path, len(carried), self.journal_path(self.generation))
                    # At the end of the new journal, past this object's offset: read_new()
                    # then reads them like any other record.
                    data = b"".join(encode_record(p) for p in carried)
                    end = os.fstat(self._journal_fd).st_size
                    os.pwrite(self._journal_fd, data, end)
                    os.fsync(self._journal_fd)
                os.ftruncate(fd, old_offset + consumed)
                os.pwrite(fd, encode_record(pack([SEAL, self.generation])), old_offset + consumed)
                os.fsync(fd)
        finally:
            os.close(fd)
        self._unlink_quietly(old_path)

    def _switch_to(self, generation: int) -> None:
        """Open journal-<generation>, creating it (with its header) when missing."""
        path = self.journal_path(generation)
        if self._journal_fd >= 0:
            os.close(self._journal_fd)
            self._journal_fd = -1
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise JournalError("cannot open the journal %s: %s" % (path, exc.strerror)) from exc
        header = os.pread(fd, _HEADER.size, 0)
        if len(header) < _HEADER.size:
            # New file, or a creation cut off by a kill: (re)write the header.
            os.ftruncate(fd, 0)
            os.pwrite(fd, _HEADER.pack(JOURNAL_MAGIC, generation), 0)
            os.fsync(fd)
        else:
            magic, found = _HEADER.unpack(header)
            if magic != JOURNAL_MAGIC or found != generation:
                os.close(fd)
                raise JournalCorruptError("%s: bad header (magic %r, generation %d, expected %d)"
                                          % (path, magic, found, generation))
        self._journal_fd = fd
        self.generation = generation
        self.offset = _HEADER.size
        self.records_since_snapshot = 0

    # -- writing -------------------------------------------------------------------------

    def append(self, record: Any) -> Tuple[int, int]:
        """Append one record and return its position; call read_new() first."""
        assert self._locked, "append() outside locked()"
        position = (self.generation, self.offset)
        self._append_payloads([pack(record)])
        return position

    def _append_payloads(self, payloads: List[bytes]) -> None:
        data = b"".join(encode_record(p) for p in payloads)
        start = self.offset
        view = memoryview(data)
        written = 0
        try:
            while written < len(data):
                written += os.pwrite(self._journal_fd, view[written:], start + written)
        except OSError as exc:
            # Leave no half record behind (ENOSPC, EDQUOT...): the operation fails cleanly.
            os.ftruncate(self._journal_fd, start)
            raise JournalError("cannot append to %s: %s" % (self.journal_path(self.generation),
                                                              exc.strerror)) from exc
        self.offset = start + len(data)
        self.records_since_snapshot += len(payloads)
        self._dirty = True

    def compact(self, state: dict) -> None:
        """Write `state` as the snapshot of a new generation and retire the current journal.

        `state` must reflect every record read so far (call read_new() first).
        """
        assert self._locked, "compact() outside locked()"
        old_generation, old_fd, old_offset = self.generation, self._journal_fd, self.offset
        new_generation = old_generation + 1
        new_path = self.journal_path(new_generation)
        fd = os.open(new_path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.pwrite(fd, _HEADER.pack(JOURNAL_MAGIC, new_generation), 0)
            os.fsync(fd)
        finally:
            os.close(fd)
        snapshot = dict(state)
        snapshot["generation"] = new_generation
        snapshot["covers"] = [old_generation, old_offset]
        write_blob(self.snapshot_path, SNAPSHOT_MAGIC, snapshot)
        os.pwrite(old_fd, encode_record(pack([SEAL, new_generation])), old_offset)
        os.fsync(old_fd)
        self._journal_fd = -1
        os.close(old_fd)
        self._unlink_quietly(self.journal_path(old_generation))
        self._switch_to(new_generation)
        self._dirty = False

    def sync(self) -> None:
        """fsync the journal (see the module docstring for the policy)."""
        if self._journal_fd >= 0 and self._dirty:
            os.fsync(self._journal_fd)
        self._dirty = False
        self._last_sync = time.monotonic()

    def close(self) -> None:
        self.sync()
        for name in ("_journal_fd", "_lock_fd"):
            fd = getattr(self, name)
            if fd >= 0:
                os.close(fd)
                setattr(self, name, -1)

    @staticmethod
    def _unlink_quietly(path: str) -> None:
        try:
            os.unlink(path)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                log.warning("cannot remove %s: %s", path, exc.strerror)


def read_journal_records(directory: str, map_type: Callable[[Any], Any] = dict) -> List[Any]:
    """The records not yet compacted in `directory`, for tests: those of the current
    journal about combinations, then those of every marks file (sorted by name).

    Reads without the lock (taking it from a second object in a process that already
    has a sweeper on this directory would release that sweeper's lock): call it when no
    process is writing.
    """
    from execo_actors.marks import HEADER, is_marks_name  # marks builds on this module

    unpack = make_unpacker(map_type)
    snapshot_path = os.path.join(directory, "snapshot.msgpack")
    generation = 0
    covered = {}
    if os.path.exists(snapshot_path):
        snapshot = read_blob(snapshot_path, SNAPSHOT_MAGIC, unpack)
        generation = snapshot["generation"]
        covered = {name: offset for name, _, offset in snapshot.get("writers", ())}
    path = os.path.join(directory, "journal-%d.msgpack" % generation)
    with open(path, "rb") as f:
        data = f.read()
    payloads, _, _ = parse_records(data[_HEADER.size:], _HEADER.size, path)
    records = []
    for record in map(unpack, payloads):
        if record[0] == "T":  # the compact form of a take: combinations packed once more
            records.append(("t", unpack(record[5]), record[3], record[4]))
        elif record[0] not in ("w", "x"):
            records.append(record)
    for name in sorted(os.listdir(directory)):
        if is_marks_name(name):
            path = os.path.join(directory, name)
            start = max(covered.get(name, 0), len(HEADER))
            with open(path, "rb") as f:
                data = f.read()[start:]
            payloads, _, _ = parse_records(data, start, path)
            records.extend(map(unpack, payloads))
    return records
