"""The ssh, scp and taktuk command lines, exactly as execo 2.8 builds them.

They are argument tuples, never shell strings: a host name, user or path reaches ssh as one
argument, whatever characters it holds. The command-line backend runs them; the pooled
SSH backend reads the same connection parameters.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Tuple

from .config import make_connection_params
from .host import Host


def get_rewritten_host_address(host_addr: str, connection_params: Optional[Mapping[str, Any]]) -> str:
    """The address to connect to, after the connection params' host_rewrite_func."""
    params = make_connection_params(connection_params)
    rewrite = params.get("host_rewrite_func")
    return rewrite(host_addr) if rewrite else host_addr


def get_ssh_scp_auth_options(user: Any = None, keyfile: Any = None, port: Any = None,
                             connection_params: Optional[Mapping[str, Any]] = None) -> Tuple[str, ...]:
    """``-o User=..``, ``-i key``, ``-o Port=..``: each from the host, else the params."""
    params = make_connection_params(connection_params)
    options: Tuple[str, ...] = ()
    user = user if user is not None else params.get("user")
    keyfile = keyfile if keyfile is not None else params.get("keyfile")
    port = port if port is not None else params.get("port")
    if user is not None:
        options += ("-o", "User=%s" % (user,))
    if keyfile is not None:
        options += ("-i", str(keyfile))
    if port is not None:
        options += ("-o", "Port=%s" % (port,))
    return options


def get_ssh_command(user: Any = None, keyfile: Any = None, port: Any = None,
                    connection_params: Optional[Mapping[str, Any]] = None) -> Tuple[str, ...]:
    """``(ssh, *ssh_options, *auth options)``: append the address and the command."""
    params = make_connection_params(connection_params)
    return ((params["ssh"],) + tuple(params["ssh_options"])
            + get_ssh_scp_auth_options(user, keyfile, port, params))


def get_scp_command(user: Any = None, keyfile: Any = None, port: Any = None,
                    connection_params: Optional[Mapping[str, Any]] = None) -> Tuple[str, ...]:
    """``(scp, *scp_options, *auth options)``: append the sources and the destination."""
    params = make_connection_params(connection_params)
    return ((params["scp"],) + tuple(params["scp_options"])
            + get_ssh_scp_auth_options(user, keyfile, port, params))


def get_taktuk_connector_command(keyfile: Any = None, port: Any = None,
                                 connection_params: Optional[Mapping[str, Any]] = None) -> Tuple[str, ...]:
    """The connector taktuk uses to reach each host (``-c``)."""
    params = make_connection_params(connection_params)
    return ((params["taktuk_connector"],) + tuple(params["taktuk_connector_options"])
            + get_ssh_scp_auth_options(None, keyfile, port, params))


def host_auth(host: Any) -> Tuple[Any, Any, Any]:
    """(user, keyfile, port) of a Host or address string."""
    host = Host(host)
    return host.user, host.keyfile, host.port
