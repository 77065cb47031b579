"""SshProcess: a command run on a remote host.

Two backends run it. The pooled backend (paramiko connections in worker processes, reused
by every later process on the same host) is used when the connection parameters name the
plain ``ssh`` program; the command-line backend runs the real ``ssh`` with execo 2.8's
command line, and is used when they name another program (Grid5000's ``oarsh``) or when
``connection_params['ssh_backend'] == 'command'``.
"""

from __future__ import annotations

from typing import Any, List, Mapping, Optional

from execo_actors.runtime import get_runtime

from .config import make_connection_params
from .host import Host
from .process import Process
from .ssh_master import control_options
from .ssh_utils import get_rewritten_host_address, get_ssh_command


def uses_command_backend(params: Mapping[str, Any], program: str = "ssh") -> bool:
    """Whether the real program (``ssh`` or ``scp``) must run: another one is named, or asked for."""
    backend = params.get("ssh_backend") or "auto"
    if backend not in ("auto", "pool", "command"):
        raise ValueError("connection_params['ssh_backend'] must be 'auto', 'pool' or 'command', got %r" % (backend,))
    if backend == "auto":
        return params.get(program) != program
    return backend == "command"


class SshProcess(Process):
    """``cmd`` run on ``host`` over ssh; ``cmd`` is the remote command line."""

    def __init__(self, cmd: Any, host: Any, connection_params: Optional[Mapping[str, Any]] = None,
                 **kwargs: Any) -> None:
        if host is None:
            raise TypeError("SshProcess: argument host is required")
        host = Host(host)
        params = make_connection_params(connection_params)
        kwargs["pty"] = bool(params.get("pty"))
        kwargs.pop("shell", None)
        remote = (cmd,) if isinstance(cmd, str) else tuple(cmd) if isinstance(cmd, (list, tuple)) else cmd
        if not isinstance(remote, tuple) or not all(isinstance(arg, str) for arg in remote):
            raise TypeError("SshProcess: argument cmd must be a string or a list of strings, got %r" % (cmd,))
        command_backend = uses_command_backend(params)
        real_cmd = (get_ssh_command(host.user, host.keyfile, host.port, params)
                    + (control_options(params) if command_backend else ())  # OpenSSH ControlMaster reuse
                    + (get_rewritten_host_address(host.address, params),) + remote)
        self.remote_cmd = cmd
        super().__init__(real_cmd, shell=False, **kwargs)
        self.host = host
        self.connection_params = connection_params
        self._params = params
        if not command_backend:
            self._driver = "ssh"
            get_runtime().prepare_remote()  # a connection worker starts while the script goes on

    def _name_source(self) -> Any:
        return self.remote_cmd

    def _repr_args(self) -> List[str]:
        args = super()._repr_args()
        args[0] = repr(self.remote_cmd)
        args.insert(1, repr(self.host))
        if self.connection_params:
            args.insert(2, "connection_params=%r" % (dict(self.connection_params),))
        return [arg for arg in args if arg != "pty=True"]

    def _state_args(self) -> List[str]:
        return super()._state_args() + ["real cmd=%r" % (self.cmd,)]
