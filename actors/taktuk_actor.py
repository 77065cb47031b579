"""The actor of a running TaktukRemote (and TaktukPut, TaktukGet): one local taktuk, many handles.

A TaktukRemote's processes have no OS process of their own: a single local ``taktuk``
reaches every host and multiplexes the remote commands' output on its stdout. This actor
writes taktuk's options file (in a private directory, removed when taktuk ends), starts
taktuk, routes its output to a :class:`TaktukOutputParser` in the I/O thread, and ends
the action when taktuk has ended (by then every TaktukProcess has ended too).

taktuk gets ``quit`` on its stdin once every TaktukProcess has ended. Kill is
``broadcast kill`` (TERM to every remote command's process group, repeated each second
until they all ended), then after
``kill_timeout`` ``broadcast kill 9``, then the local taktuk itself is killed.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import signal
import tempfile
import threading
from typing import Any, List, Optional

import pykka

from .action_actor import ParallelActor, _ActionActorBase
from .handlers import ProcessLifecycleHandler, ProcessOutputHandler
from .runtime import _config, get_runtime
from .taktuk_parser import TaktukOutputParser

log = logging.getLogger("execo")

# After the forced ``broadcast kill 9``, how long taktuk may take to quit before it is killed.
TAKTUK_QUIT_GRACE = 5.0
# While killing, ``broadcast kill`` is repeated at this period until every command ended.
KILL_REPEAT = 1.0

# Options directories of the taktuks still running: removed at exit if the program ends first.
_live_dirs: set = set()


@atexit.register
def _remove_live_dirs() -> None:
    for path in list(_live_dirs):
        shutil.rmtree(path, ignore_errors=True)


class TaktukControl:
    """taktuk's stdin and the timers of a kill, shared by the actor and the parser (I/O thread)."""

    def __init__(self, taktuk: Any) -> None:
        self.taktuk = taktuk
        self.parser: Optional[TaktukOutputParser] = None
        self._timers: List[threading.Timer] = []
        self._lock = threading.Lock()
        self.closed = False

    def command(self, line: str) -> None:
        if not self.closed and not self.taktuk.ended and not self.taktuk.error:
            self.taktuk.write(line + "\n")

    def started(self, handle: Any, rank: int) -> None:
        """From the parser: a remote command started. One the action's kill did not reach
        yet (its host was still being connected) is killed now."""
        if handle.killed:
            self.command("broadcast kill")  # the actor repeats it too, until every command ended

    def later(self, delay: float, function: Any, *args: Any) -> None:
        timer = threading.Timer(delay, function, args)
        timer.daemon = True
        with self._lock:
            if self.closed:
                return
            self._timers.append(timer)
        timer.start()

    def close(self) -> None:
        with self._lock:
            self.closed = True
            timers, self._timers = self._timers, []
        for timer in timers:
            timer.cancel()


class _TaktukOutput(ProcessOutputHandler):
    """taktuk's stdout handler: forwards each chunk to the parser in the I/O thread, in order."""

    def __init__(self, parser: TaktukOutputParser) -> None:
        super().__init__()
        self.parser = parser

    def read(self, process: Any, stream: int, string: str, eof: bool = False, error: bool = False) -> None:
        if string:
            get_runtime().post(self.parser.feed, string)


class _TaktukEnd(ProcessLifecycleHandler):
    """taktuk's end: after its last output (same dispatcher key), end what is left, then tell the actor."""

    def __init__(self, parser: TaktukOutputParser, actor_ref: Any) -> None:
        self.parser = parser
        self.actor_ref = actor_ref

    def end(self, process: Any) -> None:
        get_runtime().post(self._in_io_thread, process)

    def _in_io_thread(self, process: Any) -> None:
        try:
            self.parser.taktuk_ended(process.exit_code, process.error_reason if process.error else None,
                                     process.killed, process.stderr, process.forced_kill)
        finally:
            try:
                self.actor_ref.tell(("taktuk_ended",))
            except pykka.ActorDeadError:
                pass


class TaktukActor(_ActionActorBase):
    """Runs one TaktukRemote, TaktukPut or TaktukGet."""

    def __init__(self, action: Any) -> None:
        super().__init__(action)
        self._taktuk: Any = None
        self._control: Optional[TaktukControl] = None
        self._dir: Optional[str] = None
        self._taktuk_ended = False
        self._killing = False

    def on_receive(self, message: Any) -> Any:
        kind = message[0]
        if kind == "taktuk_ended":
            self._taktuk_ended = True
            self._cleanup()
            self._check_end()
        elif kind == "escalate":
            self._escalate(message[1])
        elif kind == "rekill":
            self._rekill()
        else:
            return super().on_receive(message)

    def on_start_action(self) -> None:
        action = self.action
        processes = action.processes
        if not processes:
            self._taktuk_ended = True
            return
        self._dir = tempfile.mkdtemp(prefix="execo-taktuk-")
        _live_dirs.add(self._dir)
        options_path = os.path.join(self._dir, "options")
        with open(options_path, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(action._taktuk_options_text())
        log.debug("taktuk options file %s:\n%s", options_path, action._taktuk_options_text())
        taktuk = action._new_taktuk_process(list(action._taktuk_argv()) + ["-F", options_path])
        control = TaktukControl(taktuk)
        order = action._taktuk_order()
        parser = TaktukOutputParser(action._taktuk_mode, [processes[i] for i in order],
                                    action._taktuk_file_count(), control.started)
        control.parser = parser
        taktuk.stdout_handlers.append(_TaktukOutput(parser))
        taktuk.lifecycle_handlers.append(_TaktukEnd(parser, self.actor_ref))
        self._taktuk = taktuk
        self._control = control
        action._taktuk = taktuk
        for process in processes:
            process._taktuk_control = control
            self._watch(process)
            process.start()
        taktuk.start()

    def on_child_ended(self, child: Any) -> None:
        # taktuk waits for commands on its stdin: once every host is done, let it go. Not
        # earlier: after ``quit`` its network shuts down progressively, and a later
        # ``<rank> kill`` may find no route to its node.
        if self._control is not None and all(process.ended for process in self.action.processes):
            self._control.command("quit")

    def on_kill(self) -> None:
        if self._taktuk is None or self._taktuk_ended or self._killing:
            return
        self._killing = True
        for process in self.action.processes:
            if not process.ended:
                process.killed = True
        assert self._control is not None
        self._rekill()
        self._control.later(float(_config("kill_timeout", 60)), self._tell, "escalate", 1)

    def _rekill(self) -> None:
        """``broadcast kill`` until every command ended: a command that starts after the first
        one (its host was still being connected) is caught by a later one."""
        if self._taktuk_ended or self._control is None or all(p.ended for p in self.action.processes):
            return
        self._control.command("broadcast kill")
        self._control.later(KILL_REPEAT, self._tell, "rekill")

    def _tell(self, *message: Any) -> None:
        try:
            self.actor_ref.tell(message)
        except pykka.ActorDeadError:
            pass

    def _escalate(self, stage: int) -> None:
        if self._taktuk_ended or self._control is None:
            return
        if stage == 1:
            for process in self.action.processes:
                if not process.ended:
                    process.forced_kill = True
            self._control.command("broadcast kill %d" % signal.SIGKILL)
            self._control.later(TAKTUK_QUIT_GRACE, self._tell, "escalate", 2)
        else:
            log.warning("%s: taktuk did not quit after kill: killing it", self.action.name)
            self._taktuk.kill(signal.SIGKILL)

    def all_ended(self) -> bool:
        return self._taktuk_ended and all(process.ended for process in self.action.processes)

    def _cleanup(self) -> None:
        if self._control is not None:
            self._control.close()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            _live_dirs.discard(self._dir)
            self._dir = None

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        self._cleanup()
        if self._taktuk is not None and not self._taktuk.ended:
            self._taktuk.kill(signal.SIGKILL)
        super().on_failure(exception_type, exception_value, traceback)


class _ReadyCounter(ProcessLifecycleHandler):
    """Tells a ChainCopyActor when a forwarder has started (or ended without starting)."""

    def __init__(self, actor_ref: Any) -> None:
        self.actor_ref = actor_ref

    def start(self, process: Any) -> None:
        self._tell(process)

    def end(self, process: Any) -> None:
        self._tell(process)

    def _tell(self, process: Any) -> None:
        try:
            self.actor_ref.tell(("forwarder_ready", process))
        except pykka.ActorDeadError:
            pass


class ChainCopyActor(ParallelActor):
    """One file of a ChainPut: starts the remote forwarders, then the local sender once every
    forwarder has started (and so listens), or ended without starting (its host is down)."""

    def __init__(self, action: Any) -> None:
        super().__init__(action)
        self._ready: set = set()
        self._sender_started = False

    def on_receive(self, message: Any) -> Any:
        if message[0] == "forwarder_ready":
            self._ready.add(id(message[1]))
            self._maybe_start_sender()
            return None
        return super().on_receive(message)

    def on_start_action(self) -> None:
        forwarders, sender = self.action.actions
        counter = _ReadyCounter(self.actor_ref)
        for process in forwarders.processes:
            process.lifecycle_handlers.append(counter)
        for action in self.action.actions:
            self._watch(action)
        forwarders.start()
        self._maybe_start_sender()

    def _maybe_start_sender(self) -> None:
        forwarders, sender = self.action.actions
        if self._sender_started or sender.started:
            return
        if all(id(p) in self._ready or p.ended for p in forwarders.processes) or forwarders.ended:
            self._sender_started = True
            sender.start()

    def on_child_ended(self, child: Any) -> None:
        self._maybe_start_sender()

    def on_kill(self) -> None:
        self._sender_started = True  # a killed chain sends nothing more
        super().on_kill()

    def all_ended(self) -> bool:
        forwarders, sender = self.action.actions
        if sender.started:
            return forwarders.ended and sender.ended
        return forwarders.ended and self._sender_started  # killed before the sender started
