"""Remote actions: a command on many hosts (Remote), files to and from them (Put, Get).

Substitutions (``{{{host}}}``, ``{{expr}}``) are applied per host when the action is
built, in the caller's frame, as execo 2.8 does.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

from execo_actors.runtime import get_runtime

from .action import Action
from .host import Host, get_hosts_list
from .process import ProcessBase
from .ssh_process import SshProcess
from .substitutions import check_substitutions, get_caller_context, remote_substitute
from .transfer import TransferProcess
from .utils import name_from_cmdline, singleton_to_collection

__all__ = ["Remote", "Put", "Get"]


def _hosts(hosts: Any, owner: str) -> List[Host]:
    if isinstance(hosts, (str, Host)):
        hosts = [hosts]
    try:
        return get_hosts_list(hosts)
    except TypeError as error:
        raise TypeError("%s: argument hosts must be a host or an iterable of hosts: %s" % (owner, error)) from None


def _substituted_handlers(process_args: Dict[str, Any], hosts: List[Host], index: int, context: Any) -> Dict[str, Any]:
    """Filename output handlers get the same substitutions as the command."""
    args = dict(process_args)
    for key in ("stdout_handlers", "stderr_handlers"):
        if args.get(key):
            args[key] = [remote_substitute(h, hosts, index, context) if isinstance(h, str) else h
                         for h in args[key]]
    return args


class Remote(Action):
    """``cmd`` on every host, one SshProcess each, all at once."""

    def __init__(self, cmd: Any, hosts: Any, connection_params: Optional[Mapping[str, Any]] = None,
                 process_args: Optional[Dict[str, Any]] = None, **action_kwargs: Any) -> None:
        super().__init__(**action_kwargs)
        self.cmd = cmd
        self.hosts = _hosts(hosts, "Remote")
        self.connection_params = connection_params
        self.process_args = dict(process_args or {})
        context = get_caller_context()
        if isinstance(cmd, str):
            check_substitutions(cmd, context)
        self._processes = [self._process(index, context) for index in range(len(self.hosts))]
        if self._processes and self._processes[0]._driver == "ssh":  # the pooled backend, not ssh processes
            get_runtime().prepare_remote(len(self.hosts))  # every worker these hosts need starts now

    def _process(self, index: int, context: Any) -> ProcessBase:
        cmd = remote_substitute(self.cmd, self.hosts, index, context) if isinstance(self.cmd, str) else self.cmd
        args = _substituted_handlers(self.process_args, self.hosts, index, context)
        return SshProcess(cmd, self.hosts[index], connection_params=self.connection_params, **args)

    def _default_name(self) -> str:
        return name_from_cmdline(self.cmd)

    def write(self, s: Any) -> "Remote":
        """Write to the stdin of every process."""
        for process in self.processes:
            process.write(s)
        return self


class _Transfer(Action):
    """Shared by Put and Get: one transfer process per host."""

    direction = ""

    def __init__(self, hosts: Any, files: Any, location: str = ".",
                 connection_params: Optional[Mapping[str, Any]] = None,
                 process_args: Optional[Dict[str, Any]] = None, **action_kwargs: Any) -> None:
        super().__init__(**action_kwargs)
        owner = type(self).__name__
        self.hosts = _hosts(hosts, owner)
        files = singleton_to_collection(files)
        if not all(isinstance(f, str) for f in files):
            raise TypeError("%s: the files must be path strings, got %r" % (owner, files))
        if not isinstance(location, str):
            raise TypeError("%s: the location must be a path string, got %r" % (owner, location))
        self.connection_params = connection_params
        self.process_args = dict(process_args or {})
        context = get_caller_context()
        for path in list(files) + [location]:
            check_substitutions(path, context)
        self._files = list(files)
        self._location = location
        self._processes = []
        for index, host in enumerate(self.hosts):
            real_files = [remote_substitute(f, self.hosts, index, context) for f in files]
            real_location = remote_substitute(location, self.hosts, index, context)
            self._processes.append(TransferProcess(self.direction, host, real_files, real_location,
                                                   connection_params, **self.process_args))

    def _default_name(self) -> str:
        return "%s %s %d hosts" % (type(self).__name__, "to" if self.direction == "put" else "from", len(self.hosts))


class Put(_Transfer):
    """Copy local files (or directories, recursively) to every host."""

    direction = "put"

    def __init__(self, hosts: Any, local_files: Any, remote_location: str = ".",
                 connection_params: Optional[Mapping[str, Any]] = None, **kwargs: Any) -> None:
        super().__init__(hosts, local_files, remote_location, connection_params, **kwargs)
        self.local_files = self._files
        self.remote_location = self._location


class Get(_Transfer):
    """Copy remote files (or directories, recursively) from every host."""

    direction = "get"

    def __init__(self, hosts: Any, remote_files: Any, local_location: str = ".",
                 connection_params: Optional[Mapping[str, Any]] = None, **kwargs: Any) -> None:
        super().__init__(hosts, remote_files, local_location, connection_params, **kwargs)
        self.remote_files = self._files
        self.local_location = self._location
