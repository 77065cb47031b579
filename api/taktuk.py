"""TaktukRemote, TaktukPut, TaktukGet: commands and copies on many hosts through one ``taktuk``.

taktuk (Debian package ``taktuk``) deploys itself over ssh as a tree (each reached host
may connect further hosts) and multiplexes every remote command's output on the local
taktuk's stdout. These actions run one local taktuk and give one :class:`TaktukProcess`
per host, which behaves like any process (stdout, stderr, exit_code, error, error_reason,
expect, handlers) though it has no OS process of its own: its state comes from taktuk's
coded output (see ``execo_actors.taktuk_parser``).

Differences from execo 2.8 (which raised ``TypeError`` at construction on Python 3):

- taktuk runs from an argument list, never through a shell (2.8: ``shell=True`` and
  ``&& rm -f <file>``); the options file lives in a private directory, is written when the
  action starts (2.8: at construction, leaked when never started) and is removed when
  taktuk ends, whatever its exit status.
- Commands are escaped for taktuk (``-E !``) at both levels taktuk parses them (the options
  file, then the remote taktuk), so ``[``, ``]``, ``!``, runs of spaces and tabs reach the
  shell unchanged (2.8 prefixed brackets with ``\\``, which a quoted string kept). A command
  holding newlines is sent as ``eval "$(printf '<escaped script>')"``, since taktuk turns
  newlines into spaces.
- ``exit_code`` is the decoded exit status, as for every process (taktuk reports the raw
  wait status; 2.8 kept it raw).
- ``error_reason`` names the host and what happened, with ssh's last message
  (``taktuk: connection to 10.0.0.3 failed: ssh: connect to host ... refused``).
- ``kill()`` escalates: ``broadcast kill`` (SIGTERM), after ``kill_timeout`` ``broadcast
  kill 9`` (``forced_kill``), then the local taktuk is killed.
- A ``timeout`` in process_args works: taktuk enforces it (``exec timeout``), then the process
  is ``timeouted`` (2.8 ignored it). ``TaktukProcess.kill()`` raises NotImplementedError, as
  in 2.8: kill the TaktukRemote.
- The state template also carries taktuk's ``$rank``.
"""

from __future__ import annotations

import re
import shlex
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from execo_actors.taktuk_actor import TaktukActor
from execo_actors.taktuk_parser import EXEC, GET, PUT

from .action import Action
from .config import configuration, make_connection_params
from .host import Host
from .process import Process, ProcessBase
from .remote import _hosts, _substituted_handlers
from .ssh_utils import get_rewritten_host_address, get_taktuk_connector_command
from .substitutions import check_substitutions, get_caller_context, remote_substitute
from .utils import name_from_cmdline, singleton_to_collection

__all__ = ["TaktukProcess", "TaktukRemote", "TaktukPut", "TaktukGet"]

# The output templates: one tagged line per event, parsed by execo_actors.taktuk_parser.
OUTPUT_TEMPLATES: Tuple[str, ...] = (
    "-o", 'output="A $position # $line\\n"',
    "-o", 'error="B $position # $line\\n"',
    "-o", 'status="C $position # $line\\n"',
    "-o", 'connector="D $position # $peer_position # $line\\n"',
    "-o", 'state="E $position # $peer_position # $line # $rank # ".event_msg($line)."\\n"',
    "-o", 'info="F $position # $line\\n"',
    "-o", 'taktuk="G $position # $line\\n"',
    "-o", 'message="H $position # $line\\n"',
    "-o", 'default="I $position # $type > $line\\n"',
)

_TAKTUK_SPECIAL = re.compile(r"([!\[\]\s])")


def taktuk_escape(text: str) -> str:
    """Protect ``text`` for one level of taktuk parsing (escape character ``!``)."""
    return _TAKTUK_SPECIAL.sub(r"!\1", text)


def taktuk_remote_command(cmd: str) -> str:
    """A shell command as a word of ``-[ exec [ ... ] -]``: parsed by the root taktuk, then again
    by the remote one. Newlines cannot cross taktuk's parser: such a script is rebuilt by printf."""
    if "\n" in cmd:
        script = cmd.replace("\\", "\\\\").replace("%", "%%").replace("\n", "\\n")
        cmd = 'eval "$(printf %s)"' % (shlex.quote(script),)
    return taktuk_escape(taktuk_escape(cmd))


class TaktukProcess(ProcessBase):
    """One host's share of a TaktukRemote: no OS process of its own, taktuk drives it.

    ``start()`` only marks it pending (the TaktukRemote starts taktuk); it becomes started
    when taktuk reports the remote command started, and ended at its exit status or when the
    connection failed or was lost (``error``, with ``error_reason`` naming the host).
    """

    _driver = "taktuk"

    def __init__(self, cmd: Any, host: Any, **kwargs: Any) -> None:
        super().__init__(cmd, **kwargs)
        self.remote_cmd = cmd
        self.host = Host(host)
        self._taktuk_control: Any = None

    def _name_source(self) -> Any:
        return self.remote_cmd

    def start(self) -> "TaktukProcess":
        """Mark the process pending; its TaktukRemote's taktuk really starts it."""
        if self.started or self._start_pending:
            return self
        if self._taktuk_control is None:
            raise ValueError("%s: a TaktukProcess is started by its TaktukRemote, not alone" % (self.name,))
        self._start_pending = True
        return self

    def kill(self, sig: int = 15, auto_force_kill_timeout: Any = True) -> "TaktukProcess":
        """Not available: kill the TaktukRemote (taktuk delivers a command aimed at one host
        only once that host's earlier commands completed, so it could not kill it)."""
        if not self.started and not self._start_pending or self.ended:
            return self
        raise NotImplementedError("%s: a TaktukProcess cannot be killed alone: kill its TaktukRemote" % (self.name,))

    def __exit__(self, *exc: Any) -> None:
        """Its TaktukRemote's context manager does the killing."""

    def write(self, s: Any) -> "TaktukProcess":
        raise NotImplementedError("%s: writing to a remote command's stdin through taktuk is not supported"
                                  % (self.name,))

    def close_stdin(self) -> "TaktukProcess":
        raise NotImplementedError("%s: taktuk closes the remote commands' stdin itself" % (self.name,))

    def reset(self) -> "TaktukProcess":
        super().reset()
        self._taktuk_control = None
        return self

    def _repr_args(self) -> List[str]:
        args = super()._repr_args()
        args[0] = repr(self.remote_cmd)
        args.insert(1, repr(self.host))
        return args


def _common_key_and_port(hosts: Sequence[Host], params: Mapping[str, Any], owner: str) -> Tuple[Any, Any]:
    """taktuk reaches every host with one connector command: one keyfile and one port for all."""
    keyfiles: Dict[Any, List[str]] = {}
    ports: Dict[Any, List[str]] = {}
    for host in hosts:
        keyfiles.setdefault(host.keyfile if host.keyfile is not None else params.get("keyfile"), []).append(host.address)
        ports.setdefault(host.port if host.port is not None else params.get("port"), []).append(host.address)
    for what, found in (("keyfile", keyfiles), ("port", ports)):
        if len(found) > 1:
            detail = "; ".join("%s=%r: %s" % (what, value, ", ".join(addresses)) for value, addresses in found.items())
            raise ValueError("%s: taktuk uses one %s for every host, these hosts differ: %s" % (owner, what, detail))
    return next(iter(keyfiles), None), next(iter(ports), None)


class TaktukRemote(Action):
    """``cmd`` on every host through one local taktuk; one TaktukProcess per host.

    ``{{{host}}}`` and ``{{expr}}`` are substituted per host at construction, as by Remote.
    All hosts must share one keyfile and one port (ValueError naming the hosts otherwise);
    users may differ (hosts with an explicit user come last on taktuk's command line).
    """

    _actor_class = TaktukActor
    _taktuk_mode = EXEC

    def __init__(self, cmd: Any, hosts: Any, connection_params: Optional[Mapping[str, Any]] = None,
                 process_args: Optional[Dict[str, Any]] = None, **action_kwargs: Any) -> None:
        super().__init__(**action_kwargs)
        if not isinstance(cmd, str):
            raise TypeError("TaktukRemote: argument cmd must be a string, got %r" % (cmd,))
        self.cmd = cmd
        self._setup(hosts, connection_params, "TaktukRemote")
        self.process_args = dict(process_args or {})
        context = get_caller_context(["get_remote"])
        check_substitutions(cmd, context)
        self._processes = [
            TaktukProcess(self._remote_command(index, context), host,
                          **_substituted_handlers(self.process_args, self.hosts, index, context))
            for index, host in enumerate(self.hosts)]

    def _setup(self, hosts: Any, connection_params: Optional[Mapping[str, Any]], owner: str) -> None:
        self.hosts = _hosts(hosts, owner)
        self.connection_params = connection_params
        self._params = make_connection_params(connection_params)
        self._keyfile, self._port = _common_key_and_port(self.hosts, self._params, owner)
        self._taktuk: Any = None  # the local taktuk Process while running

    def _remote_command(self, index: int, context: Any) -> str:
        return remote_substitute(self.cmd, self.hosts, index, context)

    def _default_name(self) -> str:
        return name_from_cmdline(self.cmd)

    # -- what the actor asks for ----------------------------------------------------------

    def _taktuk_order(self) -> List[int]:
        """Process indexes in taktuk position order: hosts with an explicit user come last,
        since taktuk's ``-l`` applies to every following host."""
        plain = [i for i, host in enumerate(self.hosts) if host.user is None]
        with_user = [i for i, host in enumerate(self.hosts) if host.user is not None]
        return plain + with_user

    def _taktuk_argv(self) -> List[str]:
        params = self._params
        connector = get_taktuk_connector_command(self._keyfile, self._port, self.connection_params)
        return ([params["taktuk"], "-E", "!"] + list(OUTPUT_TEMPLATES) + list(params["taktuk_options"])
                + ["-c", " ".join(shlex.quote(str(arg)) for arg in connector)])

    def _host_words(self, index: int) -> List[str]:
        host = self.hosts[index]
        words = []
        if host.user is not None:
            words += ["-l", taktuk_escape(host.user)]
        words += ["-m", taktuk_escape(get_rewritten_host_address(host.address, self.connection_params))]
        return words

    def _taktuk_options_text(self) -> str:
        words: List[str] = []
        kill_timeout = float(configuration["kill_timeout"])
        for index in self._taktuk_order():
            process = self.processes[index]
            words += self._host_words(index)
            words += ["-[", "exec"]
            if process.timeout is not None:  # taktuk enforces it: TERM, then KILL after kill_timeout
                words += ["timeout", "%g" % (process.timeout,), "timeout", "%g" % (process.timeout + kill_timeout,),
                          "kill", "9"]
            words += ["[", taktuk_remote_command(process.cmd), "]", "-]"]
        return " ".join(words) + "\n"

    def _taktuk_file_count(self) -> int:
        return 0

    def _new_taktuk_process(self, argv: List[str]) -> Process:
        return Process(argv, shell=False, default_stdout_handler=False, nolog_error=True,
                       nolog_exit_code=True, nolog_timeout=True, nolog_write_error=True,
                       ignore_write_error=True, name="taktuk for %s" % (self.name,))

    def _reset_children(self) -> None:
        super()._reset_children()
        self._taktuk = None


class _TaktukTransfer(TaktukRemote):
    """Shared by TaktukPut and TaktukGet: one ``broadcast put|get [ src ] [ dest ] ;`` per file."""

    def __init__(self, hosts: Any, files: Any, location: str = ".",
                 connection_params: Optional[Mapping[str, Any]] = None, **action_kwargs: Any) -> None:
        owner = type(self).__name__
        Action.__init__(self, **action_kwargs)
        self._setup(hosts, connection_params, owner)
        files = list(singleton_to_collection(files))
        if not all(isinstance(f, str) for f in files):
            raise TypeError("%s: the files must be path strings, got %r" % (owner, files))
        if not isinstance(location, str):
            raise TypeError("%s: the location must be a path string, got %r" % (owner, location))
        self._files = files
        self._location = location
        self.process_args: Dict[str, Any] = {}
        self._processes = [TaktukProcess("", host) for host in self.hosts] if files else []

    def _default_name(self) -> str:
        return "%s %s %d hosts" % (type(self).__name__, "to" if self._taktuk_mode == PUT else "from", len(self.hosts))

    def _taktuk_options_text(self) -> str:
        words: List[str] = []
        for index in self._taktuk_order():
            words += self._host_words(index)
        for path in self._files:
            words += ["broadcast", self._taktuk_mode, "[", taktuk_escape(path), "]",
                      "[", taktuk_escape(self._location), "]", ";"]
        return " ".join(words) + "\n"

    def _taktuk_file_count(self) -> int:
        return len(self._files)


class TaktukPut(_TaktukTransfer):
    """Copy local files or directories to every host with taktuk (``broadcast put``).

    Paths get taktuk's own substitutions (``$rank``, ``$position``, environment variables),
    not execo's, as in 2.8.
    """

    _taktuk_mode = PUT

    def __init__(self, hosts: Any, local_files: Any, remote_location: str = ".",
                 connection_params: Optional[Mapping[str, Any]] = None, **action_kwargs: Any) -> None:
        super().__init__(hosts, local_files, remote_location, connection_params, **action_kwargs)
        self.local_files = self._files
        self.remote_location = self._location


class TaktukGet(_TaktukTransfer):
    """Copy remote files or directories from every host with taktuk (``broadcast get``).

    Use taktuk's ``$position`` (or ``$host``, ``$rank``) in ``local_location`` to keep the
    copies of different hosts apart.
    """

    _taktuk_mode = GET

    def __init__(self, hosts: Any, remote_files: Any, local_location: str = ".",
                 connection_params: Optional[Mapping[str, Any]] = None, **action_kwargs: Any) -> None:
        super().__init__(hosts, remote_files, local_location, connection_params, **action_kwargs)
        self.remote_files = self._files
        self.local_location = self._location
