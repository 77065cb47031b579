"""Action actors: one per running action, deciding what starts when and when it has ended.

An action's handle (Remote, Local, ParallelActions, ...) only says what to run. While it
runs, its actor owns the workflow: it starts the processes (or sub-actions), hears of each
end, starts what comes next (SequentialActions), runs the action's lifecycle handlers in
its own thread (a slow handler stalls this action only), and marks the action ended. The
actor stops when its action has ended, so idle actions hold no thread.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, List, Set

import pykka

log = logging.getLogger("execo")

# Notified at every action end: wait_any_actions / wait_all_actions wait on it.
action_ended = threading.Condition()


class _ActionActorBase(pykka.ThreadingActor):
    use_daemon_thread = True

    def __init__(self, action: Any) -> None:
        super().__init__()
        self.action = action
        self._ended: Set[int] = set()
        self._finished = False

    def on_receive(self, message: Any) -> Any:
        kind = message[0]
        if kind == "start":
            self._call_handlers("start")
            self.on_start_action()
            self._check_end()
        elif kind == "child_ended":
            self._ended.add(id(message[1]))
            self.on_child_ended(message[1])
            self._check_end()
        elif kind == "kill":
            self.on_kill()

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        log.error("action %s failed in its actor: %s", self.action.name, exception_value)
        self._finish()

    def _watch(self, child: Any) -> None:
        """Have ``child`` (a process or an action handle) tell us when it ends."""
        ref = self.actor_ref
        child._watchers.append(_Teller(ref, child))

    def _check_end(self) -> None:
        if not self._finished and self.all_ended():
            self._finish()

    def _finish(self) -> None:
        self._finished = True
        self._call_handlers("end")
        action = self.action
        action.ended = True
        action.ended_event.set()
        with action_ended:
            action_ended.notify_all()
        for watcher in list(action._watchers):
            try:
                watcher(action)
            except Exception:
                log.exception("error in end watcher of %s", action.name)
        action._actor = None
        self.stop()

    def _call_handlers(self, what: str) -> None:
        for handler in list(self.action.lifecycle_handlers):
            try:
                getattr(handler, what)(self.action)
            except Exception:
                log.exception("error in action lifecycle handler %r (%s) of %s", handler, what, self.action.name)

    # overridden by the kinds of actions
    def on_start_action(self) -> None:
        raise NotImplementedError

    def on_child_ended(self, child: Any) -> None:
        pass

    def on_kill(self) -> None:
        raise NotImplementedError

    def all_ended(self) -> bool:
        raise NotImplementedError


class _Teller:
    """A watcher that forwards a child's end to an actor (an object, so it can be removed)."""

    __slots__ = ("ref", "child")

    def __init__(self, ref: Any, child: Any) -> None:
        self.ref = ref
        self.child = child

    def __call__(self, child: Any) -> None:
        try:
            child._watchers.remove(self)
        except ValueError:
            pass
        try:
            self.ref.tell(("child_ended", child))
        except pykka.ActorDeadError:
            pass


class ProcessesActor(_ActionActorBase):
    """Runs an action made of processes (Remote, Local, Put, Get, ...)."""

    def on_start_action(self) -> None:
        for process in self.action.processes:
            self._watch(process)
            if process.ended:  # ended before we watched it (started by the user)
                self._ended.add(id(process))
        for process in self.action.processes:
            process.start()

    def on_kill(self) -> None:
        for process in self.action.processes:
            process.kill()

    def all_ended(self) -> bool:
        return len(self._ended) >= len(self.action.processes)


class ParallelActor(_ActionActorBase):
    """Runs sub-actions all at once; ends when they all have."""

    def on_start_action(self) -> None:
        for action in self.action.actions:
            self._watch(action)
            if action.ended:
                self._ended.add(id(action))
        for action in self.action.actions:
            if not action.started:
                action.start()

    def on_kill(self) -> None:
        for action in self.action.actions:
            action.kill()

    def all_ended(self) -> bool:
        return len(self._ended) >= len(self.action.actions)


class SequentialActor(_ActionActorBase):
    """Runs sub-actions one after another, even when one fails."""

    def __init__(self, action: Any) -> None:
        super().__init__(action)
        self._next = 0
        self._killed = False

    def on_start_action(self) -> None:
        self._start_next()

    def on_child_ended(self, child: Any) -> None:
        self._start_next()

    def _start_next(self) -> None:
        actions: List[Any] = self.action.actions
        while self._next < len(actions) and not self._killed:
            action = actions[self._next]
            self._next += 1
            self._watch(action)
            if not action.started:
                action.start()
                return
            if not action.ended:
                return
            self._ended.add(id(action))

    def on_kill(self) -> None:
        self._killed = True
        for action in self.action.actions:
            if action.started and not action.ended:
                action.kill()

    def all_ended(self) -> bool:
        if self._killed:
            return all(not a.started or a.ended for a in self.action.actions)
        return self._next >= len(self.action.actions) and len(self._ended) >= len(self.action.actions)


def start_actor(actor_class: Callable[[Any], Any], action: Any) -> Any:
    ref = actor_class.start(action)  # type: ignore[attr-defined]
    ref.tell(("start",))
    return ref
