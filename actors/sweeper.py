"""The sweeper actor: the state of a parameter sweep shared by threads, processes and hosts.

One :class:`SweeperActor` exists per persistence directory in a process (see
:func:`sweeper_for`); every thread's ParamSweeper asks it, so the per-process fcntl lock
of the :class:`~execo_actors.journal.Journal` is only ever held by its thread. Taking
combinations reads (mostly without the lock, see Journal.peek) what other processes
appended to the shared journal, then under the lock reads the rest, decides and appends
its record. done() appends to this process's own marks file without the directory lock
(:mod:`execo_actors.marks`).

Records of the shared journal (msgpack arrays; ``combs`` is a list of combinations):

- ``["t", combs, owner, deadline]``: taken, now in progress for `owner` until `deadline`
  (a unix time, or None for no lease); written as ``["T", digest, indices, owner,
  deadline, packed combs]``: a process whose sweeps have that digest takes the
  combinations from its own list by index instead of decoding them; ``["n", combs, owner, deadline]``: lease renewed;
- ``["d", combs]``: done (from a process that has no marks file yet);
  ``["s", combs, reason]``: skipped;
- ``["c", combs, why]``: cancelled, back to todo (also when a lease expires or a dead
  worker's marks are reclaimed); ``["f", combs, reason]``: a failed attempt (counted by
  the retry helper), back to todo; ``["u", combs]``: reserved, never handed out, back to
  todo (none of them can be done, so readers need not read the marks files first);
- ``["r", reset_inprogress]``: forget skipped marks and failure counts (and in-progress marks);
- ``["w", name, owner]`` / ``["x", name]``: a marks file registered / retired.

Marks files hold ``["d", combs]`` records only.
"""

from __future__ import annotations

import atexit
import hashlib
import collections
import struct
import logging
import os
import socket
import threading
import time
from typing import Any, Callable, Deque, Dict, Hashable, Iterable, List, Optional, Tuple

import pykka

from execo_actors.journal import Journal, pack
from execo_actors.marks import MarksFiles, MarksWriter, is_marks_name

log = logging.getLogger("execo.engine")
TRACE = 12


def _process_start_ticks(pid: int) -> Optional[str]:
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: fields start after the last ')'.
    return stat[stat.rindex(b")") + 2:].split()[19].decode()


def this_owner() -> str:
    """`host:pid:start-ticks`: names this process, and tells a reused pid from it."""
    return "%s:%d:%s" % (socket.gethostname(), os.getpid(), _process_start_ticks(os.getpid()))


def owner_is_dead_here(owner: Any) -> bool:
    """True when `owner` was a process of this host that no longer runs."""
    try:
        host, pid, ticks = str(owner).rsplit(":", 2)
    except ValueError:
        return False
    if host != socket.gethostname():
        return False
    return _process_start_ticks(int(pid)) != ticks


class SweepView:
    """The combinations one ParamSweeper iterates on, and which of them are still todo.

    `remaining` is a set (what filters receive); `order` and `cursor` give get_next()
    the sweep order in amortised constant time.
    """

    def __init__(self, sweeps: List[Hashable]):
        self.order = sweeps
        self.position = {c: i for i, c in enumerate(sweeps)}
        # Take records name combinations by index in `order` too, with this digest:
        # processes with the same sweeps then apply others' takes without decoding.
        self.packed = [pack(c) for c in sweeps]
        self.digest = hashlib.sha256(b"".join(self.packed)).digest()[:16]
        self.remaining: set = set()
        self.removed = 0  # since `remaining` was last built
        self.cursor = 0
        # Taken ahead by a fast get_next() loop, not handed out yet (see SweeperActor.take).
        self.reserved: Deque[Hashable] = collections.deque()
        self.last_take = 0.0
        self.pace = 1.0  # smoothed seconds between get_next() calls

    def rebuild(self, state: "SweeperState") -> None:
        self.remaining = {c for c in self.order if state.is_todo(c)}
        self.cursor = 0
        self.removed = 0

    def discard(self, combinations: Iterable[Hashable]) -> None:
        """Remove from `remaining`, which is copied once it has lost more than it holds:
        CPython sets never shrink, and the slots of removed items make every later
        lookup of an absent item slower (measured: from 0.1 to 9 microseconds)."""
        remaining = self.remaining
        before = len(remaining)
        for c in combinations:
            remaining.discard(c)
        self.removed += before - len(remaining)
        if self.removed > len(remaining) + 1000:
            self.remaining = set(remaining)
            self.removed = 0

    def give_back(self, combination: Hashable) -> None:
        index = self.position.get(combination)
        if index is not None:
            self.remaining.add(combination)
            if index < self.cursor:
                self.cursor = index

    def first(self) -> Optional[Hashable]:
        order, remaining = self.order, self.remaining
        while self.cursor < len(order):
            combination = order[self.cursor]
            if combination in remaining:
                return combination
            self.cursor += 1
        return None


class SweeperState:
    """The marks of a persistence directory, rebuilt from the snapshot, the journal and the
    marks files.

    Records of the shared journal come in journal order; the done marks of the marks
    files come in no particular order relative to them. Done is final, so that order does
    not matter: a take of a combination already done is ignored, and a done mark ends
    whatever hold there is. (The actor reads the marks files before applying a record
    that makes combinations todo again, so that none that is done comes back.)
    """

    def __init__(self) -> None:
        self.done: set = set()
        self.inprogress: Dict[Hashable, Tuple[Any, Optional[float]]] = {}
        self.skipped: Dict[Hashable, Any] = {}
        self.failures: Dict[Hashable, List[Any]] = {}
        self.views: List[SweepView] = []
        self.next_deadline: Optional[float] = None

    def is_todo(self, c: Hashable) -> bool:
        return c not in self.done and c not in self.inprogress and c not in self.skipped

    def load(self, snapshot: dict) -> None:
        self.done = set(snapshot.get("done", ()))
        self.inprogress = {c: (owner, deadline) for c, owner, deadline in snapshot.get("inprogress", ())}
        self.skipped = {c: reason for c, reason in snapshot.get("skipped", ())}
        self.failures = {c: [count, reason] for c, count, reason in snapshot.get("failures", ())}
        self._deadlines_changed()
        for view in self.views:
            view.rebuild(self)

    def dump(self) -> dict:
        return {
            "format": 2,
            "done": list(self.done),
            "inprogress": [[c, o, d] for c, (o, d) in self.inprogress.items()],
            "skipped": [[c, r] for c, r in self.skipped.items()],
            "failures": [[c, n, r] for c, (n, r) in self.failures.items()],
        }

    def live_entries(self) -> int:
        return len(self.done) + len(self.inprogress) + len(self.skipped) + len(self.failures)

    def _deadlines_changed(self) -> None:
        deadlines = [d for _, d in self.inprogress.values() if d is not None]
        self.next_deadline = min(deadlines) if deadlines else None

    def _release(self, c: Hashable) -> None:
        del self.inprogress[c]
        if self.is_todo(c):
            for view in self.views:
                view.give_back(c)

    def apply(self, record: Any) -> None:
        """Apply a record of the shared journal."""
        op = record[0]
        if op == "r":
            self.skipped.clear()
            self.failures.clear()
            if record[1]:
                self.inprogress.clear()
                self.next_deadline = None
            for view in self.views:
                view.rebuild(self)
            return
        combs = record[1]
        views = self.views
        if op == "t":
            owner, deadline = record[2], record[3]
            for view in views:
                view.discard(combs)
            done, inprogress = self.done, self.inprogress
            for c in combs:
                if c not in done:  # done by its holder in a marks file the taker had not read
                    inprogress[c] = (owner, deadline)
            if deadline is not None and (self.next_deadline is None or deadline < self.next_deadline):
                self.next_deadline = deadline
        elif op == "n":  # lease renewed by its holder
            owner, deadline = record[2], record[3]
            for c in combs:
                held = self.inprogress.get(c)
                if held is not None and held[0] == owner:
                    self.inprogress[c] = (owner, deadline)
            if self.next_deadline is None or deadline < self.next_deadline:
                self.next_deadline = deadline
        elif op == "d":
            self._done(combs)
        elif op == "s":
            for c in combs:
                self.skipped[c] = record[2]
                self.inprogress.pop(c, None)
            for view in views:
                view.discard(combs)
        elif op in ("c", "f", "u"):
            for c in combs:
                if op == "f":
                    entry = self.failures.setdefault(c, [0, None])
                    entry[0] += 1
                    entry[1] = record[2]
                if c in self.inprogress:
                    self._release(c)
        else:
            log.warning("ignoring unknown sweeper record %r", op)

    def apply_mark(self, record: Any) -> None:
        """Apply a record of a marks file (see :mod:`execo_actors.marks`)."""
        if record[0] == "d":
            self._done(record[1])
        else:
            log.warning("ignoring unknown marks record %r", record[0])

    def _done(self, combs: Any) -> None:
        views = self.views
        done, inprogress, skipped = self.done, self.inprogress, self.skipped
        for c in combs:
            done.add(c)
            inprogress.pop(c, None)
            skipped.pop(c, None)
        for view in views:
            view.discard(combs)


class SweeperActor(pykka.ThreadingActor):
    """Owns the journal of one directory in this process and answers every thread."""

    use_daemon_thread = True
    dead_check_interval = 2.0
    ORPHAN_AGE = 600.0

    def __init__(self, directory: str, map_type: Callable[[Any], Any] = dict,
                 compact_ratio: float = 2.0):
        super().__init__()
        self.directory = directory
        self.journal = Journal(directory, map_type)
        self.marks = MarksFiles(directory, self.journal.unpack)
        self.writer: Optional[MarksWriter] = None  # this process's marks file, once registered
        self.state = SweeperState()
        self.owner = this_owner()
        self.views: Dict[int, SweepView] = {}
        self._views_by_digest: Dict[bytes, SweepView] = {}
        self.compact_ratio = compact_ratio
        self._next_dead_check = 0.0
        self._new_writer: Optional[MarksWriter] = None  # created, not registered yet
        with self._locked():
            self._catch_up()
            self._maybe_compact()

    # -- internals -----------------------------------------------------------------------

    def _locked(self) -> Any:
        return self.journal.locked()

    def _catch_up(self, marks: bool = True) -> None:
        """Under the lock: apply the journal (and the marks files), retire dead writers."""
        snapshot, records = self.journal.read_new()
        if snapshot is not None:
            self.state.load(snapshot)
            self.marks.load(snapshot.get("writers", ()))
            marks = True
        self._apply_journal(records)
        if marks:
            self._read_marks()
        if time.monotonic() >= self._next_dead_check:
            self._retire_dead_writers()
        self._expire_leases()

    def _apply_journal(self, records: List[Tuple[Tuple[int, int], Any]]) -> None:
        for _, record in records:
            op = record[0]
            if op == "w":
                self.marks.register(record[1], record[2])
            elif op == "x":
                self.marks.retire(record[1])
            elif op == "T":
                self.state.apply(["t", self._take_combinations(record), record[3], record[4]])
            else:
                if op in ("c", "f") or (op == "r" and record[1]):
                    # It makes combinations todo again: first learn which ones are done.
                    self._read_marks()
                self.state.apply(record)

    def _take_combinations(self, record: Any) -> List[Hashable]:
        """The combinations of ``["T", digest, indices, owner, deadline, packed combs]``."""
        view = self._views_by_digest.get(record[1])
        if view is not None:
            order = view.order
            return [order[i] for i in record[2]]
        return self.journal.unpack(record[5])

    def _read_marks(self) -> None:
        """Apply the done marks the marks files gained (no lock needed: append-only).

        Taking never needs them (a done combination was in progress, so not todo): they
        are read for queries, before a record gives combinations back, and at compaction.
        Reading every process's marks on every take is what would not scale."""
        self._apply_marks(self.marks.read_new())

    def _apply_marks(self, marks: Iterable[Tuple[Any, Any]]) -> None:
        apply_mark = self.state.apply_mark
        for _, record in marks:
            apply_mark(record)

    def _retire_dead_writers(self) -> None:
        self._next_dead_check = time.monotonic() + self.dead_check_interval
        own = self.writer.name if self.writer is not None else None
        for reader in list(self.marks.readers.values()):
            if reader.name != own and owner_is_dead_here(reader.owner):
                self._retire(reader.name)

    def _retire(self, name: str) -> None:
        self.journal.append(["x", name])
        self.marks.retire(name)

    def _ensure_writer(self) -> None:
        """Under the lock: register this process's marks file (once)."""
        if self.writer is None:
            writer = self._new_writer or MarksWriter(self.directory)
            self._new_writer = None
            self.journal.append(["w", writer.name, self.owner])
            self.marks.register(writer.name, self.owner)
            self.writer = writer

    def _expire_leases(self) -> None:
        state = self.state
        now = time.time()
        if state.next_deadline is None or now < state.next_deadline:
            return
        self._read_marks()  # those done in time are not expired
        expired = [c for c, (_, d) in state.inprogress.items() if d is not None and d <= now]
        if expired:
            log.warning("%s: %d in-progress combinations whose lease expired go back to todo: %s",
                        self.directory, len(expired), _sample(expired))
            self._write(["c", expired, "lease expired"])
        state._deadlines_changed()

    def _write(self, record: list) -> None:
        self.journal.append(record)
        self.state.apply(record)

    def _maybe_compact(self) -> None:
        live = self.state.live_entries()
        if self.journal.records_since_snapshot + self.marks.records_read > self.compact_ratio * live + 1000:
            self._compact()

    def _compact(self) -> None:
        """Under the lock, caught up: snapshot everything, then remove finished marks files."""
        self._read_marks()
        snapshot = self.state.dump()
        snapshot["writers"] = self.marks.dump()
        self.journal.compact(snapshot)
        self.marks.records_read = 0
        retired, keep = set(self.marks.retired), set(self.marks.readers)
        self.marks.retired = []
        for name in os.listdir(self.directory):
            if is_marks_name(name) and name not in keep:
                path = os.path.join(self.directory, name)
                # Retired (their marks are in the snapshot), or unregistered: left by a
                # compaction or a process that died at the wrong moment, unless recent (a
                # live process creates its file just before registering it).
                if name in retired or _older_than(path, self.ORPHAN_AGE):
                    Journal._unlink_quietly(path)

    def _view(self, view_id: int) -> SweepView:
        return self.views[view_id]

    # -- messages ------------------------------------------------------------------------

    def on_receive(self, message: Any) -> Any:
        """``(method name, args)``, asked by the ParamSweeper facades of every thread."""
        name, args = message
        return self.handle(name, args)

    def handle(self, name: str, args: Any) -> Any:
        if name not in self.MESSAGES:
            raise ValueError("unknown sweeper message %r" % (name,))
        return getattr(self, name)(*args)

    MESSAGES = frozenset(["register_view", "unregister_view", "update", "full_update", "take",
                          "mark", "renew", "fail", "reset", "reclaim_dead", "compact", "query"])

    def register_view(self, sweeps: List[Hashable]) -> int:
        view = SweepView(sweeps)
        view_id = id(view)
        self.views[view_id] = view
        self._views_by_digest[view.digest] = view
        self.state.views.append(view)
        if self.writer is None and self._new_writer is None:
            # Created (with fsyncs) now rather than under the lock at the first take;
            # registered then. Removed at stop if this process never took anything.
            self._new_writer = MarksWriter(self.directory)
        with self._locked():
            self._catch_up()
        view.rebuild(self.state)
        return view_id

    def unregister_view(self, view_id: int) -> None:
        view = self.views.pop(view_id, None)
        if view is not None:
            if self._views_by_digest.get(view.digest) is view:
                del self._views_by_digest[view.digest]
                for other in self.views.values():
                    self._views_by_digest.setdefault(other.digest, other)
            if view.reserved:
                with self._locked():
                    self._catch_up()
                    self._release_reserved(view)
            self.state.views.remove(view)

    def update(self) -> None:
        with self._locked():
            self._catch_up()

    def full_update(self) -> None:
        """Forget the in-memory state and rebuild it from the files."""
        self.journal.close()
        self.marks.close()
        self.journal = Journal(self.directory, self.journal.map_type)
        self.marks = MarksFiles(self.directory, self.journal.unpack)
        self.state.load({})
        with self._locked():
            self._catch_up()

    # Reservations: a get_next() loop faster than one call per RESERVE_WINDOW takes up to
    # RESERVE_MAX combinations per lock operation and hands them out one by one, so that
    # several processes do not queue on the lock for every combination. They are taken
    # like any others (in progress for this process, reclaimable if it dies) and released
    # when the loop slows down past RELEASE_AFTER, when its ParamSweeper goes away and
    # when the process stops. A slow loop (a real experiment) never reserves.
    RESERVE_WINDOW = 0.05
    RESERVE_MAX = 1000
    RELEASE_AFTER = 0.5

    def take(self, view_id: int, count: int, filtr: Optional[Callable] = None,
             lease: Optional[float] = None, may_reserve: bool = False) -> List[Hashable]:
        """Take `count` todo combinations (get_next() passes `may_reserve`: see above)."""
        view = self._view(view_id)
        ahead = 0
        if may_reserve and filtr is None and count == 1:
            now = time.monotonic()
            interval, view.last_take = now - view.last_take, now
            view.pace = 0.7 * view.pace + 0.3 * min(interval, 1.0)
            if interval < self.RELEASE_AFTER:
                c = self._next_reserved(view)
                if c is not None:
                    return [c]
            ahead = min(self.RESERVE_MAX, int(self.RESERVE_WINDOW / max(view.pace, 1e-6))) - 1
        # Outside the lock, the bulk of what it must read: keeps the critical section short.
        self._apply_journal(self.journal.peek())
        taken = self._take_locked(view, count, max(ahead, 0), filtr, lease)
        if len(taken) > count:
            view.reserved.extend(taken[count:])
            del taken[count:]
        return taken

    def _take_locked(self, view: SweepView, count: int, ahead: int, filtr: Optional[Callable],
                     lease: Optional[float]) -> List[Hashable]:
        with self._locked():
            self._catch_up(marks=False)
            self._release_reserved(view)
            if filtr is None:
                taken = []
                while len(taken) < count + ahead:
                    c = view.first()
                    if c is None:
                        break
                    taken.append(c)
                    view.cursor += 1  # leaves `remaining` with the others, in apply()
            else:
                taken, seen = [], set()
                for c in filtr(view.remaining):
                    if len(taken) >= count:
                        break
                    if c in view.remaining and c not in seen:
                        taken.append(c)
                        seen.add(c)
            if taken:
                self._ensure_writer()
                deadline = None if lease is None else time.time() + lease
                position, packed = view.position, view.packed
                indices = [position[c] for c in taken]
                self.journal.append(["T", view.digest, indices, self.owner, deadline,
                                     _array_of_packed([packed[i] for i in indices])])
                self.state.apply(["t", taken, self.owner, deadline])
        return taken

    def _next_reserved(self, view: SweepView) -> Optional[Hashable]:
        """A reserved combination still held by this process (as far as it knows)."""
        inprogress = self.state.inprogress
        while view.reserved:
            c = view.reserved.popleft()
            held = inprogress.get(c)
            if held is not None and held[0] == self.owner:
                return c
        return None

    def _release_reserved(self, view: SweepView) -> None:
        """Under the lock, caught up: give back what `view` reserved and did not hand out."""
        if view.reserved:
            inprogress = self.state.inprogress
            mine = [c for c in view.reserved if inprogress.get(c, (None,))[0] == self.owner]
            view.reserved.clear()
            if mine:
                self._write(["u", mine])

    def mark(self, op: str, combinations: List[Hashable], reason: Any = None) -> None:
        """Done marks go to this process's own marks file, without the directory lock (done
        is final, so the order in which others read them does not matter); skips, and
        marks of a process that has taken nothing yet, go to the shared journal."""
        writer = self.writer
        if op == "d" and writer is not None and not writer.closed:
            writer.append(pack(["d", combinations]))
            return
        with self._locked():
            self._catch_up()
            if op == "d":
                self._write(["d", combinations])
            else:
                self._write([op, combinations, reason])

    def renew(self, combinations: List[Hashable], lease: float) -> None:
        with self._locked():
            self._catch_up()
            mine = [c for c in combinations if self.state.inprogress.get(c, (None,))[0] == self.owner]
            if mine:
                self._write(["n", mine, self.owner, time.time() + lease])

    def fail(self, combinations: List[Hashable], reason: Any, max_attempts: int) -> List[Hashable]:
        """Record a failed attempt; skip (with the reason) those that used all their attempts."""
        with self._locked():
            self._catch_up()
            self._write(["f", combinations, reason])
            exhausted = [c for c in combinations
                         if self.state.failures.get(c, [0])[0] >= max_attempts]
            if exhausted:
                self._write(["s", exhausted, "failed %d times, last: %s" % (max_attempts, reason)])
        return exhausted

    def reset(self, reset_inprogress: bool) -> None:
        with self._locked():
            self._catch_up()
            self._write(["r", bool(reset_inprogress)])

    def reclaim_dead(self) -> List[Hashable]:
        with self._locked():
            self._catch_up()
            self._retire_dead_writers()
            dead = [c for c, (owner, _) in self.state.inprogress.items() if owner_is_dead_here(owner)]
            if dead:
                log.warning("%s: %d combinations left in progress by dead processes go back to "
                            "todo: %s", self.directory, len(dead), _sample(dead))
                self._write(["c", dead, "owner process dead"])
        return dead

    def compact(self) -> None:
        with self._locked():
            self._catch_up()
            self._compact()

    def query(self, view_id: int, what: str) -> Any:
        """Copies of the sets a view exposes, limited to its sweeps."""
        # Without the lock: what the journal and the marks files gained (done() takes no
        # lock, so this is what keeps queries as fresh as the last operation at least).
        self._apply_journal(self.journal.peek())
        self._read_marks()
        view, state = self._view(view_id), self.state
        # This view's reservations are not handed out: show them as remaining.
        reserved = {c for c in view.reserved if state.inprogress.get(c, (None,))[0] == self.owner}
        if what == "remaining":
            return view.remaining | reserved
        if what == "counts":
            return (len(view.order), _count_in(state.done, view), _count_in(state.skipped, view),
                    _count_in(state.inprogress, view) - len(reserved), len(view.remaining) + len(reserved))
        if what == "stats":
            return (set(view.order), view.remaining | reserved, _filter(state.skipped, view),
                    _filter(state.inprogress, view) - reserved, _filter(state.done, view))
        if what == "done":
            return _filter(state.done, view)
        if what == "skipped":
            return _filter(state.skipped, view)
        if what == "inprogress":
            return _filter(state.inprogress, view) - reserved
        if what == "skip_reasons":
            return {c: r for c, r in state.skipped.items() if c in view.position}
        if what == "failures":
            return {c: tuple(v) for c, v in state.failures.items() if c in view.position}
        if what == "all_done":
            return set(state.done)
        raise ValueError("unknown sweeper query %r" % what)

    def on_stop(self) -> None:
        writer = self.writer
        if writer is not None:
            writer.close()  # fsync'ed: then tell the others it is complete
        with self._locked():
            self._catch_up(marks=False)
            for view in self.views.values():
                self._release_reserved(view)
            if writer is not None:
                self._retire(writer.name)
            self._maybe_compact()
        if self._new_writer is not None:  # created, never used
            self._new_writer.close()
            Journal._unlink_quietly(self._new_writer.path)
        self.journal.close()
        self.marks.close()


def _array_of_packed(items: List[bytes]) -> bytes:
    """msgpack bytes of an array whose elements are already packed."""
    n = len(items)
    if n < 16:
        header = bytes([0x90 | n])
    elif n < 0x10000:
        header = b"\xdc" + struct.pack(">H", n)
    else:
        header = b"\xdd" + struct.pack(">I", n)
    return header + b"".join(items)


def _older_than(path: str, seconds: float) -> bool:
    try:
        return time.time() - os.stat(path).st_mtime > seconds
    except FileNotFoundError:
        return False


def _count_in(marks: Any, view: SweepView) -> int:
    if len(marks) < len(view.position):
        return sum(1 for c in marks if c in view.position)
    return sum(1 for c in view.order if c in marks)


def _filter(marks: Any, view: SweepView) -> set:
    if len(marks) < len(view.position):
        return {c for c in marks if c in view.position}
    return {c for c in view.order if c in marks}


def _sample(combinations: List[Any], n: int = 3) -> str:
    shown = ", ".join(str(c) for c in combinations[:n])
    return shown + (" and %d more" % (len(combinations) - n) if len(combinations) > n else "")


_registry: Dict[Tuple[int, int], pykka.ActorRef] = {}
_registry_lock = threading.Lock()


def sweeper_for(directory: str, map_type: Callable[[Any], Any] = dict) -> pykka.ActorRef:
    """This process's actor for `directory` (started on first use).

    Keyed by the directory's device and inode, so two paths to one directory (a symlink,
    a relative path) share one actor and one lock.
    """
    st = os.stat(directory)
    key = (st.st_dev, st.st_ino)
    with _registry_lock:
        ref = _registry.get(key)
        if ref is None or not ref.is_alive():
            ref = _registry[key] = SweeperActor.start(directory, map_type)
        return ref


def sweeper_actor_for(directory: str, map_type: Callable[[Any], Any] = dict) -> pykka.ActorRef:
    """The reference of this process's actor for `directory` (see :func:`sweeper_for`)."""
    return sweeper_for(directory, map_type)


def stop_all_sweeper_actors() -> None:
    """Stop every sweeper actor of this process (fsync, maybe compact, release the files)."""
    with _registry_lock:
        refs = list(_registry.values())
        _registry.clear()
    for ref in refs:
        try:
            ref.stop(timeout=30)
        except Exception as exc:  # at exit, report and go on with the others
            log.warning("stopping a sweeper actor failed: %s", exc)


atexit.register(stop_all_sweeper_actors)
