"""Actions: groups of processes (or of actions) controlled as one.

An action handle describes what to run and holds the state users read; while it runs, an
action actor (execo_actors.action_actor) decides what starts when and marks it ended.
"""

from __future__ import annotations

import threading
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from execo_actors.action_actor import (ParallelActor, ProcessesActor, SequentialActor, action_ended,
                                       start_actor)
from execo_actors.handlers import STDOUT, ExpectOutputHandler

from .process import Process, _seconds
from .report import Report
from .substitutions import check_substitutions, get_caller_context, substitute_local
from .time_utils import format_date
from .utils import intr_event_wait, name_from_cmdline, singleton_to_collection

__all__ = ["Action", "ActionLifecycleHandler", "Local", "ParallelActions", "SequentialActions",
           "wait_any_actions", "wait_all_actions", "filter_bad_hosts"]


class ActionLifecycleHandler:
    """Base class of action lifecycle callbacks; override what you need."""

    def start(self, action: "Action") -> None:
        """Called when the action starts."""

    def end(self, action: "Action") -> None:
        """Called when every process of the action has ended."""

    def reset(self, action: "Action") -> None:
        """Called when the action is reset."""


class Action:
    """A set of processes started, waited for and killed together."""

    _actor_class: Any = ProcessesActor

    def __init__(self, lifecycle_handlers: Optional[Iterable[Any]] = None, name: Optional[str] = None,
                 default_expect_timeout: Any = None) -> None:
        if name is not None and not isinstance(name, str):
            raise TypeError("%s: argument name must be a string, got %r" % (type(self).__name__, name))
        self.lifecycle_handlers = list(lifecycle_handlers) if lifecycle_handlers else []
        self._name = name
        self.default_expect_timeout = _seconds(default_expect_timeout, "default_expect_timeout", type(self).__name__)
        self._watchers: List[Any] = []
        self._init_state()
        self._processes: List[Any] = []

    def _init_state(self) -> None:
        self.started = False
        self.ended = False
        self.ended_event = threading.Event()
        self._actor: Any = None
        self._expect_handlers = threading.local()

    @property
    def name(self) -> str:
        return self._name if self._name is not None else self._default_name()

    @name.setter
    def name(self, value: str) -> None:
        self._name = value

    def _default_name(self) -> str:
        return "%s 0x%08x" % (type(self).__name__, id(self))

    @property
    def processes(self) -> List[Any]:
        return self._processes

    # -- control --------------------------------------------------------------------------

    def start(self) -> "Action":
        """Start the action's actor; raises ValueError when already started."""
        if self.started:
            raise ValueError("%s already started" % (self.name,))
        self.started = True
        self._actor = start_actor(self._actor_class, self)
        return self

    def kill(self) -> "Action":
        """Kill every running process of the action (asynchronous)."""
        actor = self._actor
        if actor is not None:
            try:
                actor.tell(("kill",))
            except Exception:
                pass
        return self

    def wait(self, timeout: Any = None) -> "Action":
        if not self.started:
            raise ValueError("%s: wait() on an action that was never started" % (self.name,))
        intr_event_wait(self.ended_event, _seconds(timeout, "timeout", "wait"))
        return self

    def run(self, timeout: Any = None) -> "Action":
        return self.start().wait(timeout)

    def reset(self) -> "Action":
        if self.started and not self.ended:
            self.kill()
            self.wait()
        for handler in list(self.lifecycle_handlers):
            handler.reset(self)
        self._reset_children()
        self._init_state()
        return self

    def _reset_children(self) -> None:
        for process in self.processes:
            process.reset()

    def __enter__(self) -> "Action":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.kill()

    # -- state ----------------------------------------------------------------------------

    @property
    def ok(self) -> bool:
        return all(process.ok for process in self.processes)

    @property
    def finished_ok(self) -> bool:
        return self.started and self.ended and self.ok

    def stats(self) -> Dict[str, Any]:
        return _aggregate(self.name, [process.stats() for process in self.processes], keep_sub_stats=False)

    def __repr__(self) -> str:
        return "%s(name=%r)" % (type(self).__name__, self.name)

    def __str__(self) -> str:
        start = self.stats()["start_date"]
        end = self.stats()["end_date"]
        return "<%s(name=%s, started=%s, start_date=%s, ended=%s, end_date=%s, num_processes=%d, ok=%s)>" % (
            type(self).__name__, self.name, self.started, format_date(start) if start else None, self.ended,
            format_date(end) if end else None, len(self.processes), self.ok)

    # -- expect ---------------------------------------------------------------------------

    def expect(self, regexes: Any, timeout: Any = False, stream: int = STDOUT, backtrack: bool = True,
               expect_output_handler: Optional[ExpectOutputHandler] = None) -> List[Tuple[Any, Optional[int], Any]]:
        """Wait until every process matched a regex or ended, sharing one timeout.

        Returns ``(process, regex index, match)`` per process, in the order of
        ``processes``; index and match are None for a process that did not match.
        """
        if timeout is False:
            timeout = self.default_expect_timeout
        timeout = _seconds(timeout, "timeout", "expect")
        handler = expect_output_handler
        if handler is None:
            by_stream = getattr(self._expect_handlers, "by_stream", None)
            if by_stream is None:
                by_stream = self._expect_handlers.by_stream = {}
            handler = by_stream.get(stream)
            if handler is None:
                handler = by_stream[stream] = ExpectOutputHandler()
                for process in self.processes:
                    process._monitor(handler, stream, backtrack)
        results = handler.wait_all(regexes, timeout)
        return [(process,) + results.get((process, stream), (None, None)) for process in self.processes]


def _aggregate(name: str, sub_stats: List[Dict[str, Any]], keep_sub_stats: bool) -> Dict[str, Any]:
    stats = Report.empty_stats()
    stats["sub_stats"] = sub_stats
    stats = Report.aggregate_stats(stats)
    stats["name"] = name
    if not keep_sub_stats:
        stats["sub_stats"] = []
    return stats


class Local(Action):
    """One local process, as an action. ``{{expr}}`` in cmd is substituted at construction."""

    def __init__(self, cmd: Any, process_args: Optional[Dict[str, Any]] = None, **action_kwargs: Any) -> None:
        super().__init__(**action_kwargs)
        self.cmd = cmd
        self.process_args = dict(process_args or {})
        context = get_caller_context()
        if isinstance(cmd, str):
            check_substitutions(cmd, context)
            cmd = substitute_local(cmd, context)
        process_args = dict(self.process_args)
        process_args.setdefault("shell", isinstance(cmd, str))
        self._processes = [Process(cmd, **process_args)]

    def _default_name(self) -> str:
        return name_from_cmdline(self.cmd)


class _Composite(Action):
    """Shared by ParallelActions and SequentialActions."""

    def __init__(self, actions: Iterable[Action], hide_subactions: bool = False, **action_kwargs: Any) -> None:
        super().__init__(**action_kwargs)
        self.actions = list(actions)
        for action in self.actions:
            if not isinstance(action, Action):
                raise TypeError("%s: argument actions must hold actions, got %r" % (type(self).__name__, action))
        self.hide_subactions = hide_subactions

    @property
    def processes(self) -> List[Any]:
        return [process for action in self.actions for process in action.processes]

    def _default_name(self) -> str:
        return "%s %d actions" % (type(self).__name__, len(self.actions))

    def _reset_children(self) -> None:
        for action in self.actions:
            action.reset()

    def stats(self) -> Dict[str, Any]:
        return _aggregate(self.name, [action.stats() for action in self.actions], not self.hide_subactions)


class ParallelActions(_Composite):
    """Starts every sub-action at once; ends when all have ended."""

    _actor_class = ParallelActor


class SequentialActions(_Composite):
    """Starts each sub-action when the previous one ends, even if it failed."""

    _actor_class = SequentialActor


def _wait_actions(actions: Sequence[Action], timeout: Any, enough: Any) -> List[Action]:
    from .time_utils import Timer

    timeout = _seconds(timeout, "timeout", "wait")
    timer = Timer(timeout)
    with action_ended:
        while True:
            done = [action for action in actions if action.ended]
            if enough(done):
                return done
            remaining = timer.remaining()
            if remaining is not None and remaining <= 0:
                return done
            action_ended.wait(remaining if remaining is not None else 1.0)


def wait_any_actions(actions: Sequence[Action], timeout: Any = None) -> List[Action]:
    """Wait until at least one of the actions ended; returns the ended ones."""
    actions = list(actions)
    return _wait_actions(actions, timeout, lambda done: len(done) > 0 or not actions)


def wait_all_actions(actions: Sequence[Action], timeout: Any = None) -> List[Action]:
    """Wait until every action ended (or the timeout); returns the ended ones."""
    actions = list(actions)
    return _wait_actions(actions, timeout, lambda done: len(done) == len(actions))


def filter_bad_hosts(action: Action, hosts: Iterable[Any]) -> List[Any]:
    """The hosts given, minus those where one of the action's processes is not ok."""
    from .host import Host

    bad = {Host(process.host).address for process in action.processes if process.host is not None and not process.ok}
    return [host for host in singleton_to_collection(hosts) if Host(host).address not in bad]
