"""ChainPut: one large file to many hosts, each host forwarding to the next.

The controller sends each file once, to the first host; every host writes it and, at the
same time, sends it on to the next one with netcat. The controller's link carries the file
once whatever the number of hosts. Nothing is encrypted nor authenticated: trusted
networks only (as in execo 2.8).

Steps (a SequentialActions): a TaktukPut of the host list and of the hop script
(``execo_actors.chainput_forwarder``, POSIX sh) to each host's /tmp; then per file a
chain: the forwarders (a TaktukRemote) and, once every forwarder has started, the local
sender; last, a TaktukRemote removing the two files. Needs taktuk locally, and sh and
netcat (``connection_params['nc']``, netcat-traditional) everywhere.

Differences from execo 2.8 (broken on Python 3):

- each forwarder listens on its own host's address (``nc -l -s <host>``), not on every
  address, so that several hosts can share one machine;
- the sender starts once every forwarder has started (2.8 started both at once and relied on
  retries), and fails (exit status 1) when no host of the chain answered;
- a forwarder fails when it cannot receive or write the file (2.8 reported success);
- ``{{{host}}}`` and ``{{expr}}`` are substituted in ``remote_location``, as Put does;
- the local files must exist (FileNotFoundError naming the file at construction);
- the helper files live in a private directory (``mkdir`` mode 0700, removed at the end)
  and are removed from the hosts by a last step (2.8: the last hop deleted them itself).
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import tempfile
from typing import Any, List, Mapping, Optional

from execo_actors.chainput_forwarder import write_script
from execo_actors.taktuk_actor import ChainCopyActor

from .action import Action, ActionLifecycleHandler, Local, ParallelActions, SequentialActions
from .config import make_connection_params
from .host import get_unique_hosts_list
from .ssh_utils import get_rewritten_host_address
from .substitutions import check_substitutions, get_caller_context, remote_substitute
from .taktuk import TaktukPut, TaktukRemote
from .utils import get_port, singleton_to_collection

__all__ = ["ChainPut"]


class _ChainCopy(ParallelActions):
    """One file along the chain: [forwarders, sender]; the sender starts once the forwarders listen."""

    _actor_class = ChainCopyActor


class _Forwarders(TaktukRemote):
    """A TaktukRemote with one ready-made command per host (no substitution)."""

    def __init__(self, commands: List[str], hosts: List[Any], connection_params: Optional[Mapping[str, Any]],
                 **action_kwargs: Any) -> None:
        self._commands = commands
        super().__init__("chainput forwarder", hosts, connection_params, **action_kwargs)

    def _remote_command(self, index: int, context: Any) -> str:
        return self._commands[index]


class _LocalFiles(ActionLifecycleHandler):
    """Writes the host list and the hop script when the ChainPut starts, removes them at its end."""

    def __init__(self, chainput: "ChainPut") -> None:
        self.chainput = chainput

    def start(self, action: Any) -> None:
        chainput = self.chainput
        os.mkdir(chainput._local_dir, 0o700)
        with open(chainput._local_hosts, "w") as f:
            f.write("".join(address + "\n" for address in chainput._addresses))
        write_script(chainput._local_script)

    def end(self, action: Any) -> None:
        shutil.rmtree(self.chainput._local_dir, ignore_errors=True)


class ChainPut(SequentialActions):
    """Broadcast local files to every host along a chain of netcat hops."""

    def __init__(self, hosts: Any, local_files: Any, remote_location: str = ".",
                 connection_params: Optional[Mapping[str, Any]] = None, **action_kwargs: Any) -> None:
        if isinstance(hosts, str) or not hasattr(hosts, "__iter__"):
            hosts = [hosts]
        self.hosts = get_unique_hosts_list(hosts)
        files = list(singleton_to_collection(local_files))
        for path in files:
            if not isinstance(path, str):
                raise TypeError("ChainPut: the local files must be path strings, got %r" % (path,))
            if not os.path.isfile(path):
                raise FileNotFoundError("ChainPut: local file %r does not exist (or is not a regular file)" % (path,))
        if not isinstance(remote_location, str):
            raise TypeError("ChainPut: remote_location must be a path string, got %r" % (remote_location,))
        self.local_files = files
        self.remote_location = remote_location
        self.connection_params = connection_params
        params = make_connection_params(connection_params)
        context = get_caller_context(["get_fileput"])
        check_substitutions(remote_location, context)

        token = "execo-chainput-%s" % (secrets.token_hex(6),)
        self._local_dir = os.path.join(tempfile.gettempdir(), token)
        self._local_hosts = os.path.join(self._local_dir, token + "-hosts")
        self._local_script = os.path.join(self._local_dir, token + "-hop.sh")
        remote_hosts = "/tmp/%s-hosts" % (token,)
        remote_script = "/tmp/%s-hop.sh" % (token,)
        self._addresses = [get_rewritten_host_address(h.address, connection_params) for h in self.hosts]

        chain_tries = params["chainput_chain_retry"]
        if isinstance(chain_tries, float):
            chain_tries = max(1, int(chain_tries * len(self.hosts)))
        destinations = [remote_substitute(remote_location, self.hosts, i, context) for i in range(len(self.hosts))]

        def hop(script: str, path: str, destination: str, port: int, index: int, hosts_file: str) -> List[str]:
            return ["sh", script, path, destination, params["nc"], str(params["chainput_nc_client_timeout"]),
                    str(params["chainput_nc_server_timeout"]), str(port), str(params["chainput_host_retry"]),
                    str(chain_tries), str(params["chainput_try_delay"]), str(index), hosts_file]

        actions: List[Action] = []
        if self.hosts and files:
            actions.append(TaktukPut(self.hosts, [self._local_hosts, self._local_script], "/tmp", connection_params))
            for path in files:
                port = get_port()
                commands = [" ".join(shlex.quote(arg) for arg in hop(remote_script, path, destinations[i], port,
                                                                      i + 1, remote_hosts))
                            for i in range(len(self.hosts))]
                forwarders = _Forwarders(commands, self.hosts, connection_params)
                sender = Local(hop(self._local_script, path, ".", port, 0, self._local_hosts))
                actions.append(_ChainCopy([forwarders, sender]))
            actions.append(TaktukRemote("rm -f %s %s" % (shlex.quote(remote_hosts), shlex.quote(remote_script)),
                                        self.hosts, connection_params))
        handlers = list(action_kwargs.pop("lifecycle_handlers", None) or [])
        if actions:
            handlers.insert(0, _LocalFiles(self))
        action_kwargs.setdefault("hide_subactions", True)
        super().__init__(actions, lifecycle_handlers=handlers, **action_kwargs)

    def _default_name(self) -> str:
        return "ChainPut to %d hosts" % (len(self.hosts),)
