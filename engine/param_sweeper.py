"""ParamSweeper: a persistent, thread-safe and process-safe queue of parameter combinations.

A thin blocking facade over the sweeper actor of its directory
(:mod:`execo_actors.sweeper`), which keeps the marks in a msgpack journal; see
:mod:`execo_actors.journal` for the crash-safety, fsync and NFS-locking rules.

Differences from execo 2.8 (deliberate):

- the files are msgpack (``journal-<gen>.msgpack``, ``snapshot.msgpack``,
  ``sweeps.msgpack``), never pickle; execo 2.8's ``done``/``inprogress`` pickles are not
  read (a warning says so when they are found);
- *skipped* marks persist (2.8 kept them in memory only): a skipped combination stays
  skipped in later runs until :meth:`ParamSweeper.reset` is called;
- get_next() without a filter hands out combinations in the order of the sweeps instead
  of an arbitrary set order;
- a SIGKILL at any instant loses no acknowledged mark, and in-progress marks of dead
  workers can be recovered (:meth:`reclaim_dead`, or leases with ``lease=seconds``);
- a failed combination can be retried a bounded number of times (:meth:`failed`);
- a get_next() loop faster than a few milliseconds per call takes combinations ahead
  (up to 50 ms of its pace, at most 1,000) with one lock operation: they are in progress
  for the other processes until handed out, or released when the loop slows down or the
  process stops (see :class:`execo_actors.sweeper.SweeperActor`). Near the end of such a
  fast campaign another worker may thus find nothing left a little before this one ends.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, Hashable, Iterable, List, Optional, Set, Tuple

import msgpack

from execo_actors.journal import JournalError, read_blob, write_blob
from execo_actors.sweeper import sweeper_for
from execo_engine.log import TRACE, logger
from execo_engine.sweep import HashableDict

__all__ = ["ParamSweeper", "ParamSweeperError"]

SWEEPS_MAGIC = b"EXECOW1\n"
SWEEPS_FILE = "sweeps.msgpack"


class ParamSweeperError(Exception):
    """Bad input for a ParamSweeper: the message names the directory or the combination."""


def _prepare_directory(persistence_dir: str) -> str:
    directory = os.path.abspath(os.fspath(persistence_dir))
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise ParamSweeperError("ParamSweeper persistence_dir %s exists and is not a directory"
                                % directory)
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise ParamSweeperError("ParamSweeper persistence_dir %s cannot be created: %s"
                                % (directory, exc.strerror or exc)) from exc
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ParamSweeperError("ParamSweeper persistence_dir %s is not writable" % directory)
    old = [n for n in ("done", "inprogress") if os.path.exists(os.path.join(directory, n))]
    if old:
        logger.warning("%s holds execo 2.8 pickle files (%s): they are not read (pickle is unsafe); "
                       "marks start from the msgpack journal", directory, ", ".join(old))
    return directory


def _normalise_sweeps(sweeps: Iterable[Any], directory: str) -> List[Hashable]:
    """Deduplicated list, in order; rejects unhashable or non-msgpack combinations by name."""
    try:
        items = list(sweeps)
    except TypeError:
        raise ParamSweeperError("ParamSweeper(%s): sweeps must be an iterable of combinations, got "
                                "%s" % (directory, type(sweeps).__name__)) from None
    if not items:
        raise ParamSweeperError("ParamSweeper(%s): sweeps is empty: there is nothing to iterate on"
                                % directory)
    result, seen = [], set()
    for c in items:
        if type(c) is dict:
            c = HashableDict(c)
        try:
            hash(c)
        except TypeError:
            raise ParamSweeperError("ParamSweeper(%s): combination %r is unhashable (%s)"
                                    % (directory, c, type(c).__name__)) from None
        if c not in seen:
            seen.add(c)
            result.append(c)
    try:
        msgpack.packb(result, use_bin_type=True)
    except (TypeError, ValueError, OverflowError):
        for c in result:
            try:
                msgpack.packb(c, use_bin_type=True)
            except (TypeError, ValueError, OverflowError) as exc:
                raise ParamSweeperError("ParamSweeper(%s): combination %r cannot be stored (msgpack: "
                                        "%s); use str, int, float, bool, None, bytes, tuples and "
                                        "dicts" % (directory, c, exc)) from None
        raise
    return result


def _hashable(combination: Any) -> Hashable:
    return HashableDict(combination) if type(combination) is dict else combination


class ParamSweeper:
    """Hands out parameter combinations to threads and processes, each exactly once.

    Each combination is *todo*, *inprogress*, *done* or *skipped*. get_next() takes a todo
    one and marks it in progress; done(), skip() or cancel() (back to todo) end that.
    Marks persist in `persistence_dir`: a later ParamSweeper on the same directory (after
    a crash, with ``-c``) continues where the campaign stopped. Several threads, processes
    or hosts (over NFS) may share a directory; they never get the same combination.

    :param persistence_dir: directory of the state files (created if needed).
    :param sweeps: the combinations (e.g. from :func:`sweep`); None loads the saved ones.
    :param save_sweeps: save `sweeps` to the directory, so that later runs (and other
      workers) can pass None.
    :param name: name in log lines; defaults to the directory's basename.
    :param lease: beyond execo 2.8: seconds after which a combination taken by get_next()
      and neither done, skipped nor cancelled (its worker died or hangs) goes back to todo.
      Hosts sharing the directory must have synchronised clocks. Use renew() to extend it.
    """

    def __init__(self, persistence_dir: str, sweeps: Optional[Iterable[Any]] = None,
                 save_sweeps: bool = False, name: Optional[str] = None,
                 lease: Optional[float] = None):
        self._dir = _prepare_directory(persistence_dir)
        self._name = name or os.path.basename(self._dir)
        self._lease = lease
        try:
            self._actor = sweeper_for(self._dir, HashableDict)
        except JournalError as exc:
            raise ParamSweeperError("ParamSweeper(%s): %s" % (self._dir, exc)) from exc
        self._view_id: Optional[int] = None
        self._sweeps: Set[Hashable] = set()
        self.added: List[Hashable] = []
        """Combinations new in `sweeps` compared to the saved sweeps."""
        self.removed: List[Hashable] = []
        """Combinations of the saved sweeps no longer in `sweeps` (their marks are kept)."""
        self.set_sweeps(sweeps, save_sweeps)

    # -- sweeps ----------------------------------------------------------------------------

    @property
    def sweeps_path(self) -> str:
        return os.path.join(self._dir, SWEEPS_FILE)

    def _load_saved_sweeps(self) -> Optional[List[Hashable]]:
        if not os.path.exists(self.sweeps_path):
            return None
        return list(read_blob(self.sweeps_path, SWEEPS_MAGIC,
                              lambda data: msgpack.unpackb(data, raw=False, use_list=False,
                                                           object_hook=HashableDict,
                                                           strict_map_key=False)))

    def set_sweeps(self, sweeps: Optional[Iterable[Any]] = None, save_sweeps: bool = False) -> None:
        """Change what to iterate on (None: load the saved sweeps); marks are never lost.

        When the sweeps differ from the saved ones, the new combinations are added and the
        ones that disappeared are reported (attributes `added` and `removed`, and a log line).
        """
        saved = self._load_saved_sweeps()
        if sweeps is None:
            if saved is None:
                raise ParamSweeperError("ParamSweeper(%s): no sweeps given and none saved in %s "
                                        "(pass sweeps, with save_sweeps=True once)"
                                        % (self._dir, self.sweeps_path))
            combinations = saved
        else:
            combinations = _normalise_sweeps(sweeps, self._dir)
        if saved is not None and sweeps is not None:
            saved_set, new_set = set(saved), set(combinations)
            self.added = [c for c in combinations if c not in saved_set]
            self.removed = [c for c in saved if c not in new_set]
            if self.added:
                logger.info("%s: %d combinations added to the saved sweeps", self._name, len(self.added))
            if self.removed:
                logger.warning("%s: %d combinations of the saved sweeps are no longer in the sweeps "
                               "(their marks are kept): %s", self._name, len(self.removed),
                               ", ".join(str(c) for c in self.removed[:5])
                               + (" ..." if len(self.removed) > 5 else ""))
        if save_sweeps and sweeps is not None:
            write_blob(self.sweeps_path, SWEEPS_MAGIC, combinations)
        old_view = self._view_id
        self._view_id = self._call("register_view", combinations)
        self._sweeps = set(combinations)
        if old_view is not None:
            self._call("unregister_view", old_view)
        if saved is None and sweeps is not None:
            orphans = len(self._call("query", self._view_id, "all_done") - self._sweeps)
            if orphans:
                logger.info("%s: %d done combinations are not in the current sweeps (kept)",
                            self._name, orphans)

    def get_sweeps(self) -> Set[Hashable]:
        """A copy of the set of all combinations."""
        return set(self._sweeps)

    # -- state -----------------------------------------------------------------------------

    def _call(self, name: str, *args: Any) -> Any:
        return self._actor.ask((name, args))

    def _query(self, what: str) -> Any:
        return self._call("query", self._view_id, what)

    def update(self) -> None:
        """Read what other processes wrote since the last operation (cheap)."""
        self._call("update")

    def full_update(self) -> None:
        """Rebuild the state from the files from scratch."""
        self._call("full_update")

    def get_remaining(self) -> Set[Hashable]:
        """A copy of the set of todo combinations (as of the last operation or update())."""
        return self._query("remaining")

    def get_inprogress(self) -> Set[Hashable]:
        return self._query("inprogress")

    def get_done(self) -> Set[Hashable]:
        return self._query("done")

    def get_skipped(self) -> Set[Hashable]:
        return self._query("skipped")

    def get_skip_reasons(self) -> Dict[Hashable, Any]:
        """Skipped combinations and the reason given to skip() or recorded by failed()."""
        return self._query("skip_reasons")

    def get_failures(self) -> Dict[Hashable, Tuple[int, Any]]:
        """Failed attempts per combination: (count, last reason), as recorded by failed()."""
        return self._query("failures")

    def stats(self) -> Tuple[Set[Hashable], Set[Hashable], Set[Hashable], Set[Hashable], Set[Hashable]]:
        """Atomically, the tuple (sweeps, remaining, skipped, inprogress, done)."""
        return self._query("stats")

    def counts(self) -> Tuple[int, int, int, int, int]:
        """(total, done, skipped, inprogress, remaining), cheaper than stats()."""
        return self._query("counts")

    def __str__(self) -> str:
        total, done, skipped, inprogress, remaining = self.counts()
        return "%s <%i total, %i done, %i skipped, %i in progress, %i remaining>" % (
            self._name, total, done, skipped, inprogress, remaining)

    # -- operations ------------------------------------------------------------------------

    def get_next(self, filtr: Optional[Callable[[Set[Hashable]], Iterable[Hashable]]] = None
                 ) -> Optional[Hashable]:
        """Take the next todo combination and mark it in progress; None when none is left.

        :param filtr: receives the set of todo combinations and returns an iterable; its
          first item (which must be todo) is taken. Use it to filter or order.
          It runs holding the sweeper's lock: keep it quick and do not call the sweeper
          from it.
        """
        taken = self._call("take", self._view_id, 1, filtr, self._lease, True)
        if not taken:
            logger.log(TRACE, "%s no new combination", self._name)
            return None
        logger.log(TRACE, "%s new combination: %s", self._name, taken[0])
        return taken[0]

    def get_next_batch(self, num_combs: int, filtr: Optional[Callable] = None) -> List[Hashable]:
        """Take up to `num_combs` todo combinations at once (one journal record)."""
        taken = self._call("take", self._view_id, int(num_combs), filtr, self._lease)
        logger.log(TRACE, "%s new combinations: %s", self._name, taken)
        return taken

    def _mark(self, op: str, combinations: List[Hashable], reason: Any = None) -> None:
        combinations = [_hashable(c) for c in combinations]
        reason = None if reason is None else str(reason)
        self._call("mark", op, combinations, reason)

    def done(self, combination: Hashable) -> None:
        """Mark `combination` done, for good (never handed out again, even after reset())."""
        self._mark("d", [combination])
        logger.log(TRACE, "%s combination done: %s", self._name, combination)

    def done_batch(self, combinations: Iterable[Hashable]) -> None:
        combinations = list(combinations)
        self._mark("d", combinations)
        logger.log(TRACE, "%s combinations done: %s", self._name, combinations)

    def skip(self, combination: Hashable, reason: Any = None) -> None:
        """Mark `combination` skipped (persisted, unlike 2.8) until reset()."""
        self._mark("s", [combination], reason)
        logger.log(TRACE, "%s combination skipped: %s", self._name, combination)

    def skip_batch(self, combinations: Iterable[Hashable], reason: Any = None) -> None:
        combinations = list(combinations)
        self._mark("s", combinations, reason)
        logger.log(TRACE, "%s combinations skipped: %s", self._name, combinations)

    def cancel(self, combination: Hashable) -> None:
        """Give `combination` back: it is todo again (in this run too)."""
        self._mark("c", [combination], "cancelled")
        logger.log(TRACE, "%s combination cancelled: %s", self._name, combination)

    def cancel_batch(self, combinations: Iterable[Hashable]) -> None:
        combinations = list(combinations)
        self._mark("c", combinations, "cancelled")
        logger.log(TRACE, "%s combinations cancelled: %s", self._name, combinations)

    def failed(self, combination: Hashable, reason: Any = None, max_attempts: int = 3) -> bool:
        """Record a failed attempt: todo again, or skipped once `max_attempts` have failed.

        Beyond execo 2.8. The count persists across runs and processes; the skip reason
        (see get_skip_reasons()) says how often it failed and the last `reason`.
        Returns True when the combination will be retried.
        """
        exhausted = self._call("fail", [_hashable(combination)], None if reason is None else str(reason),
                                     int(max_attempts))
        if exhausted:
            logger.warning("%s: combination %s failed %d times, skipped: %s", self._name,
                           combination, max_attempts, reason)
            return False
        return True

    def renew(self, combination: Hashable) -> None:
        """Extend the lease of a combination this process holds (with ``lease=``)."""
        if self._lease is not None:
            self._call("renew", [combination], self._lease)

    def reset(self, reset_inprogress: bool = False) -> None:
        """Forget skipped marks and failure counts (never done marks).

        :param reset_inprogress: also put every in-progress combination back to todo:
          use it when no other worker is running, to recover what dead workers held.
        """
        self._call("reset", reset_inprogress)
        logger.log(TRACE, "%s reset", self._name)

    def reclaim_dead(self) -> List[Hashable]:
        """Put back to todo the combinations held by processes of this host that died.

        Beyond execo 2.8; safe while other workers run (it checks each owner's pid and
        start time). Workers on other hosts are only recovered by leases or reset(True).
        """
        return self._call("reclaim_dead")

    def compact(self) -> None:
        """Rewrite the snapshot now and start a fresh journal (done automatically at open)."""
        self._call("compact")

    def __del__(self) -> None:
        view_id, self._view_id = getattr(self, "_view_id", None), None
        if view_id is not None:
            try:
                self._actor.tell(("unregister_view", (view_id,)))  # no wait: any thread, or at exit
            except Exception:
                pass
