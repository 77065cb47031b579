"""G5kAutoPortForwarder: reach a node's port from outside Grid5000 as from inside."""

from __future__ import annotations

import socket
from typing import Any, Optional, Tuple

from execo import PortForwarder
from execo.config import make_connection_params

from .config import default_frontend_connection_params
from .frontend import get_frontend_host


def _inside_grid5000() -> bool:
    return "grid5000.fr" in socket.getfqdn()


class G5kAutoPortForwarder:
    """``with G5kAutoPortForwarder(site, host, port) as (h, p):`` connect to ``h:p``.

    Inside Grid5000 (the local fqdn contains grid5000.fr) it yields ``(host, port)`` as
    they are; outside, it forwards a local port through the site's frontend and yields
    ``("127.0.0.1", local port)``, and stops the forwarding when the block ends.
    """

    def __init__(self, site: str, host: str, port: int, connection_params: Optional[dict] = None) -> None:
        self.site = site
        self.host = host
        self.port = port
        self.connection_params = connection_params
        self._forwarder: Optional[PortForwarder] = None

    def __enter__(self) -> Tuple[str, int]:
        frontend = get_frontend_host(self.site)
        if frontend is None or _inside_grid5000():
            return self.host, self.port
        params = make_connection_params(self.connection_params, default_frontend_connection_params)
        self._forwarder = PortForwarder(frontend, self.host, self.port, connection_params=params)
        self._forwarder.__enter__()
        return self._forwarder.bind_address, self._forwarder.local_port

    def __exit__(self, *exc: Any) -> None:
        if self._forwarder is not None:
            self._forwarder.__exit__(*exc)
            self._forwarder = None
