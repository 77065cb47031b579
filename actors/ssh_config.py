"""Resolve a host and execo connection params into a self-contained connection spec.

The spec is computed once, in the controller, and travels to a connection worker inside msgpack frames:
the worker then never reads configuration files nor calls user code (host_rewrite_func runs here).
Sources, highest priority first, as with execo 2.8's ssh command lines:

1. the Host's own user / keyfile / port;
2. the connection params' user / keyfile / port;
3. the params' ``ssh_options`` (``-o Key=Value``, ``-l``, ``-p``, ``-i``, ``-J``, ``-F``; the first value given wins,
   as in OpenSSH);
4. the ssh_config file: ``params["ssh_config_file"]`` (an addition to execo's params), else ``-F``, else
   ``~/.ssh/config``. Keys honoured: Host patterns, HostName, User, Port, IdentityFile, IdentitiesOnly, ProxyJump,
   ProxyCommand, ConnectTimeout, ServerAliveInterval, StrictHostKeyChecking, UserKnownHostsFile,
   GlobalKnownHostsFile.

ProxyJump hosts are resolved from the ssh_config file only (OpenSSH does not pass -i, -l or -o options on to
the jump connection either): that is what makes "nodes as root, the gateway as me" work.
"""

from __future__ import annotations

import getpass
import os
import re
import shlex
from typing import Any, Dict, List, Mapping, Optional, Tuple

import msgpack
import paramiko

DEFAULT_CONFIG = "~/.ssh/config"
DEFAULT_KNOWN_HOSTS = ["~/.ssh/known_hosts", "~/.ssh/known_hosts2"]
DEFAULT_GLOBAL_KNOWN_HOSTS = ["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"]
MAX_JUMPS = 8

# names that may reach a ProxyCommand (run by /bin/sh, as OpenSSH does) after %h/%r/%n expansion: refuse anything
# a shell could interpret rather than try to quote inside a user-written command line
_SAFE_HOST = re.compile(r"^[A-Za-z0-9_.:%\[\]-]+$")
_SAFE_USER = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.@$-]*$")

# ssh(1) flags that take an argument: their argument must not be mistaken for a flag
_FLAGS_WITH_ARG = set("BbcDEeFIiJLlmOopQRSWw")


class SpecError(ValueError):
    """A host or connection parameter that cannot be used; the message names the culprit."""


def _host_fields(host: Any) -> Tuple[str, Optional[str], Optional[str], Optional[int]]:
    if isinstance(host, str):
        return host, None, None, None
    try:
        address = host.address
    except AttributeError:
        raise SpecError("not a host: %r (expected a str or an object with .address)" % (host,)) from None
    # execo's Host uses False for "not set" in its constructor; treat every false value as unset
    return address, getattr(host, "user", None) or None, getattr(host, "keyfile", None) or None, \
        getattr(host, "port", None) or None


def _parse_ssh_options(options: Any) -> Dict[str, Any]:
    """The settings an ssh command line would carry, lowercased like ssh_config keys; first value wins."""
    found: Dict[str, Any] = {"identityfile": []}
    if not options:
        return found
    if isinstance(options, str):
        raise SpecError("ssh_options must be a sequence of arguments, not the string %r" % (options,))
    tokens = [str(token) for token in options]

    def setting(key: str, value: str) -> None:
        key = key.lower()
        if key == "identityfile":
            found["identityfile"].append(value)
        elif key not in found:
            found[key] = value

    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if not token.startswith("-") or len(token) < 2:
            raise SpecError("ssh_options: unexpected argument %r in %r" % (token, tuple(tokens)))
        flag, rest = token[1], token[2:]
        if flag not in _FLAGS_WITH_ARG:
            if set(token[1:]) <= set("t"):
                found["requesttty"] = "force" if len(token) > 2 else "yes"
            continue
        if not rest:
            if i >= len(tokens):
                raise SpecError("ssh_options: %s needs an argument" % token)
            rest = tokens[i]
            i += 1
        if flag == "o":
            match = re.match(r"^\s*([A-Za-z]+)\s*(?:=|\s)\s*(.*?)\s*$", rest)
            if not match:
                raise SpecError("ssh_options: bad option -o %r (expected Key=Value)" % rest)
            setting(match.group(1), match.group(2))
        elif flag == "i":
            setting("identityfile", rest)
        elif flag == "l":
            setting("user", rest)
        elif flag == "p":
            setting("port", rest)
        elif flag == "J":
            setting("proxyjump", rest)
        elif flag == "F":
            setting("configfile", rest)
    return found


class _Config(paramiko.SSHConfig):
    """paramiko's parser, but ProxyCommand stays raw: its %h/%p/%r must be the final (and quoted) values,
    and paramiko would expand them from the config file alone, before our params override port or user."""

    def _tokenize(self, config, target_hostname, key, value):  # type: ignore[override]
        # paramiko computes every token's value (user, host name, home, a sha1) for each setting looked up,
        # about 40 us each; most values hold no token at all
        if isinstance(value, str) and "%" not in value and "~" not in value:
            return value
        return super()._tokenize(config, target_hostname, key, value)

    def _expand_variables(self, config, target_hostname):  # type: ignore[override]
        raw = config.get("proxycommand")
        config = super()._expand_variables(config, target_hostname)
        if raw is not None:
            config["proxycommand"] = raw
        return config


def _expand_proxy_command(command: str, spec: Dict[str, Any]) -> str:
    values = {"h": spec["address"], "p": str(spec["port"]), "r": spec["user"], "n": spec["alias"], "%": "%"}

    def replace(match: "re.Match[str]") -> str:
        token = match.group(1)
        if token not in values:
            raise SpecError("host %s: ProxyCommand %r: unsupported token %%%s" % (spec["alias"], command, token))
        return values[token] if token in "%p" else shlex.quote(values[token])

    return re.sub(r"%(.)", replace, command)


_config_cache: Dict[str, Tuple[float, paramiko.SSHConfig]] = {}


def _load_config(path: Optional[str]) -> Optional[paramiko.SSHConfig]:
    """Parsed ssh_config, cached per path and reloaded when the file changes."""
    if not path:
        return None
    path = os.path.expanduser(path)
    try:
        mtime = os.stat(path).st_mtime
    except FileNotFoundError:
        return None
    cached = _config_cache.get(path)
    if cached and cached[0] == mtime:
        return cached[1]
    try:
        config = _Config.from_path(path)
    except Exception as error:
        raise SpecError("cannot parse ssh config %s: %s" % (path, error)) from None
    _config_cache[path] = (mtime, config)
    return config


def _as_list(value: Any) -> List[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return value.split()
    return [str(v) for v in value]


def _int(value: Any, what: str, culprit: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SpecError("%s: %s must be an integer, got %r" % (culprit, what, value)) from None


def _seconds(value: Any, what: str, culprit: str) -> Optional[float]:
    if value is None or value == "none":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise SpecError("%s: %s must be a number of seconds, got %r" % (culprit, what, value)) from None


def _parse_jump(jump: str) -> Tuple[str, Optional[str], Optional[int]]:
    """'[user@]host[:port]' (or an ssh:// URI) -> its parts."""
    if jump.startswith("ssh://"):
        jump = jump[len("ssh://"):].rstrip("/")
    user = None
    if "@" in jump:
        user, jump = jump.rsplit("@", 1)
    port = None
    if jump.startswith("["):  # [v6addr]:port
        address, _, rest = jump[1:].partition("]")
        if rest.startswith(":"):
            port = _int(rest[1:], "ProxyJump port", jump)
    elif jump.count(":") == 1:
        address, port_text = jump.split(":")
        port = _int(port_text, "ProxyJump port", jump)
    else:
        address = jump
    return address, user, port


def _resolve(alias: str, user: Optional[str], keyfile: Optional[str], port: Optional[int],
             options: Dict[str, Any], config_path: Optional[str], depth: int) -> Dict[str, Any]:
    if not alias or not _SAFE_HOST.match(alias):
        raise SpecError("invalid host address %r" % (alias,))
    config = _load_config(config_path)
    looked_up: Dict[str, Any] = dict(config.lookup(alias)) if config else {}

    def get(key: str, default: Any = None) -> Any:
        if key in options:
            return options[key]
        return looked_up.get(key, default)

    hostname = get("hostname", alias)
    if not _SAFE_HOST.match(hostname):
        raise SpecError("host %s: invalid HostName %r" % (alias, hostname))
    user = user or get("user") or getpass.getuser()
    if not _SAFE_USER.match(user):
        raise SpecError("host %s: invalid user name %r" % (alias, user))
    port = _int(port or get("port", 22), "port", "host " + alias)
    keys = ([keyfile] if keyfile else []) + list(options.get("identityfile", [])) \
        + _as_list(looked_up.get("identityfile"))
    keys = [os.path.expanduser(k) for k in keys]
    strict = str(get("stricthostkeychecking", "ask")).lower()
    known_hosts = _as_list(get("userknownhostsfile")) or list(DEFAULT_KNOWN_HOSTS)
    global_known_hosts = _as_list(get("globalknownhostsfile")) or list(DEFAULT_GLOBAL_KNOWN_HOSTS)
    spec: Dict[str, Any] = {
        "alias": alias,
        "address": hostname,
        "user": user,
        "port": port,
        "keys": list(dict.fromkeys(keys)),
        "identities_only": str(get("identitiesonly", "no")).lower() == "yes",
        "connect_timeout": _seconds(get("connecttimeout"), "ConnectTimeout", "host " + alias),
        "keepalive": _int(get("serveraliveinterval", 0), "ServerAliveInterval", "host " + alias),
        "keepalive_count_max": _int(get("serveralivecountmax", 3), "ServerAliveCountMax", "host " + alias),
        "strict_host_key_checking": {"false": "no", "off": "no", "true": "yes", "on": "yes"}.get(strict, strict),
        "known_hosts": [os.path.expanduser(p) for p in known_hosts + global_known_hosts if p != "/dev/null"],
        "request_tty": str(get("requesttty", "no")).lower() in ("yes", "force"),
        "proxy_jump": None,
        "proxy_command": None,
    }
    proxy_command = get("proxycommand")
    proxy_jump = get("proxyjump")
    if proxy_command and proxy_command != "none":
        spec["proxy_command"] = _expand_proxy_command(proxy_command, spec)
    elif proxy_jump and proxy_jump != "none":
        if depth >= MAX_JUMPS:
            raise SpecError("host %s: ProxyJump chain longer than %d (a loop in %s?)" % (alias, MAX_JUMPS, config_path))
        # "a,b" means: reach b through a, then the target through b
        previous = None
        for hop in proxy_jump.split(","):
            hop_alias, hop_user, hop_port = _parse_jump(hop.strip())
            hop_spec = _resolve(hop_alias, hop_user, None, hop_port, {"identityfile": []}, config_path, depth + 1)
            if previous is not None and hop_spec["proxy_jump"] is None and hop_spec["proxy_command"] is None:
                hop_spec["proxy_jump"] = previous
            previous = hop_spec
        spec["proxy_jump"] = previous
    return spec


def host_route(host: Any, connection_params: Optional[Mapping[str, Any]] = None) -> "Route":
    """The :class:`Route` to ``host`` (see host_spec): resolved once per host, params and ssh_config version."""
    params = connection_params or {}
    address, user, keyfile, port = _host_fields(host)
    rewrite = params.get("host_rewrite_func")
    if rewrite is not None:
        address = rewrite(address)
    if not isinstance(address, str):
        raise SpecError("host address must be a str, got %r for %r" % (address, host))
    raw_options = params.get("ssh_options")
    if params.get("keyfile") and not keyfile:
        keyfile = params["keyfile"]
    user = user or params.get("user") or None
    port = port or params.get("port") or None
    # Resolving runs paramiko's ssh_config lookup (about 0.8 ms): a script starts thousands of processes on
    # the same hosts, so the result is kept until the config file changes.
    try:
        key: Any = (address, user, keyfile, port, params.get("ssh_config_file"),
                    tuple(str(o) for o in raw_options) if raw_options and not isinstance(raw_options, str)
                    else raw_options)
        hash(key)
    except TypeError:
        key = None
    if key is not None:
        cached = _spec_cache.get(key)
        if cached is not None and cached[0] == _config_stamp(cached[1]):
            return cached[2]
    options = _parse_ssh_options(raw_options)
    config_path = params.get("ssh_config_file") or options.get("configfile") or DEFAULT_CONFIG
    route = Route(_resolve(address, user, keyfile, port, options, config_path, 0))
    if key is not None:
        if len(_spec_cache) > 100000:
            _spec_cache.clear()
        _spec_cache[key] = (_config_stamp(config_path), config_path, route)
    return route


def host_spec(host: Any, connection_params: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """Everything a worker needs to reach ``host`` (a str or a Host-like object), as a msgpack-able dict.

    ``connection_params`` is an execo connection params dict (user, keyfile, port, ssh_options,
    host_rewrite_func, plus our ``ssh_config_file``). Raises SpecError naming the bad host or parameter.
    """
    return msgpack.unpackb(host_route(host, connection_params).packed)  # a fresh copy: the caller may change it


class Route:
    """A resolved host spec as the worker pool uses it: packed once, hashed once, shared by every process.

    ``spec`` must not be changed (it is shared through the cache); ``packed`` is what is sent to a worker the
    first time it meets this host; ``key`` is its connection key (equal keys share a connection, so a worker).
    """

    __slots__ = ("spec", "packed", "key", "name")

    def __init__(self, spec: Dict[str, Any]):
        self.spec = spec
        self.packed = msgpack.packb(spec, use_bin_type=True)
        self.key = connection_key(spec)
        self.name = spec.get("alias") or spec.get("address")


_spec_cache: Dict[Any, Tuple[Any, str, Route]] = {}


def _config_stamp(path: Optional[str]) -> Any:
    """What changes when the ssh_config file does (its mtime and size; None when absent)."""
    try:
        info = os.stat(os.path.expanduser(path)) if path else None
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size) if info else None


def connection_key(spec: Mapping[str, Any]) -> tuple:
    """What identifies one shareable connection: hosts with equal keys share a transport (and a worker)."""
    proxy: Any = None
    if spec.get("proxy_jump"):
        proxy = ("jump",) + connection_key(spec["proxy_jump"])
    elif spec.get("proxy_command"):
        proxy = ("command", spec["proxy_command"])
    # a connection checked under a weaker host key policy must not serve a host that asks for a stronger one
    checking = (spec.get("strict_host_key_checking"), tuple(spec.get("known_hosts") or ())) \
        if spec.get("strict_host_key_checking") != "no" else None
    return (spec["address"], spec["user"], spec["port"], tuple(spec.get("keys") or ()), proxy, checking)


