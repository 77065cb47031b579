"""Host: an address plus optional ssh credentials, usable as a dict key."""

from __future__ import annotations

import os
import re
from typing import Any, Iterable, List, Set, Union

from .log import style
from .utils import comma_join

_UNSAFE_ADDRESS_RE = re.compile(r"[\s\x00-\x1f\x7f]")


def _check_address(address: Any) -> str:
    if not isinstance(address, str):
        raise TypeError("Host address must be a str or a Host, not %s (%r)"
                        % (type(address).__name__, address))
    if not address:
        raise ValueError("Host address must not be empty")
    # An address starting with "-" would be read by ssh as an option
    # (e.g. "-oProxyCommand=..."), whitespace or control characters are never
    # part of a host name: refuse them here rather than in a command line.
    if address.startswith("-") or _UNSAFE_ADDRESS_RE.search(address):
        raise ValueError("Host address %r is not a valid host name or address" % (address,))
    return address


def _check_user(user: Any) -> Any:
    if user is not None and not isinstance(user, str):
        raise TypeError("Host user must be a str or None, not %s (%r)" % (type(user).__name__, user))
    return user


def _check_keyfile(keyfile: Any) -> Any:
    if keyfile is None:
        return None
    if isinstance(keyfile, os.PathLike):
        keyfile = os.fspath(keyfile)
    if not isinstance(keyfile, str):
        raise TypeError("Host keyfile must be a str, a path or None, not %s (%r)"
                        % (type(keyfile).__name__, keyfile))
    return keyfile


def _check_port(port: Any) -> Any:
    if port is None:
        return None
    if isinstance(port, bool) or not isinstance(port, (int, str)):
        raise TypeError("Host port must be an int or None, not %s (%r)" % (type(port).__name__, port))
    if isinstance(port, str):
        if not port.strip().isdigit():
            raise ValueError("Host port %r is not a port number" % (port,))
        port = int(port)
    if not 0 < port < 65536:
        raise ValueError("Host port %r is out of range 1-65535" % (port,))
    return port


class Host:
    """A host to connect to: ``address`` and optional ``user``, ``keyfile``, ``port``.

    ``Host(other_host)`` copies another Host. For user, keyfile and port,
    False (the default) means "not given": keep the copied value, or None;
    None means "explicitly none". Two Hosts with the same four fields are
    equal and hash equally, so they are the same key in a set or a dict.

    A port given as a digit string is stored as an int. Arguments of the
    wrong type raise TypeError, and values that cannot be right (empty
    address, address starting with "-", port out of range) ValueError, each
    naming the argument (2.8 accepted anything and failed later, in ssh).
    """

    def __init__(self, address: Union[str, "Host"], user: Any = False,
                 keyfile: Any = False, port: Any = False) -> None:
        if isinstance(address, Host):
            self.address = address.address
            self.user = address.user
            self.keyfile = address.keyfile
            self.port = address.port
        else:
            self.address = _check_address(address)
            self.user = None
            self.keyfile = None
            self.port = None
        if user is not False:
            self.user = _check_user(user)
        if keyfile is not False:
            self.keyfile = _check_keyfile(keyfile)
        if port is not False:
            self.port = _check_port(port)

    def _key(self):
        return (self.address, self.user, self.keyfile, self.port)

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, Host):
            return NotImplemented
        return self._key() == other._key()

    def __ne__(self, other: Any) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        return hash(self._key())

    def _args(self) -> str:
        args = style.host(repr(self.address))
        if self.user:
            args = comma_join(args, "user=%r" % (self.user,))
        if self.keyfile:
            args = comma_join(args, "keyfile=%r" % (self.keyfile,))
        if self.port:
            args = comma_join(args, "port=%r" % (self.port,))
        return args

    def __repr__(self) -> str:
        return "Host(%s)" % (self._args(),)


def get_hosts_list(hosts: Iterable[Union[str, Host]]) -> List[Host]:
    """Copies of the given Hosts (or addresses) as a list of Host, in order."""
    return [Host(host) for host in hosts]


def get_unique_hosts_list(hosts: Iterable[Union[str, Host]]) -> List[Host]:
    """Like :func:`get_hosts_list` without duplicates, first occurrence kept."""
    return list(dict.fromkeys(get_hosts_list(hosts)))


def get_hosts_set(hosts: Iterable[Union[str, Host]]) -> Set[Host]:
    """Copies of the given Hosts (or addresses) as a set of Host."""
    return set(get_hosts_list(hosts))
