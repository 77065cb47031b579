"""Global settings of execo and the user's ``~/.execo.conf.py``.

Every other module reads ``configuration`` and ``default_connection_params``
at the moment it needs a value (never copies them at import), so that a
script may change a setting at any time, as with execo 2.8.

The user file is plain Python, exec'd in a fresh namespace: any dict it
defines under one of the known names is merged into the dict of the same
name here. ``execo_g5k.config`` reuses :func:`load_configuration` for its
own dicts. A broken file never breaks ``import execo``: the error is printed
on stderr with the file name and the line, and the import goes on.
"""

from __future__ import annotations

import builtins
import logging
import os
import sys
import traceback
from typing import Any, Dict, Iterable, Mapping, Optional, Tuple

SSH = 0
SCP = 1
TAKTUK = 2
CHAINPUT = 3

IODEBUG = 3
FDEBUG = 5
TRACE = 12
DETAIL = 15


def checktty(f: Any) -> bool:
    """Whether ``f`` is a terminal (or a Jupyter output stream, which renders ANSI colours).

    Closed, missing or odd stream objects count as "not a tty" rather than
    raising: this runs at import time.
    """
    if f is None:
        return False
    get_ipython = getattr(builtins, "get_ipython", None)
    if get_ipython is not None:
        try:
            if (get_ipython().__class__.__name__ == "ZMQInteractiveShell"
                    and f.__class__.__name__ == "OutStream"):
                return True
        except Exception:  # a half-initialised IPython must not break the import
            pass
    try:
        if hasattr(f, "isatty"):
            return bool(f.isatty())
        if hasattr(f, "fileno"):
            return os.isatty(f.fileno())
    except (ValueError, OSError):  # closed or detached stream
        return False
    return False


configuration: Dict[Any, Any] = {
    "log_level": logging.INFO,
    "remote_tool": SSH,
    "fileput_tool": SCP,
    "fileget_tool": SCP,
    "compact_output_threshold": 4096,
    "kill_timeout": 60,
    "intr_period": 1,
    "port_range": (25500, 26700),
    "kill_childs_at_end": True,
    "ssh_workers": None,
    "color_mode": checktty(sys.stdout) and checktty(sys.stderr),
    "color_styles": {
        "log_header": ("yellow",),
        "object_repr": ("blue",),
        "emph": ("cyan",),
        "report_warn": ("magenta",),
        "report_error": ("red", "bold"),
        "command": ("blue", "bold"),
        "host": ("magenta", "bold"),
        "user1": ("green", "bold"),
        "user2": ("yellow", "bold"),
        "user3": ("cyan", "bold"),
        IODEBUG: ("green", "reverse"),
        FDEBUG: ("green", "reverse"),
        logging.DEBUG: ("green",),
        TRACE: ("green", "bold"),
        DETAIL: ("magenta", "bold"),
        logging.INFO: ("magenta",),
        logging.WARNING: ("cyan",),
        logging.ERROR: ("red",),
        logging.CRITICAL: ("yellow", "on_red"),
    },
}
"""Global execo settings.

- ``log_level``: level of the ``execo`` logger, set at import.
- ``remote_tool``: what ``get_remote()`` builds: ``SSH`` or ``TAKTUK``.
- ``fileput_tool`` / ``fileget_tool``: ``SCP``, ``TAKTUK`` (or ``CHAINPUT`` for puts).
- ``compact_output_threshold``: in process dumps, an output longer than this
  shows only its first and last halves; 0 means no limit.
- ``kill_timeout``: seconds between SIGTERM and the automatic SIGKILL.
- ``intr_period``: period of the wake-ups of blocking waits, so that Ctrl-C gets through.
- ``port_range``: (first, last + 1) ports handed out by ``execo.utils.get_port``.
- ``kill_childs_at_end``: terminate every child process when the program ends
  (read once, when the runtime starts).
- ``ssh_workers`` (new): at most how many connection worker processes serve the pooled
  SSH backend (None: one per core; read once, at the first remote process). They start
  as hosts come, one per 128 hosts.
- ``color_mode``: emit ANSI colours (default: stdout and stderr are both terminals).
- ``color_styles``: style name or log level -> tuple of ANSI attribute names
  (see ``execo.log``).
"""

_SSH_COMMON_OPTIONS = (
    "-o", "BatchMode=yes",
    "-o", "PasswordAuthentication=no",
    "-o", "StrictHostKeyChecking=no",
    "-o", "UserKnownHostsFile=/dev/null",
    "-o", "ConnectTimeout=20",
)


def make_default_connection_params() -> Dict[str, Any]:
    """A fresh dict of the built-in connection defaults (ignoring the user's file).

    - ``user``, ``keyfile``, ``port``: connection credentials (None: ssh's own defaults).
    - ``ssh``, ``scp``, ``taktuk``: the commands; ``*_options``: their options.
    - ``taktuk_connector`` / ``taktuk_connector_options``: the ssh-like command taktuk uses.
    - ``nc`` and ``chainput_*``: ChainPut's netcat command, timeouts and retries
      (``chainput_chain_retry`` may be a float: a fraction of the host count).
    - ``forwarding_timeout``: how long PortForwarder waits for the tunnel.
    - ``pty``: whether SshProcess asks for a pseudo-terminal.
    - ``host_rewrite_func``: address -> address, applied to the ssh/scp/taktuk target.
    - ``ssh_backend`` (new): ``"auto"`` runs SshProcess, Put and Get over pooled paramiko
      connections when ``ssh``/``scp`` are the plain OpenSSH programs, and the real
      programs otherwise (e.g. oarsh); ``"pool"`` or ``"command"`` force one backend.
    - ``ssh_config_file`` (new): the OpenSSH client config the pooled backend reads
      (None: ``~/.ssh/config``).
    - ``ssh_control_master`` (new): with the command-line backend, share one OpenSSH
      master connection per host (None: on for the plain ``ssh``, off for other programs).
    - ``ssh_control_persist`` (new): seconds an idle master connection stays (None: 60).
    """
    return {
        "user": None,
        "keyfile": None,
        "port": None,
        "ssh": "ssh",
        "scp": "scp",
        "taktuk": "taktuk",
        "ssh_options": ("-tt",) + _SSH_COMMON_OPTIONS,
        "scp_options": _SSH_COMMON_OPTIONS + ("-rp",),
        "taktuk_options": ("-s",),
        "taktuk_connector": "ssh",
        "taktuk_connector_options": _SSH_COMMON_OPTIONS,
        "chainput_nc_client_timeout": 5,
        "chainput_nc_server_timeout": 30,
        "nc": "/bin/nc.traditional -v -v",
        "chainput_host_retry": 5,
        "chainput_chain_retry": 10,
        "chainput_try_delay": 1,
        "forwarding_timeout": 25,
        "pty": False,
        "host_rewrite_func": None,
        "ssh_backend": "auto",
        "ssh_config_file": None,
        "ssh_control_master": None,
        "ssh_control_persist": None,
    }


default_connection_params: Dict[str, Any] = make_default_connection_params()
"""The connection parameters used when an action is given none (see
:func:`make_default_connection_params` for the keys)."""


def make_connection_params(connection_params: Optional[Mapping[str, Any]] = None,
                           default_params: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """Merge connection parameters, lowest priority first: the built-in defaults,
    then ``default_params`` (the global ``default_connection_params`` when None),
    then ``connection_params``. Returns a new dict; the inputs are not modified."""
    params = make_default_connection_params()
    params.update(default_connection_params if default_params is None else default_params)
    if connection_params:
        params.update(connection_params)
    return params


def get_user_config_filename() -> Optional[str]:
    """``$HOME/.execo.conf.py``, or None when HOME is not set.

    HOME only (not the password database), as execo 2.8 does: a test or a
    batch job can point HOME elsewhere to use another file.
    """
    home = os.environ.get("HOME")
    if not home:
        return None
    return os.path.join(home, ".execo.conf.py")


def _error_line(exc: BaseException, filename: str) -> Optional[int]:
    """The line of ``filename`` where ``exc`` happened (the innermost frame in that file)."""
    if isinstance(exc, SyntaxError) and exc.filename == filename:
        return exc.lineno
    line = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == filename:
            line = lineno
    return line


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return "%s: %s" % (type(exc).__name__, exc.msg)
    return "%s: %s" % (type(exc).__name__, exc)


def _report_error(filename: str, message: str, line: Optional[int] = None) -> None:
    where = filename if line is None else "%s, line %d" % (filename, line)
    print("ERROR while reading config file %s: %s" % (where, message), file=sys.stderr)


def load_configuration(filename: Optional[str],
                       variables: Iterable[Tuple[Dict[Any, Any], str]]) -> None:
    """Exec ``filename`` in a fresh namespace and merge the dicts it defines.

    :param filename: the Python file to read; nothing happens if it is None
      or does not exist.
    :param variables: pairs ``(target_dict, name)``: when the file defines a
      dict called ``name``, ``target_dict.update()`` is called with it.

    Errors (unreadable file, syntax error, exception while running it, a name
    bound to something that is not a dict) are printed on stderr, naming the
    file and the line, and are not raised: a typo in a settings file must not
    make every script fail at ``import execo``. Dicts defined before the
    failing line are still merged.
    """
    if not filename or not os.path.isfile(filename):
        return
    namespace: Dict[str, Any] = {"__name__": "__execo_config__", "__file__": filename}
    try:
        with open(filename, "rb") as f:
            source = f.read()
        exec(compile(source, filename, "exec"), namespace)
    except (Exception, SystemExit) as exc:
        _report_error(filename, _describe(exc), _error_line(exc, filename))
    for target, name in variables:
        if name not in namespace:
            continue
        value = namespace[name]
        if not isinstance(value, Mapping):
            _report_error(filename, "%r must be a dict, not %s" % (name, type(value).__name__))
            continue
        target.update(value)


load_configuration(get_user_config_filename(),
                   ((configuration, "configuration"),
                    (default_connection_params, "default_connection_params")))
