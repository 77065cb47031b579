"""Process handles: the blocking facade over processes run by the runtime.

A handle holds what users read (started, ended, stdout, exit_code, ...) and offers the
blocking methods (wait, run, expect). The runtime is the only writer of that state;
``start``, ``kill`` and ``write`` are messages to it and return at once.
"""

from __future__ import annotations

import logging
import shlex
import signal
import threading
from typing import Any, Dict, Iterable, List, Optional, Tuple

from execo_actors import lifecycle, process_supervisor
from execo_actors.handlers import (STDERR, STDOUT, ExpectOutputHandler, ProcessLifecycleHandler,
                                   ProcessOutputHandler, handle_process_output)
from execo_actors.runtime import get_runtime

from .log import logger, style
from .supervisor import check_retry_args
from .time_utils import format_date, get_seconds
from .utils import compact_output, intr_event_wait, name_from_cmdline

__all__ = ["ProcessBase", "Process", "get_process", "ProcessLifecycleHandler", "ProcessOutputHandler",
           "ExpectOutputHandler", "handle_process_output", "STDOUT", "STDERR"]

_FLAGS = ("ignore_exit_code", "nolog_exit_code", "ignore_timeout", "nolog_timeout", "ignore_error",
          "nolog_error", "ignore_expect_fail", "nolog_expect_fail", "ignore_write_error", "nolog_write_error")


def _seconds(value: Any, argument: str, owner: str) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError("%s: argument %s must be a number of seconds or None, got %r" % (owner, argument, value))
    try:
        return get_seconds(value)
    except (TypeError, ValueError):
        raise TypeError("%s: argument %s must be a number of seconds or None, got %r" % (owner, argument, value)) from None


def _handler_list(value: Any, argument: str, owner: str) -> List[Any]:
    if value is None:
        return []
    if isinstance(value, (str, bytes, int)) or not hasattr(value, "__iter__"):
        raise TypeError("%s: argument %s must be a list of handlers, got %r" % (owner, argument, value))
    return list(value)


def _check_cmd(cmd: Any, owner: str) -> None:
    if isinstance(cmd, str):
        return
    if isinstance(cmd, (list, tuple)) and all(isinstance(arg, str) for arg in cmd):
        return
    raise TypeError("%s: argument cmd must be a string or a list of strings, got %r" % (owner, cmd))


class ProcessBase:
    """What every process handle shares: state, flags, handlers, logging, expect."""

    _driver = "local"  # which runtime driver runs it: "local" (a child process) or "ssh" (pooled)

    def __init__(self, cmd: Any, timeout: Any = None, ignore_exit_code: bool = False,
                 nolog_exit_code: bool = False, ignore_timeout: bool = False, nolog_timeout: bool = False,
                 ignore_error: bool = False, nolog_error: bool = False, ignore_expect_fail: bool = False,
                 nolog_expect_fail: bool = False, ignore_write_error: bool = False,
                 nolog_write_error: bool = False, default_expect_timeout: Any = None,
                 default_stdout_handler: bool = True, default_stderr_handler: bool = True,
                 lifecycle_handlers: Optional[Iterable[Any]] = None,
                 stdout_handlers: Optional[Iterable[Any]] = None,
                 stderr_handlers: Optional[Iterable[Any]] = None, name: Optional[str] = None,
                 retries: int = 0, retry_backoff: Any = 1.0, retry_timeout: bool = False) -> None:
        owner = type(self).__name__
        _check_cmd(cmd, owner)
        self.cmd = cmd
        self.timeout = _seconds(timeout, "timeout", owner)
        self.ignore_exit_code = ignore_exit_code
        self.nolog_exit_code = nolog_exit_code
        self.ignore_timeout = ignore_timeout
        self.nolog_timeout = nolog_timeout
        self.ignore_error = ignore_error
        self.nolog_error = nolog_error
        self.ignore_expect_fail = ignore_expect_fail
        self.nolog_expect_fail = nolog_expect_fail
        self.ignore_write_error = ignore_write_error
        self.nolog_write_error = nolog_write_error
        self.default_expect_timeout = _seconds(default_expect_timeout, "default_expect_timeout", owner)
        self.default_stdout_handler = default_stdout_handler
        self.default_stderr_handler = default_stderr_handler
        self.lifecycle_handlers = _handler_list(lifecycle_handlers, "lifecycle_handlers", owner)
        self.stdout_handlers = _handler_list(stdout_handlers, "stdout_handlers", owner)
        self.stderr_handlers = _handler_list(stderr_handlers, "stderr_handlers", owner)
        if name is not None and not isinstance(name, str):
            raise TypeError("%s: argument name must be a string, got %r" % (owner, name))
        self._name = name
        # beyond execo 2.8: restart a failed process (see docs/supervision.md)
        self.retries, self.retry_backoff, self.retry_timeout = check_retry_args(retries, retry_backoff,
                                                                                retry_timeout, owner)
        self.host: Any = None
        self._watchers: List[Any] = []
        self._init_state()

    def _init_state(self) -> None:
        self.started = False
        self.started_event = threading.Event()
        self.started_condition = threading.Condition()
        self.start_date: Optional[float] = None
        self.ended = False
        self.ended_event = threading.Event()
        self.ended_condition = threading.Condition()
        self.end_date: Optional[float] = None
        self.error = False
        self.error_reason: Any = None
        self.exit_code: Optional[int] = None
        self.timeout_date: Optional[float] = None
        self.timeouted = False
        self.killed = False
        self.forced_kill = False
        self.expect_fail = False
        self.write_error = False
        self.stdout_ioerror: Any = None
        self.stderr_ioerror: Any = None
        self._output: Dict[int, List[str]] = {STDOUT: [], STDERR: []}
        self._eof = {STDOUT: False, STDERR: False}
        self._start_pending = False
        self._stdin_backlog = bytearray()  # written before the start: sent once started
        self._stdin_close_pending = False
        self._dispatched = False
        self._expect_handlers = threading.local()
        self.failures: List[str] = []  # why the previous attempts failed (with retries)
        self._retry_cancelled = False

    # -- attributes -----------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name if self._name is not None else name_from_cmdline(self._name_source())

    @name.setter
    def name(self, value: str) -> None:
        self._name = value

    def _name_source(self) -> Any:
        return self.cmd

    def _text(self, stream: int) -> str:
        chunks = self._output[stream]
        count = len(chunks)
        if count <= 1:
            return chunks[0] if count else ""
        joined = "".join(chunks[:count])
        chunks[:count] = [joined]  # appends made meanwhile by the I/O thread stay after it
        return joined

    @property
    def stdout(self) -> str:
        return self._text(STDOUT)

    @stdout.setter
    def stdout(self, value: str) -> None:
        self._output[STDOUT] = [value] if value else []

    @property
    def stderr(self) -> str:
        return self._text(STDERR)

    @stderr.setter
    def stderr(self, value: str) -> None:
        self._output[STDERR] = [value] if value else []

    @property
    def attempts(self) -> int:
        """How many times it was started: 1 plus the failed attempts that were retried."""
        return 1 + len(self.failures) if self.started or self._start_pending else 0

    @property
    def running(self) -> bool:
        return self.started and not self.ended

    @property
    def ok(self) -> bool:
        if self.expect_fail and not self.ignore_expect_fail:
            return False
        if self.write_error and not self.ignore_write_error:
            return False
        if not self.started or not self.ended:
            return True
        return ((not self.error or self.ignore_error)
                and (not self.timeouted or self.ignore_timeout)
                and (self.exit_code == 0 or self.ignore_exit_code or self.killed))

    @property
    def finished_ok(self) -> bool:
        return self.started and self.ended and self.ok

    # -- control --------------------------------------------------------------------------

    def start(self) -> "ProcessBase":
        """Queue the start and return at once; does nothing if already started."""
        if self.started or self._start_pending:
            return self
        self._start_pending = True
        get_runtime().start(self)
        return self

    def wait(self, timeout: Any = None) -> "ProcessBase":
        """Block until the process ended (or the timeout); returns self."""
        if not self.started and not self._start_pending:
            raise ValueError("%s: wait() on a process that was never started" % (self.name,))
        intr_event_wait(self.ended_event, _seconds(timeout, "timeout", "wait"))
        return self

    def run(self, timeout: Any = None) -> "ProcessBase":
        """start() then wait(timeout): the timeout bounds the wait, not the process."""
        return self.start().wait(timeout)

    def kill(self, sig: int = signal.SIGTERM, auto_force_kill_timeout: Any = True) -> "ProcessBase":
        """Signal the process (SIGKILL follows after kill_timeout for SIGTERM/SIGINT)."""
        if (self.started or self._start_pending) and not self.ended:
            self.killed = True
            if self.retries:
                process_supervisor.kill_requested(self)  # never retried; ends now if waiting for a retry
            get_runtime().kill(self, sig, auto_force_kill_timeout)
        return self

    def write(self, s: Any) -> "ProcessBase":
        """Write to the process's stdin; ``print(..., file=process)`` works too."""
        data = s if isinstance(s, bytes) else str(s).encode(lifecycle.ENCODING, "surrogateescape")
        get_runtime().write(self, data)
        return self

    def flush(self) -> None:
        """File protocol: writes are already handed to the runtime."""

    def close_stdin(self) -> "ProcessBase":
        """Close the process's stdin once pending writes are done (end of input)."""
        get_runtime().close_stdin(self)
        return self

    def reset(self) -> "ProcessBase":
        """Kill and wait if running, notify handlers, then clear every state: start again."""
        if self.running or self._start_pending:
            self.kill()
            self.wait()
        for handler in list(self.lifecycle_handlers):
            handler.reset(self)
        self._init_state()
        return self

    def __enter__(self) -> "ProcessBase":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.kill()

    # -- expect ---------------------------------------------------------------------------

    def expect(self, regexes: Any, timeout: Any = False, stream: int = STDOUT, backtrack: bool = True,
               expect_output_handler: Optional[ExpectOutputHandler] = None) -> Tuple[Optional[int], Any]:
        """Wait for a regex on a stream; returns (regex index, match) or (None, None).

        Each later call continues after the previous match (per thread); with
        backtrack, the first call also searches what the stream already output.
        """
        if timeout is False:
            timeout = self.default_expect_timeout
        timeout = _seconds(timeout, "timeout", "expect")
        handler = expect_output_handler or self._thread_expect_handler(stream, backtrack)
        result = handler.expect(regexes, timeout=timeout)
        return result.get((self, stream), (None, None))

    def _thread_expect_handler(self, stream: int, backtrack: bool) -> ExpectOutputHandler:
        handlers = getattr(self._expect_handlers, "by_stream", None)
        if handlers is None:
            handlers = self._expect_handlers.by_stream = {}
        handler = handlers.get(stream)
        if handler is None:
            handler = handlers[stream] = ExpectOutputHandler()
            self._monitor(handler, stream, backtrack)
        return handler

    def _monitor(self, handler: ExpectOutputHandler, stream: int, backtrack: bool) -> None:
        if self.started or self._start_pending:
            get_runtime().call(lifecycle.add_output_handler, self, stream, handler, backtrack)
        else:
            lifecycle.add_output_handler(self, stream, handler, backtrack)

    # -- reporting ------------------------------------------------------------------------

    def stats(self) -> Dict[str, Any]:
        """This process in the Report stats format."""
        return {
            "name": self.name,
            "start_date": self.start_date,
            "end_date": self.end_date,
            "num_processes": 1,
            "num_started": 1 if self.started else 0,
            "num_ended": 1 if self.ended else 0,
            "num_errors": 1 if self.error else 0,
            "num_timeouts": 1 if self.timeouted else 0,
            "num_forced_kills": 1 if self.forced_kill else 0,
            "num_non_zero_exit_codes": 1 if self.exit_code not in (None, 0) else 0,
            "num_expect_fail": 1 if self.expect_fail else 0,
            "num_write_error": 1 if self.write_error else 0,
            "num_ok": 1 if self.ok else 0,
            "num_finished_ok": 1 if self.finished_ok else 0,
            "sub_stats": [],
        }

    def _repr_args(self) -> List[str]:
        args = [repr(self.cmd)]
        if self.timeout is not None:
            args.append("timeout=%r" % (self.timeout,))
        for flag in _FLAGS:
            if getattr(self, flag):
                args.append("%s=True" % flag)
        if self.default_expect_timeout is not None:
            args.append("default_expect_timeout=%r" % (self.default_expect_timeout,))
        if not self.default_stdout_handler:
            args.append("default_stdout_handler=False")
        if not self.default_stderr_handler:
            args.append("default_stderr_handler=False")
        if self._name is not None:
            args.append("name=%r" % (self._name,))
        if self.retries:
            args.append("retries=%d" % (self.retries,))
        return args

    def _state_args(self) -> List[str]:
        args = ["name=%s" % (self.name,),
                "started=%s" % (self.started,),
                "start_date=%s" % (format_date(self.start_date) if self.start_date else None,),
                "ended=%s" % (self.ended,),
                "end_date=%s" % (format_date(self.end_date) if self.end_date else None,),
                "killed=%s" % (self.killed,),
                "error=%s" % (self.error,),
                "error_reason=%s" % (self.error_reason,),
                "timeouted=%s" % (self.timeouted,),
                "expect_fail=%s" % (self.expect_fail,),
                "write_error=%s" % (self.write_error,),
                "exit_code=%s" % (self.exit_code,),
                "ok=%s" % (self.ok,)]
        if self.forced_kill:
            args.append("forced_kill=True")
        if self.failures:
            args.append("attempts=%d, failures=%r" % (self.attempts, self.failures))
        return args

    def __repr__(self) -> str:
        return "%s(%s)" % (type(self).__name__, ", ".join(self._repr_args()))

    def __str__(self) -> str:
        return "<" + style.object_repr(type(self).__name__) + "(%s)>" % ", ".join(self._repr_args() + self._state_args())

    def dump(self) -> str:
        return "%s\n%s\n%s%s\n%s" % (str(self), style.emph("stdout:"), compact_output(self.stdout),
                                     style.emph("stderr:"), compact_output(self.stderr))

    def _log_end(self) -> None:
        """Warn about a failed process, unless every failure involved is nolog."""
        nologs = []
        if self.error:
            nologs.append(self.nolog_error)
        if self.timeouted:
            nologs.append(self.nolog_timeout)
        if self.exit_code not in (None, 0) and not self.killed:
            nologs.append(self.nolog_exit_code)
        if nologs and not all(nologs):
            logger.warning("terminated: %s", self.dump())
        elif logger.isEnabledFor(logging.DEBUG):
            logger.debug("terminated: %s", self.dump())


class Process(ProcessBase):
    """A local process.

    ``cmd`` is a string (split with shlex unless ``shell``) or a list of arguments (quoted
    and joined when ``shell``). Beyond the original: ``cwd`` and ``env``.
    """

    def __init__(self, cmd: Any, shell: bool = False, pty: bool = False, kill_subprocesses: Optional[bool] = None,
                 cwd: Optional[str] = None, env: Optional[Dict[str, str]] = None, **kwargs: Any) -> None:
        super().__init__(cmd, **kwargs)
        if cwd is not None and not isinstance(cwd, (str, bytes)) and not hasattr(cwd, "__fspath__"):
            raise TypeError("Process: argument cwd must be a path, got %r" % (cwd,))
        if env is not None and not isinstance(env, dict):
            raise TypeError("Process: argument env must be a dict, got %r" % (env,))
        self.shell = shell
        self.pty = pty
        self.kill_subprocesses = kill_subprocesses
        self.cwd = cwd
        self.env = env
        self.pid: Optional[int] = None
        self.process: Any = None
        self.stdin_fd: Optional[int] = None
        self.stdout_fd: Optional[int] = None
        self.stderr_fd: Optional[int] = None

    def _init_state(self) -> None:
        super()._init_state()
        self.pid = None
        self.process = None

    @property
    def popen_args(self) -> Any:
        """What subprocess.Popen gets, from cmd and shell."""
        if isinstance(self.cmd, str) and not self.shell:
            return shlex.split(self.cmd)
        if isinstance(self.cmd, (list, tuple)) and self.shell:
            return " ".join(shlex.quote(arg) for arg in self.cmd)
        return self.cmd

    def _repr_args(self) -> List[str]:
        args = super()._repr_args()
        if self.shell:
            args.insert(1, "shell=True")
        if self.pty:
            args.insert(1, "pty=True")
        if self.kill_subprocesses is not None:
            args.append("kill_subprocesses=%r" % (self.kill_subprocesses,))
        if self.cwd is not None:
            args.append("cwd=%r" % (self.cwd,))
        return args

    def _state_args(self) -> List[str]:
        return super()._state_args() + ["pid=%s" % (self.pid,)]


def get_process(*args: Any, **kwargs: Any) -> ProcessBase:
    """An SshProcess when a ``host`` is given, else a local Process."""
    host = kwargs.get("host")
    if host is not None:
        from .ssh_process import SshProcess

        return SshProcess(*args, **kwargs)
    kwargs.pop("host", None)
    kwargs.pop("connection_params", None)
    return Process(*args, **kwargs)
