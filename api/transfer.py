"""TransferProcess: one host's share of a Put or a Get.

With the pooled backend it is an SFTP transfer on the host's pooled connection; with the
command-line backend, execo 2.8's ``scp`` command line, run as a local process.
"""

from __future__ import annotations

import os
from typing import Any, List, Mapping, Optional

from .config import make_connection_params
from .host import Host
from .process import Process
from .ssh_master import control_options
from .ssh_process import uses_command_backend
from .ssh_utils import get_rewritten_host_address, get_scp_command


class TransferProcess(Process):
    """Copies ``files`` to (``put``) or from (``get``) ``host``, into ``destination``."""

    def __init__(self, direction: str, host: Any, files: List[str], destination: str,
                 connection_params: Optional[Mapping[str, Any]] = None, **kwargs: Any) -> None:
        if direction not in ("put", "get"):
            raise ValueError("TransferProcess: direction must be 'put' or 'get', got %r" % (direction,))
        host = Host(host)
        params = make_connection_params(connection_params)
        address = get_rewritten_host_address(host.address, params)
        command_backend = uses_command_backend(params, "scp")
        scp = get_scp_command(host.user, host.keyfile, host.port, params)
        if command_backend and os.path.basename(str(params.get("scp"))) == "scp":
            scp += control_options(params)  # scp hands -o to ssh: Put and Get reuse the masters too
        if direction == "put":
            cmd = scp + tuple(files) + ("%s:%s" % (address, destination),)
        else:
            cmd = scp + tuple("%s:%s" % (address, path) for path in files) + (destination,)
        kwargs.pop("shell", None)
        kwargs.pop("pty", None)
        super().__init__(cmd, shell=False, **kwargs)
        self.host = host
        self.connection_params = connection_params
        self.direction = direction
        self.files = list(files)
        self.destination = destination
        self._params = params
        if not command_backend:
            self._driver = "ssh"

    def _name_source(self) -> Any:
        return "%s %s %s %s" % (self.direction, " ".join(self.files), "to" if self.direction == "put" else "from",
                                self.host.address)
